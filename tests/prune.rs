//! `shards prune`: reclaiming deleted worktrees, gone repositories and
//! killed creates and destroys, without touching live work.

use crate::common::{TestEnv, ports, read};

use crate::common::shard_path as path;

#[test]
fn a_worktree_deleted_by_hand_is_reclaimed_and_its_block_reused() {
    let env = TestEnv::new();
    let a = env.create("a");
    env.create("b");
    std::fs::remove_dir_all(path(&a)).unwrap();
    let dry = env.shards(&["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["shards"][0]["name"], "a");
    assert_eq!(dry["shards"][0]["reason"], "its worktree is gone");
    assert_eq!(env.list().len(), 2, "--dry-run changed the ledger");
    let out = env.shards(&["prune"]).ok().says(&["Reclaimed 1 shard"]);
    assert!(out.stdout.contains("reclaimed"), "{out}");
    let left = env.list();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "b");
    // git forgot the worktree and the untouched branch is gone.
    assert_eq!(env.git(&env.repo, &["worktree", "list"]).lines().count(), 2);
    assert_eq!(env.branches(&env.repo), vec!["b", "main"]);
    assert_eq!(ports(&env.create("c")["shard"]), env.block(0));
}

#[test]
fn live_shards_and_their_work_are_never_touched() {
    let env = TestEnv::new();
    let a = env.create("a");
    std::fs::write(path(&a).join("work.txt"), "wip").unwrap();
    env.shards(&["prune"]).ok().says(&["Nothing to prune"]);
    assert_eq!(read(&path(&a).join("work.txt")), "wip");
    assert_eq!(env.list().len(), 1);
}

#[test]
fn a_repository_deleted_by_hand_is_reclaimed_with_all() {
    let env = TestEnv::new();
    let other = env.new_repo("other");
    env.shards_in(&other, &["create", "x"]).ok();
    env.create("mine");
    std::fs::remove_dir_all(&other).unwrap();
    let doc = env.shards(&["prune", "--all", "--json"]).ok().json();
    let names: Vec<&str> = doc["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["x"]);
    assert_eq!(doc["shards"][0]["reason"], "its repository is gone");
    let all = env.shards(&["list", "--all", "--json"]).ok().json();
    assert_eq!(all["shards"].as_array().unwrap().len(), 1);
}

#[test]
fn a_killed_create_leaves_a_creating_row_that_prune_reclaims() {
    for step in [
        "create:reserved",
        "create:branch",
        "create:checkout",
        "create:worktree",
        "create:env",
    ] {
        let mut env = TestEnv::new();
        env.create("keep");
        env.set("SHARDS_TEST_CRASH_AT", step);
        let out = env.shards(&["create", "doomed"]);
        assert_eq!(out.code, -1, "{step}: not killed by SIGKILL: {out}");
        let listed = env.shards(&["list", "--json"]);
        // The crash knob stays set, but list never reaches a crash point.
        let listed = listed.ok().json();
        let doomed = listed["shards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "doomed")
            .cloned();
        assert_eq!(
            doomed.as_ref().map(|d| d["status"].clone()),
            Some("creating".into()),
            "{step}"
        );
        let out = env.shards(&["prune"]).ok();
        assert!(
            out.stdout.contains("its create was interrupted"),
            "{step}: {out}"
        );
        let left = env.list();
        assert_eq!(left.len(), 1, "{step}");
        assert_eq!(env.branches(&env.repo), vec!["keep", "main"], "{step}");
        assert_eq!(env.worktree_folders().len(), 1, "{step}");
        assert_eq!(
            env.git(&env.repo, &["worktree", "list"]).lines().count(),
            2,
            "{step}"
        );
    }
}

#[test]
fn a_killed_destroy_is_finished_by_prune() {
    for step in ["destroy:marked", "destroy:removed"] {
        let mut env = TestEnv::new();
        let r = env.create("x");
        env.set("SHARDS_TEST_CRASH_AT", step);
        let out = env.shards(&["destroy", "x"]);
        assert_eq!(out.code, -1, "{step}: not killed by SIGKILL: {out}");
        assert_eq!(env.list()[0]["status"], "destroying", "{step}");
        env.shards(&["prune"]).ok();
        assert!(env.list().is_empty(), "{step}");
        assert!(!path(&r).exists(), "{step}");
        assert_eq!(env.branches(&env.repo), vec!["main"], "{step}");
    }
}

#[test]
fn a_killed_forced_destroy_of_a_worktree_with_work_is_never_finished_by_prune() {
    let mut env = TestEnv::new();
    let r = env.create("x");
    std::fs::write(path(&r).join("work.txt"), "precious").unwrap();
    env.set("SHARDS_TEST_CRASH_AT", "destroy:marked");
    assert_eq!(env.shards(&["destroy", "--force", "x"]).code, -1);
    assert_eq!(env.list()[0]["status"], "destroying");
    env.assert_prune_keeps("holds work");
    assert_eq!(read(&path(&r).join("work.txt")), "precious");
    assert_eq!(env.list().len(), 1);
    // The user can still finish it on purpose.
    let mut env = env;
    env.set("SHARDS_TEST_CRASH_AT", "none");
    env.shards(&["destroy", "--force", "x"]).ok();
    assert!(env.list().is_empty());
}

#[test]
fn issue_17_prune_says_what_it_would_reclaim_then_reclaims_it() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let gone = path(&env.create("gone"));
    env.create("here");
    std::fs::remove_dir_all(&gone).unwrap();
    let out = env.shards(&["prune", "--dry-run"]).ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        NAME  PORTS        ACTION         REASON
        gone  10000-10009  would reclaim  its worktree is gone
        --- stderr ---
        Would reclaim 1 shard(s); run without --dry-run to do it.
        [exit status: 0]
        ");
    let out = env.shards(&["prune"]).ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        NAME  PORTS        ACTION     REASON
        gone  10000-10009  reclaimed  its worktree is gone
        --- stderr ---
        deleted branch `gone`: every commit on it is on another branch or tag
        Reclaimed 1 shard(s).
        [exit status: 0]
        ");
    let out = env.shards(&["prune", "--dry-run"]).ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        --- stderr ---
        Nothing to prune.
        [exit status: 0]
        ");
}
