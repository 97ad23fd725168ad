//! `shards env`, `shards run`, `.envrc` with the real direnv, and compose names.

use std::process::Command;

use crate::common::{TestEnv, env_value, read};

use crate::common::shard_path as path;

#[test]
fn env_prints_what_the_env_file_holds_in_three_formats() {
    let env = TestEnv::new();
    let wt = env.create_worktree("fix/a");
    env.shards_in(&wt, &["port", "web"]).ok();
    let sh = env.shards_in(&wt, &["env"]).ok();
    let (start, end) = env.block(0);
    // The default is `export` lines (the real ports shown from 10000).
    insta::assert_snapshot!(env.shown(&sh), @"
    export PORT_RANGE_START='10000'
    export PORT_RANGE_END='10099'
    export PORT_COUNT='100'
    export PORT='10000'
    export SHARD_NAME='fix/a'
    export COMPOSE_PROJECT_NAME='repo-fix-a'
    export WEB_PORT='10000'
    --- stderr ---
    [exit status: 0]
    ");
    // Evaluated by a real shell, the values match the env file.
    let out = Command::new("sh")
        .args([
            "-c",
            &format!(
                "{}\necho \"$SHARD_NAME $WEB_PORT $COMPOSE_PROJECT_NAME\"",
                sh.stdout
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("fix/a {start} repo-fix-a\n")
    );
    assert_eq!(
        env_value(&wt.join(".env"), "WEB_PORT"),
        Some(start.to_string())
    );
    let fish = env.shards(&["env", "fix/a", "--format", "fish"]).ok();
    assert!(
        fish.stdout
            .contains(&format!("set -gx WEB_PORT '{start}';\n")),
        "{fish}"
    );
    let json = env
        .shards(&["env", "fix/a", "--format", "json"])
        .ok()
        .json();
    assert_eq!(json["vars"]["PORT_RANGE_END"], end.to_string());
    assert_eq!(json["vars"]["WEB_PORT"], start.to_string());
    let json2 = env.shards(&["env", "fix/a", "--json"]).ok().json();
    assert_eq!(json, json2);
}

#[test]
fn compose_can_be_switched_off() {
    let mut env = TestEnv::new();
    env.set("SHARDS_ENV_COMPOSE", "false");
    let wt = env.create_worktree("x");
    assert_eq!(env_value(&wt.join(".env"), "COMPOSE_PROJECT_NAME"), None);
}

#[test]
fn run_uses_the_worktree_and_variables_and_passes_the_exit_status() {
    let env = TestEnv::new();
    let r = env.create("x");
    let out = env
        .shards(&[
            "run",
            "x",
            "--",
            "sh",
            "-c",
            "pwd; echo $PORT_RANGE_START $SHARD_PATH; exit 7",
        ])
        .code(7);
    let wt = path(&r);
    assert_eq!(
        out.stdout,
        format!("{0}\n{1} {0}\n", wt.display(), env.base())
    );
    env.shards(&["run", "x", "--", "true"]).ok();
    env.shards(&["run", "x", "--", "no-such-program-here"])
        .code(127)
        .says(&["cannot run `no-such-program-here`", "hint:"]);
    env.shards(&["run", "nope", "--", "true"])
        .code(1)
        .says(&["no shard named `nope`"]);
}

#[test]
#[ignore = "needs direnv (.ci/run installs it)"]
fn direnv_loads_the_shards_ports() {
    let env = TestEnv::new();
    let r = env
        .shards(&["create", "x", "--direnv", "--json"])
        .ok()
        .json();
    let wt = path(&r);
    let envrc = read(&wt.join(".envrc"));
    assert!(envrc.contains("dotenv_if_exists '.env'"), "{envrc}");
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    let dir = wt.to_str().unwrap();
    let allow = env.direnv(&wt, &["allow", dir]);
    assert!(
        allow.status.success(),
        "{}",
        String::from_utf8_lossy(&allow.stderr)
    );
    // What a command run through direnv in the worktree sees as `var`, and
    // direnv's own log.
    let printenv = |var: &str| {
        let out = env.direnv(&wt, &["exec", dir, "printenv", var]);
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        (String::from_utf8_lossy(&out.stdout).into_owned(), log)
    };
    let (value, log) = printenv("PORT_RANGE_START");
    assert_eq!(value, format!("{}\n", env.port(0)), "{log}");
    env.shards_in(&wt, &["port", "web", "api"]).ok();
    let (value, log) = printenv("API_PORT");
    assert_eq!(value, format!("{}\n", env.port(1)), "{log}");
}

#[test]
fn an_existing_envrc_keeps_its_lines() {
    let env = TestEnv::new();
    env.commit(&[(".envrc", "export FOO=1\n")], "envrc");
    let out = env
        .shards(&["create", "x", "--direnv", "--json"])
        .ok()
        .says(&[".envrc is tracked by git"]);
    let wt = path(&out.json());
    assert_eq!(read(&wt.join(".envrc")), "export FOO=1\n");
}

#[test]
fn run_hands_signals_to_the_command() {
    use std::os::unix::process::ExitStatusExt;
    let env = TestEnv::new();
    env.create("x");
    let mut child = env
        .command_in(&env.repo, &["run", "x", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    // shards execs the command: wait until this pid has become `sleep`.
    let pid = child.id();
    let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    for _ in 0..200 {
        if comm().trim() == "sleep" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(comm().trim(), "sleep");
    // libc rather than the `kill` program: procps is not on every machine.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(15),
        "the command did not get SIGTERM: {status:?}"
    );
}

#[test]
fn create_then_run_a_command_in_the_new_shard() {
    let env = TestEnv::new();
    let out = env
        .shards(&[
            "create",
            "task",
            "--",
            "sh",
            "-c",
            "echo $PORT_RANGE_START; pwd; exit 3",
        ])
        .code(3);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let path = env.shards_home.join("worktrees/repo/task");
    assert_eq!(
        lines,
        vec![
            path.to_str().unwrap(),
            &env.base().to_string(),
            path.to_str().unwrap()
        ],
        "{out}"
    );
    assert_eq!(env.list()[0]["status"], "active");
}
