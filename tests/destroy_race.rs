//! Racing `shards destroy` (and `prune --merged`) of one shard: one
//! reclaims it, each other one says that another process got there first,
//! never that the worktree it watched being deleted holds work.

use crate::common::TestEnv;

/// Rounds of racing destroys, and destroys in each: a loser whose check
/// comes while the winner deletes the worktree is the case, and more
/// racers make one more likely (before the fix, about one round in three
/// had a loser say the worktree held uncommitted or untracked changes).
const ROUNDS: usize = 10;
const RACERS: usize = 4;

/// A world whose repository holds 400 files: enough that deleting a
/// worktree takes a while, so a loser's check meets a worktree half gone.
fn with_many_files() -> TestEnv {
    let env = TestEnv::new();
    let files: Vec<(String, String)> = (0..400)
        .map(|i| (format!("src/f{i}.txt"), format!("{i}\n")))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    env.commit(&files, "many files");
    env
}

#[test]
fn issue_18_the_loser_of_two_racing_destroys_says_another_process_destroyed_it() {
    let env = with_many_files();
    let job = vec!["destroy".to_string(), "x".to_string()];
    let mut losers = Vec::new();
    for round in 0..ROUNDS {
        env.create("x");
        let outs = env.shards_at_once(&vec![job.clone(); RACERS]);
        let won = outs.iter().filter(|o| o.code == 0).count();
        assert_eq!(won, 1, "round {round}: {won} won: {outs:?}");
        for loser in outs.into_iter().filter(|o| o.code != 0) {
            assert_eq!(loser.code, 1, "round {round}: {loser}");
            assert!(
                !loser.stderr.contains("uncommitted")
                    && !loser.stderr.contains("untracked")
                    && !loser.stderr.contains("holds"),
                "round {round}: the loser claims work: {loser}"
            );
            assert!(
                loser.stderr.contains("was destroyed by another process")
                    || loser.stderr.contains("is being destroyed by process")
                    // A loser so slow that it looked after the winner was done.
                    || loser.stderr.contains("no shard named `x`"),
                "round {round}: {loser}"
            );
            assert!(loser.stderr.contains("hint: "), "round {round}: {loser}");
            losers.push(loser.stderr);
        }
        assert!(env.list().is_empty(), "round {round}");
    }
    println!("{}", losers.join("\n"));
}

#[test]
fn issue_18_a_prune_merged_racing_a_destroy_never_says_the_worktree_holds_work() {
    let env = with_many_files();
    let destroy = vec!["destroy".to_string(), "x".to_string()];
    let prune: Vec<String> = ["prune", "--merged", "--min-age", "0s", "--json"]
        .map(String::from)
        .to_vec();
    for round in 0..ROUNDS {
        // x's branch is merged: a fast-forward of one commit.
        let wt = crate::common::shard_path(&env.create("x"));
        env.git(&wt, &["commit", "-q", "--allow-empty", "-m", "x"]);
        env.git(&env.repo, &["merge", "-q", "--ff-only", "x"]);
        let outs = env.shards_at_once(&[
            destroy.clone(),
            prune.clone(),
            destroy.clone(),
            prune.clone(),
        ]);
        for out in &outs {
            assert!(
                !out.stdout.contains("holds work") && !out.stderr.contains("uncommitted"),
                "round {round}: {out}"
            );
        }
        assert!(env.list().is_empty(), "round {round}: {outs:?}");
    }
}

/// Makes `dir` (a new folder) something its owner's removal cannot take:
/// a tmpfs mounted on it for root, a read-only folder holding a file
/// otherwise. The returned guard undoes it.
fn unremovable(dir: &std::path::Path) -> impl Drop {
    struct Undo(std::path::PathBuf, bool);
    impl Drop for Undo {
        fn drop(&mut self) {
            use std::os::unix::fs::PermissionsExt;
            if self.1 {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            } else {
                let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
            }
        }
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(dir).unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "none"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {out:?}");
    } else {
        std::fs::write(dir.join("f"), "").unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    }
    Undo(dir.to_path_buf(), root)
}

/// A destroy whose removal fails once the worktree is deleted (here git's
/// record cannot be removed; in the race, a loser's `git status` wrote
/// `index.lock` into it meanwhile, and the removal found it not empty)
/// must not hand the row back `active`: a destroy or prune that then looks
/// at the worktree, half gone, would say it holds work. The row stays
/// claimed, and destroying again finishes it.
#[test]
fn issue_18_a_removal_that_fails_after_deleting_leaves_the_shard_claimed_not_active() {
    let env = with_many_files();
    let wt = crate::common::shard_path(&env.create("x"));
    let record = env.repo.join(".git/worktrees/x/stuck");
    let undo = unremovable(&record);
    let out = env.shards(&["destroy", "x"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(!wt.exists(), "{out}");
    let status = env.list()[0]["status"].as_str().unwrap().to_string();
    assert_ne!(status, "active", "{out}");
    assert_ne!(status, "missing", "{out}");
    drop(undo);
    let again = env.shards(&["destroy", "x"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(env.list().is_empty(), "{again}");
}
