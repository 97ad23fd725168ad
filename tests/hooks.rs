//! Issue 12, hooks and trust: `setup` runs in the new worktree with the
//! shard's variables and a failing step (or SIGINT) undoes the create; a
//! repository's hooks run only once `shards trust` approved them as they
//! are, `--no-hooks` skips them, the user's own need no approval, and MCP's
//! `create_shard` obeys the same rule. `start` and `teardown` are in
//! `hooks_start`. Real `sh`, real processes, real git.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::procs::{KillSession, alive, wait_for};
use crate::common::{TestEnv, env_value, read, shard_path};

/// Writes the repository's `.shards.toml`.
pub(crate) fn project_hooks(env: &TestEnv, hooks: &str) {
    std::fs::write(env.repo.join(".shards.toml"), format!("[hooks]\n{hooks}\n")).unwrap();
}

/// The ledger's rows, branches, git's worktrees and the shards' folders.
pub(crate) fn state(env: &TestEnv) -> String {
    format!(
        "rows: {:?}\nbranches: {:?}\nfolders: {:?}\n{}",
        env.shard_rows(),
        env.branches(&env.repo),
        env.worktree_folders(),
        env.git_records()
    )
}

#[test]
fn the_setup_hook_sees_the_shards_variables_and_runs_in_its_worktree() {
    let env = TestEnv::new();
    // The user's own hooks need no approval.
    env.write_config("[hooks]\nsetup = \"pwd > ../seen-pwd; env > ../seen-env\"\n");
    let out = env
        .shards(&["create", "api"])
        .ok()
        .says(&["setup 1/1: pwd > ../seen-pwd"]);
    let wt = PathBuf::from(out.stdout.trim());
    let dir = wt.parent().unwrap();
    assert_eq!(read(&dir.join("seen-pwd")).trim(), wt.to_str().unwrap());
    let seen: Vec<(String, String)> = read(&dir.join("seen-env"))
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let get = |k: &str| {
        seen.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    // Exactly as `shards run` gives them.
    let run = env.shards(&["run", "api", "--", "env"]).ok().stdout;
    for key in [
        "PORT_RANGE_START",
        "PORT_RANGE_END",
        "PORT_COUNT",
        "PORT",
        "SHARD_NAME",
        "COMPOSE_PROJECT_NAME",
        "SHARD_PATH",
    ] {
        let want = run
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("`shards run` gives no {key}"));
        assert_eq!(get(key).as_deref(), Some(want), "{key}");
    }
    assert_eq!(
        get("PORT_RANGE_START"),
        env_value(&wt.join(".env"), "PORT_RANGE_START")
    );
}

#[test]
fn a_failing_setup_step_undoes_the_create() {
    let env = TestEnv::new();
    env.create("first");
    let bg = env.root.join("bg.pid");
    project_hooks(
        &env,
        &format!(
            r#"setup = ["touch made-by-hook; sleep 300 >/dev/null 2>&1 & echo $! > {}", "echo to-stdout; exit 7", "touch never"]"#,
            bg.display()
        ),
    );
    env.shards(&["trust"]).ok();
    let before = state(&env);
    let out = env.shards(&["create", "api"]).code(1).says(&[
        "setup 1/3: touch made-by-hook",
        "setup 2/3:",
        "to-stdout",
        "setup hook step 2/3 `echo to-stdout; exit 7` failed (exit code 7) in shard `api`; undid the create",
    ]);
    assert!(!out.stderr.contains("setup 3/3"), "{out}");
    // What a step left running in the background went with the create.
    let left: i64 = read(&bg).trim().parse().unwrap();
    let _reap = KillSession(left);
    assert!(
        !alive(left),
        "the setup's background process {left} still runs"
    );
    assert_eq!(out.stdout, "", "a hook's stdout goes to stderr");
    assert_eq!(state(&env), before);
    assert!(!env.shards_home.join("worktrees/repo/api").exists());
    // The same name is free again.
    project_hooks(&env, r#"setup = "true""#);
    env.shards(&["trust"]).ok();
    env.create("api");
}

#[test]
fn an_optional_failing_step_only_warns() {
    let env = TestEnv::new();
    project_hooks(
        &env,
        r#"setup = [{ run = "exit 4", optional = true }, "touch done"]"#,
    );
    env.shards(&["trust"]).ok();
    let out = env
        .shards(&["create", "api", "--json"])
        .ok()
        .says(&["warning: setup step 1/2 `exit 4` failed (exit code 4); it is optional"]);
    let report = out.json();
    assert!(shard_path(&report).join("done").exists());
    assert!(
        report["warnings"][0].as_str().unwrap().contains("exit 4"),
        "{report}"
    );
}

#[test]
fn untrusted_and_changed_hooks_are_refused_and_nothing_is_made() {
    let env = TestEnv::new();
    let marker = env.root.join("ran");
    project_hooks(&env, &format!("setup = \"touch {}\"", marker.display()));
    let before = state(&env);
    let ledger_rows = || env.shards(&["list", "--json"]).ok().json()["shards"].clone();
    let out = env.shards(&["create", "api", "--json"]).code(1);
    assert_eq!(out.json()["error"]["kind"], "hooks_untrusted");
    let out = env.shards(&["create", "api"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: the hooks in [TMP]/repo/.shards.toml are not trusted: `setup`
    hint: review them and run `shards trust` to approve them, or pass `--no-hooks` to create without them
    [exit status: 1]
    ");
    assert!(!out.stderr.contains("changed"), "{out}");
    assert!(!marker.exists());
    assert_eq!(state(&env), before);
    assert_eq!(ledger_rows(), Value::Array(vec![]));

    let shown = env.shards(&["trust"]).ok();
    assert!(
        shown
            .stdout
            .contains(&format!("touch {}", marker.display())),
        "{shown}"
    );
    env.create("api");
    assert!(marker.exists());

    // One more character is another command: asked again.
    project_hooks(&env, &format!("setup = \"touch {}x\"", marker.display()));
    let before = state(&env);
    env.shards(&["create", "web"])
        .code(1)
        .says(&["(they changed since you approved them)"]);
    assert_eq!(state(&env), before);
    // `--no-hooks` skips them without approving them.
    env.shards(&["create", "web", "--no-hooks"]).ok();
    assert!(!PathBuf::from(format!("{}x", marker.display())).exists());
    env.shards(&["create", "db"]).code(1);
    // Going back to the approved commands needs no new approval.
    project_hooks(&env, &format!("setup = \"touch {}\"", marker.display()));
    env.create("db");
}

#[test]
fn no_hooks_skips_the_users_own_hooks_too() {
    let env = TestEnv::new();
    env.write_config("[hooks]\nsetup = \"touch by-setup\"\nstart = \"touch by-start\"\n");
    let wt = shard_path(
        &env.shards(&["create", "api", "--no-hooks", "--json"])
            .ok()
            .json(),
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!wt.join("by-setup").exists() && !wt.join("by-start").exists());
    let out = env.shards(&["create", "web", "--json"]).ok().json();
    let wt = shard_path(&out);
    assert!(wt.join("by-setup").exists());
    wait_for("the start hook", || wt.join("by-start").exists());
}

#[test]
fn sigint_during_setup_kills_the_hook_and_undoes_the_create() {
    let env = TestEnv::new();
    let pidfile = env.root.join("hook.pid");
    env.write_config(&format!(
        "[hooks]\nsetup = \"echo $$ > {}; exec sleep 30\"\n",
        pidfile.display()
    ));
    let before = state(&env);
    let mut child = env
        .command_in(&env.repo, &["create", "api"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the setup hook", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|t| t.ends_with('\n'))
    });
    let hook: i64 = read(&pidfile).trim().parse().unwrap();
    // SAFETY: signals the test's own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let signalled = Instant::now();
    let status = child.wait().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the create waited for the hook instead of killing it"
    );
    assert_eq!(status.code(), Some(130));
    assert!(!alive(hook), "the setup hook still runs");
    assert_eq!(state(&env), before);
}

#[test]
fn mcp_create_shard_refuses_untrusted_hooks_and_never_approves() {
    let env = TestEnv::new();
    let marker = env.root.join("ran");
    project_hooks(&env, &format!("setup = \"touch {}\"", marker.display()));
    let mut child = env.mcp_server(Stdio::null());
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut call = |msg: &str| -> Value {
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
        if msg.contains(r#""id""#) {
            serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap()
        } else {
            Value::Null
        }
    };
    call(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    call(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let refused = call(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_shard","arguments":{"name":"api"}}}"#,
    );
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("not trusted") && text.contains("shards trust"),
        "{text}"
    );
    assert!(!marker.exists());
    let made = call(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_shard","arguments":{"name":"api","no_hooks":true}}}"#,
    );
    assert_ne!(made["result"]["isError"], true, "{made}");
    assert!(!marker.exists());
    // Still not approved: the tool never approves by itself.
    let again = call(
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"create_shard","arguments":{"name":"web"}}}"#,
    );
    assert_eq!(again["result"]["isError"], true, "{again}");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_eq!(env.list().len(), 1);
}

#[test]
fn trust_shows_the_hooks_approves_once_and_says_when_there_are_none() {
    let env = TestEnv::new();
    env.shards(&["trust"])
        .ok()
        .says(&["sets no hooks: nothing to trust"]);
    // The user's own hooks are not the repository's: nothing to trust.
    env.write_config("[hooks]\nsetup = \"true\"\n");
    let none = env.shards(&["trust", "--json"]).ok().json();
    assert_eq!(none["hooks"], Value::Array(vec![]), "{none}");
    assert_eq!(none["hash"], Value::Null);
    project_hooks(
        &env,
        "setup = [\"npm ci\", { run = \"make seed\", optional = true }]\nteardown = \"docker compose down\"",
    );
    let first = env.shards(&["trust", "--json"]).ok().json();
    assert_eq!(first["approved_now"], true, "{first}");
    assert_eq!(first["hooks"][0]["hook"], "setup");
    assert_eq!(first["hooks"][0]["steps"][1]["optional"], true);
    assert_eq!(first["hooks"][1]["hook"], "teardown");
    assert!(
        first["hooks"][1]["origin"]
            .as_str()
            .unwrap()
            .ends_with(".shards.toml:3")
    );
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    let again = env.shards(&["trust", "--json"]).ok().json();
    assert_eq!(again["approved_now"], false);
    assert_eq!(again["hash"], first["hash"]);
    let human = env.shards(&["trust"]).ok().says(&["were trusted already"]);
    assert_eq!(
        human.stdout,
        format!(
            "setup ({0}:2):\n  npm ci\n  make seed  (optional)\nteardown ({0}:3):\n  docker compose down\n",
            env.repo.join(".shards.toml").display()
        )
    );
}

#[test]
fn adopt_runs_no_hook_and_a_failed_setup_is_hook_failed_in_json() {
    let env = TestEnv::new();
    env.write_config("[hooks]\nsetup = \"touch by-setup; exit 3\"\nstart = \"touch by-start\"\n");
    let wt = env.git_worktree("old-work", "old");
    env.shards(&["adopt", "../old-work"]).ok();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!wt.join("by-setup").exists() && !wt.join("by-start").exists());
    let out = env.shards(&["create", "api", "--json"]).code(1);
    let err = &out.json()["error"];
    assert_eq!(err["kind"], "hook_failed", "{err}");
    assert!(
        err["hint"].as_str().unwrap().contains("--no-hooks"),
        "{err}"
    );
}
