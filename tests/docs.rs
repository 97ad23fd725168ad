//! The docs agree with the code: man pages are current, the README names
//! every command and flag, and every test file is compiled.

use clap::CommandFactory;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn man_pages_are_current() {
    let bless = std::env::var_os("SHARDS_TEST_BLESS").is_some();
    let dir = std::path::Path::new(ROOT).join("man");
    let mut stale = Vec::new();
    for (name, roff) in shards::man_pages() {
        let path = dir.join(&name);
        if std::fs::read(&path).ok().as_deref() != Some(&roff[..]) {
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &roff).unwrap();
            } else {
                stale.push(name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages {stale:?}: run `SHARDS_TEST_BLESS=1 cargo test man_pages`"
    );
}

#[test]
fn the_readme_names_every_command_and_flag() {
    let readme = std::fs::read_to_string(std::path::Path::new(ROOT).join("README.md")).unwrap();
    let cli = shards::Cli::command();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands() {
        if !readme.contains(&format!("shards {}", sub.get_name())) {
            missing.push(format!("shards {}", sub.get_name()));
        }
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long()
                && long != "help"
                && long != "version"
                && !readme.contains(&format!("--{long}"))
            {
                missing.push(format!("{} --{long}", sub.get_name()));
            }
        }
    }
    assert!(missing.is_empty(), "README.md does not mention {missing:?}");
}

#[test]
fn every_test_file_is_a_module_of_the_test_binary() {
    let main = std::fs::read_to_string(std::path::Path::new(ROOT).join("tests/cli.rs")).unwrap();
    for entry in std::fs::read_dir(std::path::Path::new(ROOT).join("tests"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rs")
            && stem != "cli"
        {
            assert!(
                main.contains(&format!("mod {stem};")),
                "tests/{name} is not listed in tests/cli.rs"
            );
        }
    }
}
