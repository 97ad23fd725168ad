//! Hostile input, continued (the table and its runner are in `hostile`):
//! config files and values, and env files that `port` rewrites.

use crate::common::TestEnv;
use crate::hostile::{Case, bad_config, bad_env_file};

/// The config and env-file cases of the table.
pub(crate) fn cases() -> Vec<Case> {
    vec![
        // Config files and values.
        bad_config("config wrong type", "config.toml:2", |e, _| {
            e.without_port_vars();
            e.write_config("[ports]\nbase = \"3000\"\n");
        }),
        bad_config("config unknown key", "unknown field `colour`", |e, _| {
            e.write_config("colour = 1\n")
        }),
        bad_config(
            "config block_size 0",
            "`ports.block_size`: must be at least 1",
            |e, _| e.write_config("[ports]\nblock_size = 0\n"),
        ),
        bad_config(
            "config pool smaller than a block",
            "fewer than one block",
            |e, _| {
                // The file is what is tested: no SHARDS_PORTS_* over it.
                e.without_port_vars();
                e.write_config("[ports]\nbase = 4000\nmax = 4009\nblock_size = 20\n");
            },
        ),
        bad_config("config port above 65535", "`max`", |e, _| {
            e.without_port_vars();
            e.write_config("[ports]\nmax = 70000\n");
        }),
        bad_config("config base above max", "is below ports.base", |e, _| {
            e.without_port_vars();
            e.write_config("[ports]\nbase = 9000\nmax = 8000\n");
        }),
        bad_config("config not TOML", "config.toml:1", |e, _| {
            e.write_config("[ports\n")
        }),
        bad_config("config not UTF-8", "not valid UTF-8", |e, _| {
            let dir = e.home.join(".config/shards");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("config.toml"), [0xff, 0xfe, 0x00]).unwrap();
        }),
        bad_config("config env.file escapes", "`env.file`", |e, _| {
            e.write_config("[env]\nfile = \"../../outside.env\"\n")
        }),
        bad_config("config env.file absolute", "`env.file`", |e, _| {
            e.write_config("[env]\nfile = \"/etc/passwd\"\n")
        }),
        bad_config("config service outside block", "outside a block", |e, _| {
            e.write_config("[ports.services]\nweb = 500\n")
        }),
        bad_config(
            "config service name",
            "a service name is a lowercase letter",
            |e, _| e.write_config("[ports.services]\n\"we b\" = 1\n"),
        ),
        bad_config("project config wrong type", ".shards.toml:1", |e, _| {
            std::fs::write(e.repo.join(".shards.toml"), "ports = 3\n").unwrap();
        }),
        bad_config("variable not a number", "SHARDS_PORTS_BASE", |e, _| {
            e.set("SHARDS_PORTS_BASE", "lots");
        }),
        bad_config("variable not a bool", "SHARDS_ENV_DIRENV", |e, _| {
            e.set("SHARDS_ENV_DIRENV", "maybe");
        }),
        bad_config("SHARDS_CONFIG missing", "does not exist", |e, _| {
            e.set("SHARDS_CONFIG", "/nonexistent/shards.toml");
        }),
        // Env files (rewritten by `port`).
        bad_env_file("env file symlink outside", "symbolic link", |e, wt| {
            std::fs::write(e.root.join("outside.env"), "SECRET=1\n").unwrap();
            std::fs::remove_file(wt.join(".env")).unwrap();
            std::os::unix::fs::symlink(e.root.join("outside.env"), wt.join(".env")).unwrap();
        }),
        bad_env_file("env file symlink inside", "symbolic link", |_, wt| {
            std::fs::rename(wt.join(".env"), wt.join("real.env")).unwrap();
            std::os::unix::fs::symlink("real.env", wt.join(".env")).unwrap();
        }),
        bad_env_file("env file is a directory", "not a regular file", |_, wt| {
            std::fs::remove_file(wt.join(".env")).unwrap();
            std::fs::create_dir(wt.join(".env")).unwrap();
        }),
        bad_env_file(
            "env file markers damaged",
            "no `# <<< shards <<<` line",
            |_, wt| {
                std::fs::write(wt.join(".env"), "A=1\n# >>> shards >>>\nPORT=1\n").unwrap();
            },
        ),
        bad_env_file(
            "env folder is a link out",
            "leads outside the worktree",
            |e, wt| {
                std::fs::create_dir_all(e.root.join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(e.root.join("elsewhere"), wt.join("conf")).unwrap();
                e.set("SHARDS_ENV_FILE", "conf/.env");
            },
        ),
    ]
}

#[test]
fn hostile_env_file_content_survives_byte_for_byte() {
    for (what, content) in [
        ("binary", vec![0u8, 159, 146, 150, 255, b'\n', 7]),
        ("crlf", b"A=1\r\nB=2\r\n".to_vec()),
        ("unterminated", b"A=1\nB=2".to_vec()),
        ("large", "K=v\n".repeat(500_000).into_bytes()),
    ] {
        let env = TestEnv::new();
        let r = env.create("x");
        let wt = crate::common::shard_path(&r);
        let file = wt.join(".env");
        let section = std::fs::read(&file).unwrap();
        let mut user = content.clone();
        user.extend_from_slice(b"\n");
        user.extend_from_slice(&section);
        user.extend_from_slice(&content);
        std::fs::write(&file, &user).unwrap();
        env.shards_in(&wt, &["port", "web"]).ok();
        let after = std::fs::read(&file).unwrap();
        assert!(
            after.starts_with(&[&content[..], b"\n"].concat()),
            "{what}: the lines before the section changed"
        );
        assert!(
            after.ends_with(&content),
            "{what}: the lines after the section changed"
        );
        assert!(
            String::from_utf8_lossy(&after).contains(&format!("WEB_PORT={}", env.base())),
            "{what}"
        );
    }
}
