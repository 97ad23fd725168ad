//! Issue 12 under review: hooks, trust and reaping tried the way a user or
//! an agent would break them. Each test is named after what the user sees.
//! Real `sh`, real python3 servers, real signals.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::TestEnv;
use crate::common::procs::{KillSession, alive, answers, stat_fields, wait_for};

/// Waits until the server a start hook runs answers on the first port of
/// the shard of `report` (`create --json`); returns that port.
fn server_answers(report: &serde_json::Value) -> u16 {
    let port = report["shard"]["ports"]["start"].as_u64().unwrap() as u16;
    wait_for("the server", || answers(port));
    port
}

/// The pids of the processes whose session is `sid`.
fn session(sid: i64) -> Vec<i64> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        if fields[3].parse::<i64>() == Ok(sid) && !fields[0].starts_with('Z') {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_start_hook_that_leaves_the_worktree_is_still_the_shards_and_reap_stops_it() {
    // A dev server that changes folder (`cd`, `npm --prefix`, a wrapper):
    // its working directory and executable are outside the worktree, but
    // shards started it for this shard.
    let start = "cd / && python3 -u -m http.server $PORT --bind 127.0.0.1 & wait";
    let (env, report, pid, _kill) = TestEnv::started(start, "web");
    let port = server_answers(&report);
    let members = session(pid);
    assert!(members.len() >= 2, "sh and python3: {members:?}");
    // A plain destroy refuses, naming the server, and removes nothing.
    let refused = env.shards(&["destroy", "web"]).code(1);
    for p in &members {
        assert!(
            refused.stderr.contains(&format!("pid {p} ")),
            "{p}: {refused}"
        );
    }
    assert!(refused.stderr.contains("--reap"), "{refused}");
    assert!(Path::new(&report["shard"]["path"].as_str().unwrap()).is_dir());
    // --reap stops the hook and its server: nothing is left running.
    env.shards(&["destroy", "--reap", "--grace", "2", "web"])
        .ok();
    for p in members {
        wait_for("the start hook's processes to end", || !alive(p));
    }
    assert!(!answers(port));
}

/// The pids of the processes whose working directory is inside `dir`.
fn running_in(dir: &Path) -> Vec<i64> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
        if cwd.is_ok_and(|c| c.starts_with(dir)) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// A world whose teardown hook marks `../torn-$SHARD_NAME` and then hangs,
/// with shard `web` created in it; returns the world and the worktree.
fn hanging_teardown() -> (TestEnv, PathBuf) {
    let env = TestEnv::new();
    env.write_config("[hooks]\nteardown = \"touch ../torn-$SHARD_NAME; sleep 300\"\n");
    let wt = env.create_worktree("web");
    (env, wt)
}

/// Runs `shards args` until the teardown hook of `web` (worktree `wt`) has
/// started, interrupts it as Ctrl-C would, and returns its exit code and
/// its stderr, kept in `log` under the world's root.
fn interrupted_in_teardown(
    env: &TestEnv,
    wt: &Path,
    args: &[&str],
    log: &str,
) -> (Option<i32>, String) {
    // Its stderr goes to a file: a pipe would stay open as long as
    // anything the hook started lives.
    let err_path = env.root.join(log);
    let err_file = std::fs::File::create(&err_path).unwrap();
    let mut child = env
        .command_in(&env.repo, args)
        .stderr(err_file)
        .spawn()
        .unwrap();
    let started = wt.parent().unwrap().join("torn-web");
    wait_for("the teardown hook", || started.exists());
    // SAFETY: signals the test's own child, as Ctrl-C would.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    (status.code(), std::fs::read_to_string(&err_path).unwrap())
}

/// Asserts that nothing of the teardown runs in `wt` any more, killing
/// what does.
#[track_caller]
fn assert_nothing_runs_in(wt: &Path) {
    let left = running_in(wt);
    for p in &left {
        // SAFETY: only the test's own leftover `sleep`.
        unsafe {
            libc::kill(*p as i32, libc::SIGKILL);
        }
    }
    assert_eq!(left, Vec::<i64>::new(), "the teardown's sleep still runs");
}

#[test]
fn ctrl_c_during_a_hanging_teardown_stops_it_and_hands_the_shard_back() {
    let (env, wt) = hanging_teardown();
    let before = env.shard_rows();
    let (code, stderr) = interrupted_in_teardown(&env, &wt, &["destroy", "web"], "destroy.err");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("teardown"), "{stderr}");
    assert!(stderr.contains("shards destroy"), "{stderr}");
    // Nothing of the teardown is left running, and the shard is as it was.
    assert_nothing_runs_in(&wt);
    assert_eq!(env.shard_rows(), before);
    assert!(wt.is_dir());
    // It can be destroyed again, without the hook.
    env.shards(&["destroy", "--no-hooks", "web"]).ok();
    assert!(!wt.exists());
}

#[test]
fn a_daemon_a_failed_setup_started_does_not_outlive_the_undone_create() {
    let env = TestEnv::new();
    // `pg_ctl start` and the like leave a daemon in a session of its own,
    // out of the step's process group, working in the worktree.
    env.write_config(
        r#"[hooks]
setup = [
  "setsid sh -c 'echo $$ > ../daemon.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &",
  "while [ ! -s ../daemon.pid ]; do sleep 0.05; done; exit 3",
]
"#,
    );
    let before = env.shard_rows();
    env.shards(&["create", "db"])
        .code(1)
        .says(&["setup hook step 2/2", "undid the create"]);
    let pid_file = env.shards_home.join("worktrees/repo/daemon.pid");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _kill = KillSession(pid);
    wait_for("the daemon to be stopped", || !alive(pid));
    assert_eq!(env.shard_rows(), before);
    assert!(!env.shards_home.join("worktrees/repo/db").exists());
}

#[test]
fn ctrl_c_during_prunes_teardown_stops_it_and_keeps_the_debris_for_later() {
    let (env, wt) = hanging_teardown();
    // A destroy killed after its claim leaves debris for prune.
    env.crash_at("destroy:marked", &["destroy", "--no-hooks", "web"]);
    let before = env.shard_rows();
    let (code, stderr) = interrupted_in_teardown(&env, &wt, &["prune"], "prune.err");
    assert_eq!(code, Some(130), "{stderr}");
    assert_nothing_runs_in(&wt);
    assert_eq!(env.shard_rows(), before);
    assert!(wt.is_dir());
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn a_link_another_user_planted_in_a_shared_logs_folder_is_not_written_through() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let peer = crate::common::peer();
    let env = TestEnv::new();
    std::fs::set_permissions(&env.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The admin shares the home with a group once.
    std::fs::create_dir(&env.shards_home).unwrap();
    std::os::unix::fs::chown(&env.shards_home, Some(0), Some(peer.gid)).unwrap();
    std::fs::set_permissions(&env.shards_home, std::fs::Permissions::from_mode(0o2770)).unwrap();
    env.write_config("[hooks]\nstart = \"echo the-start-hooks-output\"\n");
    env.shards(&["create", "first", "--json"]).ok();
    let logs = env.shards_home.join("logs");
    assert!(logs.is_dir());
    // The other user of the home plants links where this user's next
    // start logs will go, to a file of this user's.
    let mine = env.root.join("mine.txt");
    std::fs::write(&mine, "my own file\n").unwrap();
    for id in 1..=30 {
        let link = logs.join(format!("repo-web-{id}.log"));
        let status = Command::new("ln")
            .args(["-s", mine.to_str().unwrap(), link.to_str().unwrap()])
            .uid(peer.uid)
            .gid(peer.gid)
            .status()
            .unwrap();
        assert!(status.success());
    }
    // The shard is made; its start hook is not started, and shards says why.
    env.shards(&["create", "web", "--json"])
        .ok()
        .says(&["the start hook did not start", "symbolic link"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own file\n");
}

#[test]
fn status_shows_the_server_a_start_hook_left_running_when_its_shell_has_ended() {
    // `cmd &` (or a script that ends once its server is up): the hook's
    // shell ends at once, its server runs on in the hook's session.
    let start = "python3 -u -m http.server $PORT --bind 127.0.0.1 >/dev/null 2>&1 &";
    let (env, report, pid, _kill) = TestEnv::started(start, "web");
    server_answers(&report);
    wait_for("the hook's shell to end", || !alive(pid));
    let server = session(pid);
    assert_eq!(server.len(), 1, "{server:?}");
    let status = env.shards(&["status"]).ok();
    assert!(
        status
            .stdout
            .contains(&format!("still runs pid {}", server[0])),
        "{status}"
    );
    let json = env.shards(&["status", "--json"]).ok().json();
    let start = &json["shards"][0]["start"];
    assert_eq!(start["alive"], false, "{json}");
    assert_eq!(start["session"], serde_json::json!([server[0]]), "{json}");
    env.shards(&["destroy", "--reap", "web"]).ok();
}

#[test]
fn what_a_teardown_hook_leaves_in_the_background_does_not_outlive_the_destroy() {
    let env = TestEnv::new();
    env.write_config("[hooks]\nteardown = \"sleep 300 & echo $! > ../teardown.pid\"\n");
    let wt = env.create_worktree("web");
    env.shards(&["destroy", "web"]).ok();
    let pid: i64 = std::fs::read_to_string(wt.parent().unwrap().join("teardown.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _kill = KillSession(pid);
    let gone = !alive(pid);
    // SAFETY: only the test's own leftover `sleep`.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    assert!(gone, "the teardown's background sleep still runs");
    assert!(!wt.exists());
}
