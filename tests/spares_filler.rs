//! The background spare filler (issue 19): a create with spares on starts
//! a detached `shards spares filler` at idle priority that makes spares up
//! to the count again; create does not wait for it, `spares fill` says it
//! is at work, `spares fill --wait` waits for it, and fillers started at
//! once never make more spares than the count.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestEnv;

/// A world keeping `count` spares, whose spares' setup waits while the
/// file `hold` exists in the test's folder (a filler caught at work).
fn world(count: u16) -> TestEnv {
    let mut env = TestEnv::new();
    env.small_pool(10, 10);
    let hold = env.root.join("hold");
    env.write_config(&format!(
        "[spares]\ncount = {count}\n[hooks]\nsetup = \"while [ -n \\\"$SHARD_SPARE\\\" ] && [ -e '{}' ]; do sleep 0.05; done\"\n",
        hold.display()
    ));
    env.with_filler();
    env
}

/// Returns `spares --json`.
fn spares(env: &TestEnv) -> Value {
    env.shards(&["spares", "--json"]).ok().json()
}

/// Returns the pids of the fillers working for this test (by their folder).
fn fillers(env: &TestEnv) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_filler = words.windows(2).any(|w| w == [b"spares", b"filler"]);
        let here = std::fs::read_link(entry.path().join("cwd"))
            .is_ok_and(|cwd| cwd.starts_with(&env.root));
        if is_filler && here {
            found.push(pid);
        }
    }
    // A filler's child between its fork and its exec still reads as one.
    let parents: Vec<String> = found.iter().map(|&pid| stat_field(pid, 4)).collect();
    let pids: Vec<String> = found.iter().map(|pid| pid.to_string()).collect();
    found
        .into_iter()
        .zip(parents)
        .filter(|(_, parent)| !pids.contains(parent))
        .map(|(pid, _)| pid)
        .collect()
}

/// Returns whether any process runs with its folder under `dir`.
fn runs_in(dir: &Path) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir)))
}

/// Waits (up to a minute) until `done` holds.
#[track_caller]
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Returns field `n` (from 1, as proc(5) counts) of /proc/PID/stat.
fn stat_field(pid: i32, n: usize) -> String {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return String::new();
    };
    // The command name (field 2) may hold spaces; it ends at the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 3).unwrap().to_string()
}

#[test]
fn a_claim_starts_an_idle_filler_that_create_does_not_wait_for() {
    let env = world(1);
    env.shards(&["spares", "fill"]).ok();
    let hold = env.root.join("hold");
    std::fs::write(&hold, "").unwrap();

    let made = env.shards(&["create", "a", "--json"]).ok().json();
    assert_eq!(made["from_spare"], true, "{made}");
    // The create is back while its filler is held in the spare's setup.
    wait_for("the filler to start a spare", || {
        spares(&env)["spares"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["state"] == "filling")
    });
    let pids = fillers(&env);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let pid = pids[0];
    assert_eq!(stat_field(pid, 19), "19", "nice 19");
    let ionice = std::process::Command::new("ionice")
        .args(["-p", &pid.to_string()])
        .output()
        .expect("ionice (util-linux) reads a process's I/O class");
    assert_eq!(String::from_utf8_lossy(&ionice.stdout).trim(), "idle");
    // Its own session: no terminal signal of the create's reaches it.
    assert_eq!(stat_field(pid, 6), pid.to_string(), "session leader");

    // The listing and a foreground fill say a filler is at work; the fill
    // changes nothing.
    assert_eq!(spares(&env)["filler_at_work"], true);
    let out = env.shards(&["spares", "fill"]).ok();
    assert!(out.stderr.contains("background filler is at work"), "{out}");
    let now = env.shards(&["spares", "fill", "--json"]).ok().json();
    assert_eq!(now["filler_at_work"], true);
    assert_eq!(now["made"], 0);

    // `--wait` waits for it, then finds nothing to make.
    std::fs::remove_file(&hold).unwrap();
    let out = env.shards(&["spares", "fill", "--wait", "--json"]).ok();
    let after = out.json();
    assert_eq!(after["made"], 0, "the filler made it: {out}");
    let list = after["spares"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "ready");
    wait_for("the filler to exit", || fillers(&env).is_empty());
    let log = std::fs::read_to_string(Path::new(after["filler_log"].as_str().unwrap())).unwrap();
    assert!(
        log.contains(&format!("Filler (pid {pid}) at work")),
        "{log}"
    );
    assert!(log.contains("Made 1 spare."), "{log}");
}

#[test]
fn fillers_started_at_once_never_make_more_than_the_count() {
    let env = world(2);
    env.shards(&["spares", "fill"]).ok();
    let jobs: Vec<Vec<String>> = (0..6)
        .map(|i| vec!["create".into(), format!("s{i}"), "--json".into()])
        .collect();
    let warm = env
        .shards_at_once(&jobs)
        .into_iter()
        .map(|o| o.ok().json())
        .filter(|j| j["from_spare"] == true)
        .count();
    // Two spares were ready; a filler may have made another before the
    // last creates came.
    assert!(warm >= 1, "{warm} from spares");
    // Six creates started six fillers: one works, one waits, the others
    // leave at once, and each counts the spares within its turn.
    wait_for("the fillers to exit", || fillers(&env).is_empty());
    let after = spares(&env);
    let list = after["spares"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{after}");
    assert!(list.iter().all(|s| s["state"] == "ready"), "{after}");
    assert_eq!(env.list().len(), 6);
    crate::common::disjoint_blocks(
        &env.list()
            .into_iter()
            .chain(list.iter().cloned())
            .collect::<Vec<_>>(),
    );
}

/// Starts a filler by claiming the ready spare, and waits until it is
/// held in its spare's setup; returns its pid.
fn filler_at_work(env: &TestEnv, name: &str) -> i32 {
    std::fs::write(env.root.join("hold"), "").unwrap();
    let made = env.shards(&["create", name, "--json"]).ok().json();
    assert_eq!(made["from_spare"], true, "{made}");
    wait_for("the filler to start a spare", || {
        spares(env)["spares"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["state"] == "filling")
    });
    let pids = fillers(env);
    assert_eq!(pids.len(), 1, "{pids:?}");
    pids[0]
}

/// Returns the folders under the home's spares folder (the lock folder
/// `.fill` aside).
fn spare_folders(env: &TestEnv) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(env.shards_home.join("spares/repo"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_filler_stopped_by_sigterm_undoes_its_spare_and_one_killed_is_pruned() {
    let env = world(1);
    env.shards(&["spares", "fill"]).ok();

    // SIGTERM: the filler undoes the spare it was making, as a create does.
    let pid = filler_at_work(&env, "a");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_for("the filler to exit", || fillers(&env).is_empty());
    assert_eq!(spares(&env)["spares"], serde_json::json!([]));
    assert_eq!(spare_folders(&env), Vec::<std::path::PathBuf>::new());
    let log =
        std::fs::read_to_string(Path::new(spares(&env)["filler_log"].as_str().unwrap())).unwrap();
    assert!(log.contains("interrupted"), "{log}");

    // SIGKILL: the half-made spare is debris that one prune reclaims.
    std::fs::remove_file(env.root.join("hold")).unwrap();
    env.shards(&["spares", "fill"]).ok();
    let pid = filler_at_work(&env, "b");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Gone, or a zombie nobody reaped yet: no longer one that is exiting.
    wait_for("the filler to go", || {
        matches!(stat_field(pid, 3).as_str(), "" | "Z")
    });
    std::fs::remove_file(env.root.join("hold")).unwrap();
    // What the killed setup left (its `sleep`) keeps prune away until it
    // ends; prune says so and what to do.
    let spare_dir = env.shards_home.join("spares");
    wait_for("the setup's leftovers to end", || !runs_in(&spare_dir));
    let pruned = env.shards(&["prune"]).ok();
    assert_eq!(spares(&env)["spares"], serde_json::json!([]), "{pruned}");
    assert_eq!(spare_folders(&env), Vec::<std::path::PathBuf>::new());
    assert_eq!(env.list().len(), 2);
    let worktrees = env.git(&env.repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 3, "{worktrees}");
}
