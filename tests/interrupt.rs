//! Issue 10, case 4: SIGINT or SIGTERM during `create` runs the same undo as
//! a failure: no `creating` row, no partial folder, no branch and no entry
//! in git's worktree list remain, and the exit code is 130 or 143. Real
//! signals sent to the real binary at several moments of a create of a
//! repository of a few thousand files.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use git2::{Repository, Signature, Time};

use crate::common::TestEnv;

const FILES: usize = 3000;

/// Commits `FILES` files (30 folders of 100) on `main`, written straight
/// into the object store and packed, so the checkout of a shard takes a
/// while (about a second).
fn grow(env: &TestEnv) {
    let repo = Repository::open(&env.repo).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let mut root = repo.treebuilder(Some(&head.tree().unwrap())).unwrap();
    for d in 0..FILES / 100 {
        let mut dir = repo.treebuilder(None).unwrap();
        for f in 0..100 {
            let blob = repo
                .blob(format!("file {d}/{f}\n{}\n", "x".repeat(200)).as_bytes())
                .unwrap();
            dir.insert(format!("f{f:03}.txt"), blob, 0o100644).unwrap();
        }
        let dir = dir.write().unwrap();
        root.insert(format!("d{d:02}"), dir, 0o040000).unwrap();
    }
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let sig = Signature::new("Test", "test@example.com", &Time::new(1_700_000_100, 0)).unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "many files", &tree, &[&head])
        .unwrap();
    env.git(&env.repo, &["repack", "-adq"]);
}

/// The ledger's rows, git's refs and worktrees, git's worktree records and
/// the shards' folders, as one text to compare.
fn state(env: &TestEnv) -> String {
    let rows = env.shard_rows();
    let records: Vec<String> = std::fs::read_dir(env.repo.join(".git/worktrees"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    format!(
        "rows: {rows:?}\nrecords: {records:?}\nfolders: {:?}\nlocks: {:?}\n{}",
        env.worktree_folders(),
        git_locks(&env.repo.join(".git")),
        env.git_records()
    )
}

/// Returns git's lock files under `dir` (`refs/heads/big.lock`,
/// `index.lock`): one left behind fails the user's next git command.
fn git_locks(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(git_locks(&path));
        } else if path.extension().is_some_and(|e| e == "lock") {
            found.push(path.to_string_lossy().into_owned());
        }
    }
    found
}

fn spawn_create(env: &TestEnv, name: &str) -> Child {
    env.command_in(&env.repo, &["create", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn send(child: &Child, sig: i32) {
    // SAFETY: kill sends a signal to our own child; no memory effects.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Waits until `path` exists (the create made the worktree folder and is
/// about to check out, or checking out); false if the create ended first.
fn wait_for(path: &Path, child: &mut Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if path.exists() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    panic!("the create made no folder in 30 s");
}

fn signame(sig: i32) -> &'static str {
    if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// Checks one interrupted create: it undid itself (exit 128+sig, state as
/// before), or the signal came before shards caught it (killed, nothing
/// written) or after the create was done (a whole, active shard, which is
/// then destroyed). Returns true when it undid itself.
fn check(env: &TestEnv, before: &str, sig: i32, out: &Output, when: &str) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!("{} at {when}: {:?}\n{stderr}", signame(sig), out.status);
    if out.status.code() == Some(128 + sig) {
        assert!(
            stderr.contains(&format!(
                "interrupted ({}); undid the create of `big`",
                signame(sig)
            )),
            "{what}"
        );
        assert_eq!(state(env), before, "{what}");
        return true;
    }
    let listed = env.list();
    assert!(
        listed.iter().all(|s| s["status"] == "active"),
        "{what}: {listed:?}"
    );
    if listed.iter().any(|s| s["name"] == "big") {
        // The create was done when the signal came: it made a whole shard.
        assert!(
            out.status.signal() == Some(sig) || out.status.success(),
            "{what}"
        );
        let wt = env.shards_home.join("worktrees/repo/big");
        assert!(wt.join("d29/f099.txt").is_file(), "{what}");
        env.shards(&["destroy", "big"]).ok();
    } else {
        assert_eq!(out.status.signal(), Some(sig), "{what}");
    }
    assert_eq!(state(env), before, "{what}");
    false
}

/// Before: SIGINT 20-600 ms into a create killed it at once and left a
/// `creating` row, a partial checkout, a branch and git's record. Now each
/// signal, sent at several delays and right when the worktree folder
/// appears (mid-checkout), ends in the undo, or in a whole shard when the
/// create had finished.
#[test]
fn issue_10_sigint_or_sigterm_during_create_undoes_it() {
    let env = TestEnv::new();
    grow(&env);
    env.create("keep");
    let before = state(&env);
    let folder = env.shards_home.join("worktrees/repo/big");
    let mut undone = 0;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // Mid-checkout: the folder exists, so the checkout is starting or
        // running, and the handler is in place: it must undo.
        let mut child = spawn_create(&env, "big");
        assert!(wait_for(&folder, &mut child), "the create ended early");
        send(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert!(
            check(&env, &before, sig, &out, "mid-checkout"),
            "not undone: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        undone += 1;
        for ms in [20, 600] {
            let child = spawn_create(&env, "big");
            std::thread::sleep(Duration::from_millis(ms));
            send(&child, sig);
            let out = child.wait_with_output().unwrap();
            undone += check(&env, &before, sig, &out, &format!("{ms} ms")) as usize;
        }
    }
    assert!(undone >= 2, "only {undone} creates were undone");
    // The block is free again and the repository as it was: a create works.
    env.shards(&["create", "big"]).ok();
    assert!(folder.join("d29/f099.txt").is_file());
}

/// True while `sig` is pending for process `pid`: sent, not yet handled
/// (two pending signals of one kind are one).
fn pending(pid: u32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter_map(|l| l.strip_prefix("ShdPnd:").or(l.strip_prefix("SigPnd:")))
        .any(|mask| u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & 1 << (sig - 1) != 0))
}

/// A second signal while the first is being handled ends the process at
/// once (the user's way out of a slow undo); what it leaves is a `creating`
/// row, which `prune` reclaims, giving back the state before.
///
/// The second SIGINT is sent once the first has been handled (no longer
/// pending), so it lands in the undo, unless the undo was already done: that
/// try must have undone everything, and the test tries again, failing if no
/// try of five reached the kill.
#[test]
fn issue_10_a_second_signal_kills_and_prune_reclaims() {
    let env = TestEnv::new();
    grow(&env);
    let before = state(&env);
    let folder = env.shards_home.join("worktrees/repo/big");
    let mut killed = None;
    for _ in 0..5 {
        let mut child = spawn_create(&env, "big");
        assert!(wait_for(&folder, &mut child), "the create ended early");
        send(&child, libc::SIGINT);
        let sent = Instant::now();
        while pending(child.id(), libc::SIGINT) {
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "SIGINT never handled"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        send(&child, libc::SIGINT);
        let out = child.wait_with_output().unwrap();
        if out.status.signal() == Some(libc::SIGINT) {
            killed = Some(out);
            break;
        }
        // The undo was over before the second signal came.
        assert!(check(&env, &before, libc::SIGINT, &out, "second signal"));
    }
    let out = killed.expect("in five tries the second SIGINT never came during the undo");
    let listed = env.list();
    assert_eq!(listed.len(), 1, "{out:?}");
    assert_eq!(listed[0]["status"], "creating");
    let pruned = env.shards(&["prune"]).ok();
    assert!(
        pruned.stdout.contains("its create was interrupted"),
        "{pruned}"
    );
    assert_eq!(state(&env), before);
}

/// The handlers are only around the create: `create -- CMD` execs the
/// command with the default actions, so a signal ends it as usual.
#[test]
fn issue_10_create_then_command_gets_default_signals() {
    let env = TestEnv::new();
    let out = env
        .command_in(
            &env.repo,
            &[
                "create",
                "x",
                "--",
                "sh",
                "-c",
                "kill -TERM $$; echo survived",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"));
    assert_eq!(env.list()[0]["status"], "active");
}
