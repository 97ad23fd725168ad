//! Issue 10, "nothing lost": destroy, prune and interrupted operations never
//! take the user's work or a live block. Each test checks files, refs, rows
//! and blocks before and after.

use crate::common::{TestEnv, shard_path};

/// A killed destroy that had found the worktree clean, and had deleted part
/// of it when it died, is finished by `prune`: the missing files are the
/// destroy's own doing, not work. (Before: prune kept it, "holds work (N
/// changed)".)
#[test]
fn issue_10_a_destroy_killed_mid_removal_is_finished_by_prune() {
    let mut env = TestEnv::new();
    let r = env.create("x");
    let wt = shard_path(&r);
    env.set("SHARDS_TEST_CRASH_AT", "destroy:marked");
    assert_eq!(env.shards(&["destroy", "x"]).code, -1, "not killed");
    // What the killed destroy had already removed when it died.
    std::fs::remove_file(wt.join("README.md")).unwrap();
    std::fs::remove_dir_all(wt.join("src")).unwrap();
    env.set("SHARDS_TEST_CRASH_AT", "");
    assert_eq!(env.list()[0]["status"], "destroying");
    let out = env.shards(&["prune", "--json"]).ok().json();
    assert_eq!(out["shards"][0]["reclaimed"], true, "{out}");
    assert!(env.list().is_empty());
    assert!(!wt.exists());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    assert_eq!(env.git(&env.repo, &["worktree", "list"]).lines().count(), 1);
    // Its block is free again: the next shard gets the same ports.
    assert_eq!(env.create("y")["shard"]["ports"], r["shard"]["ports"]);
}

/// The same killed destroy is finished by repeating `destroy NAME`.
#[test]
fn issue_10_a_destroy_killed_mid_removal_is_finished_by_destroying_again() {
    let mut env = TestEnv::new();
    let r = env.create("x");
    let wt = shard_path(&r);
    env.set("SHARDS_TEST_CRASH_AT", "destroy:marked");
    assert_eq!(env.shards(&["destroy", "x"]).code, -1, "not killed");
    std::fs::remove_file(wt.join("README.md")).unwrap();
    env.set("SHARDS_TEST_CRASH_AT", "");
    env.shards(&["destroy", "x"]).ok();
    assert!(env.list().is_empty());
    assert!(!wt.exists());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

/// A killed *forced* destroy of a worktree with work is left to the user:
/// neither prune nor a plain destroy finishes it; `destroy --force` does.
#[test]
fn issue_10_a_killed_forced_destroy_of_work_stays_the_users_choice() {
    let mut env = TestEnv::new();
    let r = env.create("x");
    let wt = shard_path(&r);
    std::fs::write(wt.join("work.txt"), "precious").unwrap();
    env.set("SHARDS_TEST_CRASH_AT", "destroy:marked");
    assert_eq!(env.shards(&["destroy", "--force", "x"]).code, -1);
    env.set("SHARDS_TEST_CRASH_AT", "");
    let out = env.shards(&["prune", "--json"]).ok().json();
    assert_eq!(out["shards"][0]["reclaimed"], false, "{out}");
    let plain = env.shards(&["destroy", "x"]).code(1);
    assert!(plain.stderr.contains("work.txt"), "{plain}");
    assert_eq!(
        std::fs::read_to_string(wt.join("work.txt")).unwrap(),
        "precious"
    );
    assert_eq!(env.list().len(), 1);
    env.shards(&["destroy", "--force", "x"]).ok();
    assert!(env.list().is_empty() && !wt.exists());
}
