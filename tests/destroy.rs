//! `shards destroy`: refusing work, force, branches, and freed blocks.

use std::path::PathBuf;

use crate::common::{TestEnv, ports};

fn path(r: &serde_json::Value) -> PathBuf {
    PathBuf::from(r["shard"]["path"].as_str().unwrap())
}

#[test]
fn refuses_untracked_and_uncommitted_work_and_force_proceeds() {
    let env = TestEnv::new();
    let r = env.create("x");
    let wt = path(&r);
    std::fs::write(wt.join("new.txt"), "work").unwrap();
    let out = env.shards(&["destroy", "x"]).code(1);
    assert!(
        out.stderr.contains("uncommitted or untracked changes"),
        "{out}"
    );
    assert!(out.stderr.contains("new.txt"), "{out}");
    assert!(out.stderr.contains("--force"), "{out}");
    assert!(wt.join("new.txt").exists());
    assert_eq!(env.list().len(), 1);

    std::fs::remove_file(wt.join("new.txt")).unwrap();
    std::fs::write(wt.join("README.md"), "changed").unwrap();
    let out = env.shards(&["destroy", "x"]).code(1);
    assert!(out.stderr.contains("README.md"), "{out}");
    assert!(wt.exists());

    let out = env.shards(&["destroy", "--force", "x"]).ok();
    assert!(out.stderr.contains("freed ports 3000-3099"), "{out}");
    assert!(!wt.exists());
    assert!(env.list().is_empty());
    assert_eq!(env.git(&env.repo, &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn keeps_a_branch_with_commits_found_nowhere_else() {
    let env = TestEnv::new();
    let r = env.create("x");
    let wt = path(&r);
    std::fs::write(wt.join("feature.txt"), "f").unwrap();
    env.git(&wt, &["add", "feature.txt"]);
    env.git(&wt, &["commit", "-q", "-m", "feature"]);
    let out = env.shards(&["destroy", "x", "--json"]).ok();
    let doc = out.json();
    assert_eq!(doc["destroyed"][0]["branch_deleted"], false);
    assert!(
        doc["destroyed"][0]["branch_note"]
            .as_str()
            .unwrap()
            .contains("commits that no other branch")
    );
    assert!(out.stderr.contains("kept branch `x`"), "{out}");
    assert!(env.branches(&env.repo).contains(&"x".to_string()));
    // Once merged, a branch made by shards is deleted.
    let r = env.create("y");
    let _ = r;
    env.git(&env.repo, &["merge", "-q", "x"]);
    env.shards(&["destroy", "y"]).ok();
    assert_eq!(env.branches(&env.repo), vec!["main", "x"]);
}

#[test]
fn destroys_several_and_checks_every_name_first() {
    let env = TestEnv::new();
    env.create("a");
    env.create("b");
    let out = env.shards(&["destroy", "a", "nope"]).code(1);
    assert!(out.stderr.contains("no shard named `nope`"), "{out}");
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
    assert_eq!(freed, vec![(3000, 3099), (3100, 3199)]);
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
    assert_eq!(ports(&again["shard"]), (3000, 3099));
}

#[test]
fn a_folder_that_is_no_longer_the_worktree_is_never_deleted() {
    let env = TestEnv::new();
    let r = env.create("x");
    let wt = path(&r);
    std::fs::remove_dir_all(&wt).unwrap();
    std::fs::create_dir_all(&wt).unwrap();
    std::fs::write(wt.join("precious.txt"), "mine").unwrap();
    let out = env.shards(&["destroy", "--force", "x"]).code(1);
    assert!(out.stderr.contains("leaves it alone"), "{out}");
    assert_eq!(
        std::fs::read_to_string(wt.join("precious.txt")).unwrap(),
        "mine"
    );
}
