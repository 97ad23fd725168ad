//! Issue 19, a claim stopped: by SIGINT or SIGTERM at several moments
//! (waiting for the worktree lock, during the move, during the switch,
//! after), by a second signal during the undo, or killed outright: the
//! spare is handed back as it was, or a whole shard exists, or one `prune`
//! finishes the half-made one; `list`, `spares`, git's worktrees and
//! branches agree, and one `prune` has nothing left to do.

use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::spares::{agree, path_of, post_checkout, prune_idle, spares, world};
use crate::common::{TestEnv, ports, shard_path};

// ------------------------------------------------------------- interrupts

/// A world of one spare and `FILES` more files committed after its fill
/// (so the claim's switch writes them), with a `post-checkout` hook and a
/// `git` on PATH that pause (1 s) when told to by a file, saying so by
/// another.
struct Claim {
    env: TestEnv,
    /// Made by the pausing hook or `git` once it pauses.
    paused: PathBuf,
}

const FILES: usize = 300;

impl Claim {
    fn new() -> Claim {
        let mut env = world(1);
        let shim = env.root.join("shim");
        fs::create_dir(&shim).unwrap();
        let paused = env.root.join("paused");
        let real = crate::common::real_git();
        let git = shim.join("git");
        fs::write(
            &git,
            format!(
                "#!/bin/sh\nif [ \"$1 $2\" = 'worktree move' ] && [ -e '{r}/pause-move' ]; then\n  rm '{r}/pause-move'; touch '{p}'; sleep 1\nfi\nexec '{real}' \"$@\"\n",
                r = env.root.display(),
                p = paused.display(),
                real = real
            ),
        )
        .unwrap();
        fs::set_permissions(&git, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        post_checkout(
            &env,
            &format!(
                "if [ -e '{r}/pause-switch' ]; then rm '{r}/pause-switch'; touch '{p}'; sleep 1; fi",
                r = env.root.display(),
                p = paused.display()
            ),
        );
        let path = format!(
            "{}:{}",
            shim.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        env.set("PATH", &path);
        env.shards(&["spares", "fill"]).ok();
        let files: Vec<(String, String)> = (0..FILES)
            .map(|i| (format!("many/f{i:03}.txt"), format!("{i}\n")))
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        env.commit(&refs, "many files");
        Claim { env, paused }
    }

    /// Starts `create big` in a process group of its own.
    fn spawn(&self) -> Child {
        let _ = fs::remove_file(&self.paused);
        self.env
            .command_in(&self.env.repo, &["create", "big", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    /// Waits until `done` holds; false when the create ended first.
    fn wait(&self, child: &mut Child, done: &dyn Fn() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if done() {
                return true;
            }
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the create never got there in 30 s");
    }
}

/// Sends `sig` to `child` alone, or to its process group (a terminal's
/// Ctrl-C reaches git and its hook too).
fn send(child: &Child, sig: i32, group: bool) {
    let pid = child.id() as i32;
    // SAFETY: kill sends a signal to our own child or its group.
    unsafe {
        libc::kill(if group { -pid } else { pid }, sig);
    }
}

/// Checks one interrupted claim: the create exited 128+sig with the spare
/// handed back as it was (`spare`: same name, folder, base, block; ready,
/// detached, no branch `big`), everything agreeing, and `prune` idle.
#[track_caller]
fn handed_back(env: &TestEnv, spare: &Value, sig: i32, out: &Output, when: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!("signal {sig} {when}: {:?}\n{stderr}", out.status);
    assert_eq!(out.status.code(), Some(128 + sig), "{what}");
    assert!(stderr.contains("interrupted"), "{what}");
    agree(env);
    let now = spares(env);
    assert_eq!(now.len(), 1, "{what}");
    for k in ["name", "path", "base", "ports", "created_at"] {
        assert_eq!(now[0][k], spare[k], "{k}: {what}");
    }
    assert!(env.list().is_empty(), "{what}");
    prune_idle(env);
    agree(env);
}

/// SIGINT or SIGTERM, to `create` alone or to its whole process group,
/// while git's `post-checkout` hook of the claim's switch runs, or while
/// `git worktree move` runs, or while the claim waits for the worktree
/// lock: the spare is handed back as it was.
#[test]
fn a_signal_during_a_claim_hands_the_spare_back() {
    let c = Claim::new();
    let env = &c.env;
    let spare = spares(env)[0].clone();
    let before = agree(env);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        for group in [false, true] {
            for step in ["pause-switch", "pause-move"] {
                fs::write(env.root.join(step), "").unwrap();
                let mut child = c.spawn();
                assert!(
                    c.wait(&mut child, &|| c.paused.exists()),
                    "never paused at {step}"
                );
                send(&child, sig, group);
                let out = child.wait_with_output().unwrap();
                handed_back(env, &spare, sig, &out, &format!("at {step}, group {group}"));
                assert_eq!(agree(env), before);
            }
            // Waiting for the worktree lock, which another create holds.
            let lock = fs::File::create(env.repo.join(".git/shards.worktree-lock")).unwrap();
            lock.lock().unwrap();
            let mut child = c.spawn();
            let taken = || {
                env.shards(&["list", "--json"]).ok().json()["shards"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            };
            assert!(c.wait(&mut child, &taken), "the claim ended early");
            std::thread::sleep(Duration::from_millis(50));
            send(&child, sig, group);
            let out = child.wait_with_output().unwrap();
            drop(lock);
            handed_back(
                env,
                &spare,
                sig,
                &out,
                &format!("waiting for the lock, group {group}"),
            );
        }
    }
    // The spare is still good: the next create takes it.
    let made = env.shards(&["create", "big", "--json"]).ok().json();
    assert_eq!(made["from_spare"], true);
    assert!(shard_path(&made).join("many/f299.txt").is_file());
    agree(env);
    prune_idle(env);
}

/// SIGINT at several delays into a claim (the switch writes `FILES` files),
/// to `create` alone or to its process group: the create either undid
/// itself (the spare handed back), or was killed before it caught signals
/// (nothing changed), or finished (a whole shard from the spare); never a
/// half one.
#[test]
fn a_signal_at_any_moment_of_a_claim_leaves_the_spare_or_a_whole_shard() {
    let c = Claim::new();
    let env = &c.env;
    let mut spare = spares(env)[0].clone();
    let mut undone = 0;
    for us in [
        0u64, 2_000, 5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000,
    ] {
        for group in [false, true] {
            let child = c.spawn();
            std::thread::sleep(Duration::from_micros(us));
            send(&child, libc::SIGINT, group);
            let out = child.wait_with_output().unwrap();
            let what = format!(
                "SIGINT at {us} us, group {group}: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.code() == Some(130) {
                handed_back(env, &spare, libc::SIGINT, &out, &what);
                undone += 1;
                continue;
            }
            assert!(
                out.status.signal() == Some(libc::SIGINT) || out.status.success(),
                "{what}"
            );
            agree(env);
            prune_idle(env);
            let listed = env.list();
            if listed.is_empty() {
                // Killed before the claim began: the spare is as it was.
                assert_eq!(spares(env)[0]["name"], spare["name"], "{what}");
                continue;
            }
            // Done: a whole shard; a new spare for the next try.
            assert_eq!(listed.len(), 1, "{what}");
            assert!(
                path_of(&listed[0]).join("many/f299.txt").is_file(),
                "{what}"
            );
            env.shards(&["destroy", "big"]).ok();
            env.shards(&["spares", "fill"]).ok();
            agree(env);
            spare = spares(env)[0].clone();
        }
    }
    assert!(undone > 0, "no claim was undone");
}

/// A second SIGINT while the first one's undo switches the spare back (its
/// `post-checkout` hook pausing) ends `create` at once; what it leaves is a
/// `creating` shard, which one `prune` reclaims (worktree, branch, block),
/// the ledger and git agreeing afterwards.
#[test]
fn a_second_signal_during_the_claims_undo_is_finished_by_one_prune() {
    let c = Claim::new();
    let env = &c.env;
    let flag = env.root.join("pause-switch");
    fs::write(&flag, "").unwrap();
    let mut child = c.spawn();
    assert!(c.wait(&mut child, &|| c.paused.exists()), "never paused");
    send(&child, libc::SIGINT, true);
    // The undo's switch back pauses too.
    fs::remove_file(&c.paused).unwrap();
    fs::write(&flag, "").unwrap();
    assert!(
        c.wait(&mut child, &|| c.paused.exists()),
        "the undo never paused"
    );
    send(&child, libc::SIGINT, true);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGINT), "{out:?}");
    // git, in its own group, outlives shards by the hook's pause at most.
    std::thread::sleep(Duration::from_millis(1500));
    let listed = env.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "creating");
    let pruned = env.shards(&["prune"]).ok();
    assert!(
        pruned.stdout.contains("its create was interrupted"),
        "{pruned}"
    );
    agree(env);
    assert!(env.list().is_empty() && spares(env).is_empty());
    prune_idle(env);
    let made = env.shards(&["create", "big", "--json"]).ok().json();
    assert_eq!(ports(&made["shard"]), env.block(0));
    agree(env);
}

// ------------------------------------------------------------ killed outright

/// A claim killed outright (SIGKILL) after the take (before the move),
/// after the move, after the switch, after the env file: one `prune`
/// reclaims the half-made shard (the spare goes with it, and its block is
/// free: a cold create gets it), leaving a state where the ledger and git
/// agree, and a second finds nothing to do.
#[test]
fn a_claim_killed_outright_is_finished_by_one_prune() {
    for step in [
        "create:reserved",
        "create:spare-moved",
        "create:spare-switched",
        "create:worktree",
        "create:env",
    ] {
        let env = world(1);
        env.shards(&["spares", "fill"]).ok();
        env.commit(&[("a.txt", "1")], "moved on");
        env.crash_at(step, &["create", "big"]);
        let listed = env.list();
        assert_eq!(listed.len(), 1, "{step}");
        assert_eq!(listed[0]["status"], "creating", "{step}");
        let out = env.shards(&["prune"]).ok();
        assert!(
            out.stdout.contains("its create was interrupted"),
            "{step}: {out}"
        );
        agree(&env);
        assert!(env.list().is_empty() && spares(&env).is_empty(), "{step}");
        prune_idle(&env);
        let made = env.shards(&["create", "next", "--json"]).ok().json();
        assert_eq!(made["from_spare"], false, "{step}");
        assert_eq!(ports(&made["shard"]), env.block(0), "{step}");
        agree(&env);
    }
}
