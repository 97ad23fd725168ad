//! Issue 18: a shard's worktree moved with `git worktree move` by hand.
//! Every command follows it, as `prune` and `destroy` did: `list` shows it
//! active at its new folder (never `missing` with "prune reclaims"), the
//! ledger records the new folder, `path`, `status` and `port` use it, and
//! `prune` has nothing to do. A worktree deleted by hand is still
//! `missing`, and prune reclaims it.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, ages, env_value, shard_path};

/// The path the ledger's row for shard `name` holds.
fn ledger_path(env: &TestEnv, name: &str) -> PathBuf {
    let conn = rusqlite::Connection::open_with_flags(
        env.ledger(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let path: String = conn
        .query_row("SELECT path FROM shards WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .unwrap();
    PathBuf::from(path)
}

#[test]
fn issue_18_list_follows_a_worktree_moved_with_git_as_prune_does() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let a = env.create("a");
    env.create("b");
    let new = env.git_move_shard(&a, "elsewhere/a");

    let out = env.shards(&["list"]).ok();
    insta::assert_snapshot!(ages(&env.shown(&out)), @"
    NAME  BRANCH  PORTS        STATUS  AGE  PATH
    a     a       10000-10009  active  Ns   [TMP]/elsewhere/a
    b     b       10010-10019  active  Ns   [TMP]/shards_home/worktrees/repo/b
    --- stderr ---
    [exit status: 0]
    ");
    let listed = env.list();
    assert_eq!(listed[0]["name"], "a");
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(Path::new(listed[0]["path"].as_str().unwrap()), new);
    // The ledger follows it in the same run, as prune and destroy do.
    assert_eq!(ledger_path(&env, "a"), new);

    // Every other command sees the new folder.
    let out = env.shards(&["path", "a"]).ok();
    insta::assert_snapshot!(env.shown(&out), @"
    [TMP]/elsewhere/a
    --- stderr ---
    [exit status: 0]
    ");
    let status = env.shards(&["status", "--json"]).ok().json();
    let s = &status["shards"][0];
    assert_eq!(
        (&s["name"], &s["status"]),
        (&"a".into(), &"active".into()),
        "{status}"
    );
    env.shards(&["port", "--shard", "a", "web"]).ok();
    assert_eq!(
        env_value(&new.join(".env"), "WEB_PORT"),
        Some(env.port(0).to_string())
    );
    let out = env.shards(&["prune", "--dry-run"]).ok();
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    Nothing to prune.
    [exit status: 0]
    ");
    // Its block stays held: the next shard gets another one.
    let c = env.create("c");
    assert_eq!(crate::common::ports(&c["shard"]), env.block(2));
}

#[test]
fn issue_18_a_worktree_deleted_after_a_move_is_missing_and_prune_reclaims_it() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let a = env.create("a");
    let new = env.git_move_shard(&a, "elsewhere/a");
    env.list();
    std::fs::remove_dir_all(&new).unwrap();
    let out = env.shards(&["list"]).ok();
    insta::assert_snapshot!(ages(&env.shown(&out)), @"
    NAME  BRANCH  PORTS        STATUS   AGE  PATH
    a     a       10000-10009  missing  Ns   [TMP]/elsewhere/a
    --- stderr ---
    1 shard(s) are not active; `shards prune` reclaims those whose worktree or creator is gone, or whose folder was replaced.
    [exit status: 0]
    ");
    assert_eq!(env.list()[0]["status"], "missing");
    let pruned = env.shards(&["prune", "--json"]).ok().json();
    assert_eq!(pruned["shards"][0]["reclaimed"], true, "{pruned}");
    assert!(env.list().is_empty());
}

#[test]
fn issue_18_a_worktree_moved_by_hand_without_repair_is_missing_as_git_says() {
    // `mv` without `git worktree repair`: git's record still names the old
    // folder, so git (`git worktree prune`) and shards both take it for gone.
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let a = env.create("a");
    let new = env.root.join("by-hand");
    std::fs::rename(shard_path(&a), &new).unwrap();
    assert_eq!(env.list()[0]["status"], "missing");
    let listed = env.git(&env.repo, &["worktree", "list", "--porcelain"]);
    assert!(listed.contains("prunable"), "{listed}");
    // After `git worktree repair`, the record names the new folder: followed.
    env.git(&new, &["worktree", "repair"]);
    let s = &env.list()[0];
    assert_eq!(
        (&s["status"], s["path"].as_str()),
        (&"active".into(), new.to_str())
    );
}
