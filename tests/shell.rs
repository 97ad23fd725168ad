//! `shards init` and `shards cd`: the shell function run by a real bash,
//! zsh and fish, changing the shell's directory, passing every other
//! command, its arguments and its exit status through; and the program's
//! `cd` and `create --cd` without the function.

use std::path::PathBuf;

use crate::common::TestEnv;

/// A test world whose worktrees go under a folder with spaces and quotes.
fn world() -> (TestEnv, PathBuf) {
    let mut env = TestEnv::new();
    let root = env.root.join(r#"wt it's "here""#);
    let template = format!("{}/{{name}}", root.display());
    env.set("SHARDS_WORKTREE_ROOT", &template);
    let repo = env.repo.display().to_string();
    env.set("REPO", &repo);
    (env, root)
}

/// Runs `script` in `shell` in the repository; bash and zsh share one.
fn script(shell: &str) -> String {
    let load = match shell {
        "fish" => "shards init fish | source; or exit 90",
        "zsh" => r#"eval "$(shards init zsh)" || exit 90"#,
        _ => r#"eval "$(shards init bash)" || exit 90"#,
    };
    let status = if shell == "fish" { "$status" } else { "$?" };
    format!(
        r#"{load}
shards create one --cd
echo "create=$PWD"
cd "$REPO"
echo "repo=$PWD"
shards cd one
echo "cd=$PWD"
shards create two > /dev/null
echo "plain=$PWD"
shards cd nope
echo "missing rc={status} $PWD"
shards run one -- sh -c 'exit 7'
echo "run rc={status}"
shards run one -- printf '<%s>\n' 'a b' "it's"
shards port web --shard 'no such'
echo "port rc={status}"
shards create one --cd 2> /dev/null
echo "taken rc={status} $PWD"
shards > /dev/null 2>&1
echo "bare rc={status}"
cd /
shards -q -C "$REPO" cd two
echo "flags=$PWD"
"#
    )
}

fn check(shell: &str) {
    let (env, root) = world();
    let out = env.shell_in(shell, &env.repo, &["-c", &script(shell)]).ok();
    let one = root.join("one");
    let want = format!(
        "create={one}\nrepo={repo}\ncd={one}\nplain={one}\nmissing rc=1 {one}\nrun rc=7\n<a b>\n<it's>\nport rc=1\ntaken rc=1 {one}\nbare rc=2\nflags={two}\n",
        one = one.display(),
        repo = env.repo.display(),
        two = root.join("two").display()
    );
    assert_eq!(out.stdout, want, "{out}");
    assert!(out.stderr.contains("no shard named `nope`"), "{out}");
    assert!(out.stderr.contains("no shard named `no such`"), "{out}");
    // The shards were made for real, with their env files.
    assert!(one.join(".env").is_file() && root.join("two/.env").is_file());
}

#[test]
fn bash_function_changes_directory_and_passes_the_rest_through() {
    check("bash");
}

#[test]
#[ignore = "needs zsh (.ci/run installs it)"]
fn zsh_function_changes_directory_and_passes_the_rest_through() {
    check("zsh");
}

#[test]
#[ignore = "needs fish (.ci/run installs it)"]
fn fish_function_changes_directory_and_passes_the_rest_through() {
    check("fish");
}

#[test]
fn function_shows_help_instead_of_changing_to_it() {
    let (env, _) = world();
    let s = r#"eval "$(shards init bash)"; shards cd --help; echo "rc=$? $PWD""#;
    let out = env.shell_in("bash", &env.repo, &["-c", s]).ok();
    assert!(
        out.stdout.starts_with("Change to a shard's worktree"),
        "{out}"
    );
    assert!(
        out.stdout
            .ends_with(&format!("rc=0 {}\n", env.repo.display())),
        "{out}"
    );
}

#[test]
fn cd_without_the_function_says_how_to_load_it() {
    let env = TestEnv::new();
    env.create("one");
    let out = env.shards(&["cd", "one"]).code(2).says(&[
        "`shards cd` needs the shell function",
        r#"eval "$(shards init bash)""#,
        "shards init fish | source",
        r#"cd "$(shards path one)""#,
    ]);
    assert_eq!(out.stdout, "");
}

#[test]
fn create_cd_without_the_function_creates_and_warns() {
    let env = TestEnv::new();
    let out = env.shards(&["create", "one", "--cd"]).ok().says(&[
        "warning: could not change the directory",
        r#"eval "$(shards init bash)""#,
    ]);
    let path = env.shards(&["path", "one"]).ok().stdout;
    assert_eq!(out.stdout, path);
}

#[test]
fn create_cd_refuses_json_and_a_command_before_making_anything() {
    let env = TestEnv::new();
    let before = env.git_records();
    env.shards(&["create", "one", "--cd", "--json"])
        .code(2)
        .says(&["`--cd` cannot be used with `--json`"]);
    env.shards(&["create", "one", "--cd", "--", "true"])
        .code(2)
        .says(&["'--cd' cannot be used with"]);
    assert!(env.list().is_empty());
    assert_eq!(env.git_records(), before);
}

#[test]
fn init_prints_a_function_for_each_shell() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.shards(&["init", shell]).ok();
        assert!(out.stdout.contains("command shards"), "{out}");
        assert_eq!(out.stderr, "");
    }
    env.shards(&["init", "tcsh"]).code(2);
    let json = env.shards(&["init", "fish", "--json"]).ok().json();
    assert_eq!(json["shell"], "fish");
    assert!(json["script"].as_str().unwrap().contains("function shards"));
}

#[test]
fn bash_function_works_under_set_u() {
    let (env, _) = world();
    let s = r#"set -u; eval "$(shards init bash)"; shards > /dev/null 2>&1; echo "rc=$?""#;
    let out = env.shell_in("bash", &env.repo, &["-c", s]).ok();
    assert_eq!(out.stdout, "rc=2\n", "{out}");
}
