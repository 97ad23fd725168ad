//! Issue 12, hooks after setup (setup and trust are in `hooks`): `teardown`
//! runs on destroy and prune; `start` runs in the background with its log
//! and pid in `status`, outside the command `create` becomes, and its
//! server stops a plain destroy until `--reap`. Real `sh`, real processes,
//! real git.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::procs::{KillSession, alive, kill_group, stat_fields, wait_for};
use crate::common::{TestEnv, read, shard_path};
use crate::hooks::{project_hooks, state};

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
    env.crash_at("create:env", &["create", "b"]);
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
    let fields = stat_fields(pid).expect("the start hook's /proc entry");
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
fn prune_goes_on_when_the_repository_file_no_longer_loads() {
    let env = TestEnv::new();
    env.crash_at("create:env", &["create", "b"]);
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
    let start = "exec python3 -u -m http.server $PORT --bind 127.0.0.1";
    let (env, report, pid, _reap) = TestEnv::started(start, "web");
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
