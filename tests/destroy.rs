//! `shards destroy`: refusing work, force, branches, and freed blocks.

use crate::common::{TestEnv, ports, read};

use crate::common::shard_path as path;

#[test]
fn refuses_untracked_and_uncommitted_work_and_force_proceeds() {
    let env = TestEnv::new();
    let wt = env.create_worktree("x");
    std::fs::write(wt.join("new.txt"), "work").unwrap();
    let out = env.shards(&["destroy", "x"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: the worktree of `x` has uncommitted or untracked changes (0 changed, 1 untracked: new.txt): [TMP]/shards_home/worktrees/repo/x
    hint: commit or stash the changes, or run `shards destroy --force x` to discard them
    [exit status: 1]
    ");
    assert!(wt.join("new.txt").exists());
    assert_eq!(env.list().len(), 1);

    std::fs::remove_file(wt.join("new.txt")).unwrap();
    std::fs::write(wt.join("README.md"), "changed").unwrap();
    env.shards(&["destroy", "x"]).code(1).says(&["README.md"]);
    assert!(wt.exists());

    env.shards(&["destroy", "--force", "x"])
        .ok()
        .says(&[&format!(
            "freed ports {}-{}",
            env.block(0).0,
            env.block(0).1
        )]);
    assert!(!wt.exists());
    assert!(env.list().is_empty());
    env.assert_only_main_worktree();
}

#[test]
fn keeps_a_branch_with_commits_found_nowhere_else() {
    let env = TestEnv::new();
    let wt = env.create_worktree("x");
    env.git_commit_file(&wt, "feature.txt", "f", "feature");
    let out = env
        .shards(&["destroy", "x", "--json"])
        .ok()
        .says(&["kept branch `x`"]);
    let doc = out.json();
    assert_eq!(doc["destroyed"][0]["branch_deleted"], false);
    assert_eq!(doc["destroyed"][0]["branch"]["fate"], "kept");
    assert_eq!(doc["destroyed"][0]["branch"]["kept_because"], "unmerged");
    assert!(
        doc["destroyed"][0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("commits that no other branch")
    );
    assert!(env.branches(&env.repo).contains(&"x".to_string()));
    // Once merged, a branch made by shards is deleted.
    let r = env.create("y");
    let _ = r;
    env.git(&env.repo, &["merge", "-q", "x"]);
    let doc = env.shards(&["destroy", "y", "--json"]).ok().json();
    assert_eq!(doc["destroyed"][0]["branch"]["fate"], "deleted", "{doc:#}");
    assert_eq!(env.branches(&env.repo), vec!["main", "x"]);
}

#[test]
fn destroys_several_and_checks_every_name_first() {
    let env = TestEnv::new();
    env.create("a");
    env.create("b");
    env.shards(&["destroy", "a", "nope"])
        .code(1)
        .says(&["no shard named `nope`"]);
    assert_eq!(
        env.list().len(),
        2,
        "a was destroyed although a later name was wrong"
    );
    let doc = env.shards(&["destroy", "a", "b", "--json"]).ok().json();
    let freed: Vec<(u64, u64)> = doc["destroyed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["ports"]["start"].as_u64().unwrap(),
                d["ports"]["end"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(freed, vec![env.block(0), env.block(1)]);
    assert!(env.list().is_empty());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    assert!(env.worktree_folders().is_empty());
}

#[test]
fn a_worktree_deleted_by_hand_can_still_be_destroyed() {
    let env = TestEnv::new();
    let r = env.create("x");
    std::fs::remove_dir_all(path(&r)).unwrap();
    env.shards(&["destroy", "x"]).ok();
    assert!(env.list().is_empty());
    let again = env.create("y");
    assert_eq!(ports(&again["shard"]), env.block(0));
}

#[test]
fn a_folder_that_is_no_longer_the_worktree_is_never_deleted() {
    let env = TestEnv::new();
    let wt = env.create_worktree("x");
    std::fs::remove_dir_all(&wt).unwrap();
    std::fs::create_dir_all(&wt).unwrap();
    std::fs::write(wt.join("precious.txt"), "mine").unwrap();
    env.shards(&["destroy", "--force", "x"])
        .code(1)
        .says(&["leaves it alone"]);
    assert_eq!(read(&wt.join("precious.txt")), "mine");
}

#[test]
fn commits_on_a_detached_head_are_work_that_destroy_refuses_to_lose() {
    let env = TestEnv::new();
    let wt = env.create_worktree("det");
    env.git(&wt, &["checkout", "-q", "--detach"]);
    env.git_commit_file(&wt, "d.txt", "d", "detached work");
    env.shards(&["destroy", "det"])
        .code(1)
        .says(&["HEAD is detached at"]);
    assert!(wt.exists());
    // Once the commit is on a branch, destroy goes ahead and keeps nothing it should not.
    env.git(&wt, &["branch", "keep-it"]);
    env.shards(&["destroy", "det"]).ok();
    assert!(env.branches(&env.repo).contains(&"keep-it".to_string()));
}

#[test]
fn a_worktree_moved_with_git_is_followed_not_freed() {
    let env = TestEnv::new();
    let r = env.create("mv");
    let moved = env.git_move_shard(&r, "moved");
    // Every command follows it as the ledger opens (tests/list_moved.rs).
    let s = &env.list()[0];
    assert_eq!(s["status"], "active");
    assert_eq!(s["path"].as_str().unwrap(), moved.to_str().unwrap());
    // The block stays held: the next shard gets another one.
    assert_eq!(ports(&env.create("next")["shard"]), env.block(1));
    // destroy follows the move too, and refuses the moved worktree's work.
    std::fs::write(moved.join("w.txt"), "w").unwrap();
    env.shards(&["destroy", "mv"]).code(1).says(&["w.txt"]);
}

#[test]
fn a_name_given_twice_is_destroyed_once() {
    let env = TestEnv::new();
    env.create("a");
    let out = env.shards(&["destroy", "a", "a"]).ok();
    assert_eq!(out.stderr.matches("Destroyed shard").count(), 1, "{out}");
}

#[test]
fn issue_17_destroy_says_what_went_and_what_was_kept() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let merged = path(&env.create("merged"));
    let ahead = path(&env.create("ahead"));
    env.git_commit_file(&ahead, "a.txt", "a", "a");
    env.git(&env.repo, &["branch", "before"]);
    env.shards(&["create", "old", "--branch", "before"]).ok();
    let out = env.shards(&["destroy", "merged", "ahead", "old"]).ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        --- stderr ---
        Destroyed shard `merged`: removed [TMP]/shards_home/worktrees/repo/merged, freed ports 10000-10009, deleted its branch.
        Destroyed shard `ahead`: removed [TMP]/shards_home/worktrees/repo/ahead, freed ports 10010-10019, kept branch `ahead`: it has commits that no other branch or tag contains.
        Destroyed shard `old`: removed [TMP]/shards_home/worktrees/repo/old, freed ports 10020-10029, kept branch `before`: it existed before the shard.
        [exit status: 0]
        ");
    assert!(!merged.exists() && !ahead.exists());
    let out = env.shards(&["destroy", "nope"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @r"
        --- stderr ---
        shards: error: no shard named `nope` in [TMP]/repo
        hint: run `shards list` to see the shards of this repository (`--all` for every repository)
        [exit status: 1]
        ");
}
