//! Issue 12, hooks and trust: `setup` runs in the new worktree with the
//! shard's variables and a failing step undoes the create; `start` runs in
//! the background with its log and pid in `status`; `teardown` runs on
//! destroy and prune; a repository's hooks run only once `shards trust`
//! approved them as they are, `--no-hooks` skips them, the user's own need
//! no approval, and MCP's `create_shard` obeys the same rule. Real `sh`,
//! real processes, real git.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::procs::{KillSession, alive, kill_group, wait_for};
use crate::common::{TestEnv, env_value, read, shard_path};

/// Writes the repository's `.shards.toml`.
fn project_hooks(env: &TestEnv, hooks: &str) {
    std::fs::write(env.repo.join(".shards.toml"), format!("[hooks]\n{hooks}\n")).unwrap();
}

/// The ledger's rows, branches, git's worktrees and the shards' folders.
fn state(env: &TestEnv) -> String {
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
    let out = env.shards(&["create", "api"]).code(1).says(&[
        "the hooks in",
        ".shards.toml are not trusted: `setup`",
        "`shards trust`",
        "--no-hooks",
    ]);
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
fn teardown_runs_on_destroy_and_on_prune_while_the_block_is_held() {
    let env = TestEnv::new();
    let log = env.root.join("teardown.log");
    project_hooks(
        &env,
        &format!(
            "teardown = \"echo $SHARD_NAME $PORT_RANGE_START $(basename $PWD) >> {}\"",
            log.display()
        ),
    );
    env.shards(&["trust"]).ok();
    let a = env.create("a");
    let start = a["shard"]["ports"]["start"].as_u64().unwrap();
    env.shards(&["destroy", "a"])
        .ok()
        .says(&["teardown 1/1: echo $SHARD_NAME"]);
    assert_eq!(read(&log), format!("a {start} a\n"));

    // A create killed after its env file: prune tears it down, then reclaims it.
    let out = env
        .command_in(&env.repo, &["create", "b"])
        .env("SHARDS_TEST_CRASH_AT", "create:env")
        .output()
        .unwrap();
    assert!(!out.status.success());
    env.shards(&["prune"])
        .ok()
        .says(&["teardown 1/1:", "Reclaimed 1 shard(s)."]);
    assert_eq!(read(&log), format!("a {start} a\nb {start} b\n"));
    assert!(env.list().is_empty());

    // Nothing runs for a worktree that is gone.
    let c = shard_path(&env.create("c"));
    std::fs::remove_dir_all(&c).unwrap();
    env.shards(&["prune"]).ok();
    assert_eq!(read(&log).lines().count(), 2);
}

#[test]
fn a_failing_teardown_stops_destroy_and_force_goes_on() {
    let env = TestEnv::new();
    env.write_config("[hooks]\nteardown = \"echo cannot stop; exit 5\"\n");
    env.create("a");
    let before = state(&env);
    env.shards(&["destroy", "a"]).code(1).says(&[
        "teardown hook step 1/1 `echo cannot stop; exit 5` failed (exit code 5) in shard `a`",
        "cannot stop",
        "shards destroy --force a",
    ]);
    assert_eq!(state(&env), before, "the shard is handed back as it was");
    env.shards(&["destroy", "--force", "a"]).ok().says(&[
        "warning: teardown hook step 1/1",
        "went on without it",
        "Destroyed shard `a`",
    ]);
    assert!(env.list().is_empty());
    // `--no-hooks` runs none.
    env.create("b");
    let out = env.shards(&["destroy", "--no-hooks", "b"]).ok();
    assert!(!out.stderr.contains("teardown"), "{out}");
}

#[test]
fn an_untrusted_teardown_is_skipped_with_a_warning() {
    let env = TestEnv::new();
    let marker = env.root.join("torn");
    env.create("a");
    project_hooks(&env, &format!("teardown = \"touch {}\"", marker.display()));
    env.shards(&["destroy", "a"]).ok().says(&[
        "warning: the teardown hook in",
        "was not run",
        "`shards trust`",
    ]);
    assert!(!marker.exists());
    assert!(env.list().is_empty());
}

#[test]
fn start_runs_in_the_background_logged_and_status_shows_its_process() {
    let mut env = TestEnv::new();
    env.small_pool(10, 5);
    project_hooks(
        &env,
        r#"start = "echo starting on $PORT; exec python3 -u -m http.server $PORT --bind 127.0.0.1""#,
    );
    env.shards(&["trust"]).ok();
    let began = Instant::now();
    let out = env.shards(&["create", "web", "--json"]).ok();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "create waited for the server"
    );
    let report = out.json();
    let pid = report["start"]["pid"].as_i64().unwrap();
    let _reap = KillSession(pid);
    let log = PathBuf::from(report["start"]["log"].as_str().unwrap());
    assert!(log.starts_with(&env.shards_home), "{}", log.display());
    let port = report["shard"]["ports"]["start"].as_u64().unwrap();
    wait_for("the server's log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("Serving HTTP"))
    });
    assert!(read(&log).starts_with(&format!("starting on {port}\n")));
    // Its own session: not in shards' process group, stdin /dev/null.
    let stat = read(Path::new(&format!("/proc/{pid}/stat")));
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[2], pid.to_string(), "its own process group");
    assert_eq!(fields[3], pid.to_string(), "its own session");
    let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(stdin, Path::new("/dev/null"));

    let status = env.shards(&["status", "--json"]).ok().json();
    let web = status["shards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web")
        .unwrap()
        .clone();
    assert_eq!(web["start"]["pid"], pid, "{web}");
    assert_eq!(web["start"]["alive"], true, "{web}");
    assert!(
        web["listening"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["port"] == port && l["place"] == "inside"),
        "{web}"
    );
    let human = env.shards(&["status"]).ok();
    assert!(
        human
            .stdout
            .contains(&format!("start hook: pid {pid} running")),
        "{human}"
    );

    kill_group(pid);
    wait_for("the server to end", || !alive(pid));
    let status = env.shards(&["status", "--json"]).ok().json();
    assert_eq!(status["shards"][0]["start"]["alive"], false, "{status}");
}

#[test]
fn a_start_hook_that_cannot_start_is_a_warning_not_an_undo() {
    let env = TestEnv::new();
    env.write_config("[hooks]\nstart = \"true\"\n");
    // The logs folder cannot be made: a file sits where it goes.
    std::fs::create_dir_all(&env.shards_home).unwrap();
    std::fs::write(env.shards_home.join("logs"), "in the way").unwrap();
    env.shards(&["create", "api"])
        .ok()
        .says(&["warning: the start hook did not start"]);
    assert_eq!(env.list().len(), 1);
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
fn the_start_hook_is_not_a_child_of_the_command_create_becomes() {
    let env = TestEnv::new();
    env.write_config("[hooks]\nstart = \"exec sleep 30\"\n");
    // `create -- CMD` becomes CMD: a start hook that were its child would
    // be a zombie of a program that never waits for it.
    let probe = "import os; p = os.getpid(); print('children:', open(f'/proc/{p}/task/{p}/children').read().split())";
    let out = env
        .shards(&["create", "web", "--json", "--", "python3", "-c", probe])
        .ok();
    let report: Value =
        serde_json::from_str(out.stdout.split("children:").next().unwrap()).unwrap();
    let pid = report["start"]["pid"].as_i64().unwrap();
    let _reap = KillSession(pid);
    assert!(alive(pid));
    assert!(out.stdout.contains("children: []"), "{out}");
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

#[test]
fn prune_goes_on_when_the_repository_file_no_longer_loads() {
    let env = TestEnv::new();
    let out = env
        .command_in(&env.repo, &["create", "b"])
        .env("SHARDS_TEST_CRASH_AT", "create:env")
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::write(env.repo.join(".shards.toml"), "[hooks]\nsetup = 3\n").unwrap();
    // Run from outside the repository, so only the shard's repository file is read.
    env.shards_in(&env.root, &["prune", "--all"]).ok().says(&[
        "its repository's hooks were not run",
        "`hooks.setup`",
        "Reclaimed 1 shard(s).",
    ]);
    assert!(env.worktree_folders().is_empty());
}

#[test]
fn a_start_hooks_server_stops_a_plain_destroy_and_reap_stops_it() {
    let mut env = TestEnv::new();
    env.small_pool(10, 5);
    env.write_config(
        "[hooks]\nstart = \"exec python3 -u -m http.server $PORT --bind 127.0.0.1\"\n",
    );
    let (report, pid, _reap) = env.create_started("web");
    let log = PathBuf::from(report["start"]["log"].as_str().unwrap());
    wait_for("the server's log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("Serving HTTP"))
    });
    // The start hook's server runs from the worktree like any process of
    // the shard: a plain destroy refuses, naming it, and removes nothing.
    let refused = env.shards(&["destroy", "web"]).code(1);
    assert!(refused.stderr.contains(&pid.to_string()), "{refused}");
    assert!(refused.stderr.contains("--reap"), "{refused}");
    assert!(alive(pid));
    assert!(
        env.shards(&["path", "web"])
            .ok()
            .stdout
            .trim()
            .ends_with("web")
    );
    env.shards(&["destroy", "--reap", "--grace", "2", "web"])
        .ok();
    wait_for("the server to end", || !alive(pid));
    assert_eq!(
        env.shards(&["list", "--json"]).ok().json()["shards"],
        serde_json::json!([])
    );
}
