//! Reaping, the harder cases (the servers and helpers are in `reap`):
//! `prune` keeps a shard whose processes still run; MCP's `destroy_shard`
//! with and without `reap`; stopped, late and respawning processes; another
//! user's listener; several names at once.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::procs::{KillPidFile, answers};
use crate::common::{TestEnv, shard_path};
use crate::reap::{PATIENCE, Running, http_server, reaped, shard};

#[test]
fn prune_keeps_a_shard_whose_processes_still_run() {
    let mut env = TestEnv::new();
    let (wt, _) = shard(&mut env, "a");
    let mut sleeper = Running::start(&wt, "sleep", &["600"]);
    // The folder is deleted under the process: the kernel now shows its
    // working directory as `... (deleted)`.
    std::fs::remove_dir_all(&wt).unwrap();
    let pid = format!("pid {}", sleeper.pid);
    for args in [&["prune", "--dry-run", "--json"][..], &["prune", "--json"]] {
        let out = env.shards(args).ok().json();
        let first = &out["shards"][0];
        assert_eq!(first["reclaimed"], false, "{out}");
        let reason = first["reason"].as_str().unwrap();
        assert!(
            reason.contains(&pid) && reason.contains("--reap a"),
            "{reason}"
        );
        assert_eq!(
            env.list().len(),
            1,
            "prune reclaimed a shard with a running process"
        );
    }
    assert!(sleeper.runs(), "prune stopped a process");
    drop(sleeper);
    let out = env.shards(&["prune", "--json"]).ok().json();
    assert_eq!(out["shards"][0]["reclaimed"], true, "{out}");
    assert!(env.list().is_empty());
}

/// Calls `destroy_shard` over MCP with `arguments`; returns the tool result.
fn mcp_destroy(env: &TestEnv, arguments: Value) -> Value {
    let mut child = env.mcp_server(Stdio::null());
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "destroy_shard", "arguments": arguments}});
    for msg in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        call,
    ] {
        writeln!(stdin, "{msg}").unwrap();
    }
    stdin.flush().unwrap();
    let mut result = Value::Null;
    for line in lines.by_ref() {
        let msg: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if msg["id"] == 2 {
            result = msg["result"].clone();
            break;
        }
    }
    drop(stdin);
    child.wait().unwrap();
    result
}

#[test]
fn mcp_destroy_refuses_running_processes_unless_reap() {
    let mut env = TestEnv::new();
    let (wt, port) = shard(&mut env, "a");
    let mut server = http_server(&wt, port);
    let refused = mcp_destroy(&env, json!({"name": "a"}));
    assert_eq!(refused["isError"], true, "{refused}");
    let text = refused["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("pid {} `", server.pid)), "{text}");
    assert!(text.contains("reap"), "{text}");
    assert!(server.runs() && wt.exists());
    let done = mcp_destroy(&env, json!({"name": "a", "reap": true}));
    assert_ne!(done["isError"], true, "{done}");
    let stopped = &done["structuredContent"]["destroyed"][0]["reaped"][0];
    assert_eq!(stopped["pid"], server.pid, "{done}");
    assert_eq!(stopped["signal"], "SIGTERM", "{done}");
    assert_eq!(server.ended().unwrap().signal(), Some(libc::SIGTERM));
    assert!(!wt.exists());
}

#[test]
fn a_stopped_process_is_continued_so_it_can_handle_sigterm() {
    const CODE: &str = r#"
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
time.sleep(600)
"#;
    let mut env = TestEnv::new();
    let (wt, _) = shard(&mut env, "a");
    let mut handler = Running::start(&wt, "python3", &["-c", CODE]).ready();
    // Stopped as by Ctrl-Z: it handles SIGTERM only once continued.
    assert_eq!(unsafe { libc::kill(handler.pid as i32, libc::SIGSTOP) }, 0);
    let out = env
        .shards(&["destroy", "--reap", "--grace", "10", "--json", "a"])
        .ok();
    assert_eq!(
        reaped(&out.json()),
        vec![(handler.pid as u64, "SIGTERM".into(), json!([]))]
    );
    assert_eq!(
        handler.ended().unwrap().code(),
        Some(0),
        "its handler did not run"
    );
}

#[test]
fn a_process_started_while_the_others_stop_is_stopped_too() {
    // On SIGTERM it starts a new process in the worktree, in its own
    // session (so nothing ties it to this one), writes its pid, and exits.
    const CODE: &str = r#"
import signal, subprocess, sys, time
def respawn(*_):
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    open(sys.argv[1], "w").write(str(child.pid))
    sys.exit(0)
signal.signal(signal.SIGTERM, respawn)
print("ready", flush=True)
time.sleep(600)
"#;
    let mut env = TestEnv::new();
    let (wt, _) = shard(&mut env, "a");
    let pid_file = env.root.join("respawned.pid");
    let mut first =
        Running::start(&wt, "python3", &["-c", CODE, pid_file.to_str().unwrap()]).ready();
    // Kills the respawned process if the test fails before shards does.
    let _respawned = KillPidFile(pid_file.clone());
    let out = env.shards(&["destroy", "--reap", "--json", "a"]).ok();
    let respawned: u64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let got = reaped(&out.json());
    assert_eq!(
        got,
        vec![
            (first.pid as u64, "SIGTERM".into(), json!([])),
            (respawned, "SIGTERM".into(), json!([]))
        ],
        "{out}"
    );
    assert!(first.ended().is_some());
    let stat = std::fs::read_to_string(format!("/proc/{respawned}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "the respawned process still runs: {stat}"
    );
    assert!(!wt.exists());
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn a_listener_of_another_user_is_mentioned_not_guessed_at() {
    use std::os::unix::fs::PermissionsExt;
    let peer = crate::common::peer();
    let mut env = TestEnv::new();
    env.small_pool(10, 10);
    std::fs::set_permissions(&env.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(&env.shards_home).unwrap();
    std::os::unix::fs::chown(&env.shards_home, Some(peer.uid), Some(peer.gid)).unwrap();
    let repo = env.new_repo("theirs");
    let owner = format!("{}:{}", peer.uid, peer.gid);
    crate::common::run_ok(Command::new("chown").args(["-R", &owner, repo.to_str().unwrap()]));
    let report = env
        .shards_as(&peer, &repo, &["create", "a", "--json"])
        .ok()
        .json();
    let (wt, port) = (
        shard_path(&report),
        report["shard"]["ports"]["start"].as_u64().unwrap() as u16,
    );
    // Root's server in the other user's worktree: that user may not read
    // where it runs, so shards does not guess that it is the shard's.
    let mut server = http_server(&wt, port);
    let out = env
        .shards_as(&peer, &repo, &["destroy", "--json", "a"])
        .ok();
    let notes = out.json()["destroyed"][0]["notes"].to_string();
    let said = format!("tcp port {port} is held by a process shards may not inspect");
    assert!(notes.contains(&said), "{notes}");
    assert!(
        server.runs() && answers(port),
        "another user's process was stopped"
    );
}

#[test]
fn with_several_names_nothing_is_removed_while_one_has_processes() {
    let mut env = TestEnv::new();
    let (wt_a, _) = shard(&mut env, "a");
    let wt_b = shard_path(&env.create("b"));
    let mut in_b = Running::start(&wt_b, "sleep", &["600"]);
    let before = env.shard_rows();
    env.shards(&["destroy", "a", "b"])
        .code(1)
        .says(&[&format!("`b`: pid {} `sleep 600`", in_b.pid), "--reap a b"]);
    assert_eq!(
        env.shard_rows(),
        before,
        "a clean shard went before the refusal"
    );
    assert!(wt_a.exists() && in_b.runs());
    let out = env
        .shards(&["destroy", "--reap", "--json", "a", "b"])
        .ok()
        .json();
    assert_eq!(out["destroyed"][0]["reaped"], json!([]));
    assert_eq!(out["destroyed"][1]["reaped"][0]["pid"], in_b.pid, "{out}");
    assert!(in_b.ended().is_some() && !wt_a.exists() && !wt_b.exists());
}

#[test]
fn processes_that_keep_coming_back_stop_the_destroy_and_nothing_is_removed() {
    // Each one, on SIGTERM, starts its successor in the worktree (in a new
    // session), waits until it is ready, and exits: a supervisor that
    // never gives up.
    const CODE: &str = r#"
import signal, subprocess, sys, time
def respawn(*_):
    child = subprocess.Popen([sys.executable] + sys.argv, start_new_session=True,
                             stdout=subprocess.PIPE)
    child.stdout.readline()
    sys.exit(0)
signal.signal(signal.SIGTERM, respawn)
open(sys.argv[1], "w").write(str(__import__("os").getpid()))
print("ready", flush=True)
time.sleep(600)
"#;
    let mut env = TestEnv::new();
    let (wt, _) = shard(&mut env, "a");
    let script = env.root.join("supervisor.py");
    std::fs::write(&script, CODE).unwrap();
    let pid_file = env.root.join("latest.pid");
    // Kills the latest generation, whatever happens to the test.
    let latest = KillPidFile(pid_file.clone());
    let args = [script.to_str().unwrap(), pid_file.to_str().unwrap()];
    let _first = Running::start(&wt, "python3", &args).ready();
    let before = (env.shard_rows(), env.git_records());
    let out = env.shards(&["destroy", "--reap", "--json", "a"]).code(1);
    let error = &out.json()["error"];
    assert_eq!(error["kind"], "reap_failed", "{out}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("started again") && message.contains("nothing was removed"),
        "{message}"
    );
    assert_eq!(
        (env.shard_rows(), env.git_records()),
        before,
        "a failed reap removed something"
    );
    assert!(wt.join(".git").exists());
    drop(latest);
    // Once the last one is gone, the destroy goes through.
    let deadline = Instant::now() + PATIENCE;
    while env.shards(&["destroy", "--reap", "a"]).code != 0 {
        assert!(
            Instant::now() < deadline,
            "the shard could not be destroyed after"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!wt.exists());
}
