//! `shards list`: table, JSON, scope, and the missing state.

use crate::common::{TestEnv, ages, ports};

#[test]
fn lists_a_table_for_people() {
    let env = TestEnv::new();
    env.create("a");
    env.create("fix/b");
    let out = env.shards(&["list"]).ok();
    // AGE changes from run to run: `ages` shows it as `Ns`.
    insta::assert_snapshot!(ages(&env.shown(&out)), @"
    NAME   BRANCH  PORTS        STATUS  AGE  PATH
    a      a       10000-10099  active  Ns   [TMP]/shards_home/worktrees/repo/a
    fix/b  fix/b   10100-10199  active  Ns   [TMP]/shards_home/worktrees/repo/fix-b
    --- stderr ---
    [exit status: 0]
    ");
}

#[test]
fn lists_every_repository_with_all() {
    let env = TestEnv::new();
    env.create("a");
    let other = env.new_repo("other");
    env.shards_in(&other, &["create", "b"]).ok();
    let out = env.shards(&["list", "--all"]).ok();
    insta::assert_snapshot!(ages(&env.shown(&out)), @"
    REPO         NAME  BRANCH  PORTS        STATUS  AGE  PATH
    [TMP]/other  b     b       10100-10199  active  Ns   [TMP]/shards_home/worktrees/other/b
    [TMP]/repo   a     a       10000-10099  active  Ns   [TMP]/shards_home/worktrees/repo/a
    --- stderr ---
    [exit status: 0]
    ");
}

#[test]
fn lists_json_for_scripts() {
    let env = TestEnv::new();
    env.create("a");
    let doc = env.shards(&["list", "--json"]).ok().json();
    assert_eq!(doc["version"], 1);
    let shards = doc["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 1);
    let s = &shards[0];
    assert_eq!(s["name"], "a");
    assert_eq!(s["branch"], "a");
    assert_eq!(ports(s), env.block(0));
    assert_eq!(s["status"], "active");
    assert!(s["path"].as_str().unwrap().starts_with('/'));
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s["repo"].as_str().unwrap(), env.repo.to_str().unwrap());
}

#[test]
fn an_empty_list_is_an_empty_array() {
    let env = TestEnv::new();
    let doc = env.shards(&["list", "--json"]).ok().json();
    assert_eq!(doc["shards"].as_array().unwrap().len(), 0);
    let out = env.shards(&["list"]).ok();
    insta::assert_snapshot!(env.shown(&out), @"
    NAME  BRANCH  PORTS  STATUS  AGE  PATH
    --- stderr ---
    No shards yet: `shards create NAME` makes one.
    [exit status: 0]
    ");
}

#[test]
fn a_worktree_deleted_by_hand_shows_as_missing() {
    let env = TestEnv::new();
    let r = env.create("gone");
    std::fs::remove_dir_all(r["shard"]["path"].as_str().unwrap()).unwrap();
    let s = &env.list()[0];
    assert_eq!(s["status"], "missing");
    let out = env.shards(&["list"]).ok();
    insta::assert_snapshot!(ages(&env.shown(&out)), @"
    NAME  BRANCH  PORTS        STATUS   AGE  PATH
    gone  gone    10000-10099  missing  Ns   [TMP]/shards_home/worktrees/repo/gone
    --- stderr ---
    1 shard(s) are not active; `shards prune` reclaims those whose worktree or creator is gone, or whose folder was replaced.
    [exit status: 0]
    ");
}

#[test]
fn the_same_name_in_two_repositories_is_two_shards() {
    let env = TestEnv::new();
    let other = env.new_repo("other");
    let a = env.create("same");
    let b = env
        .shards_in(&other, &["create", "same", "--json"])
        .ok()
        .json();
    assert_ne!(a["shard"]["path"], b["shard"]["path"]);
    assert_ne!(ports(&a["shard"]), ports(&b["shard"]));
    assert_eq!(env.list().len(), 1);
    let all = env.shards(&["list", "--all", "--json"]).ok().json();
    assert_eq!(all["shards"].as_array().unwrap().len(), 2);
    let table = env.shards(&["list", "--all"]).ok();
    assert!(
        table.stdout.lines().next().unwrap().starts_with("REPO"),
        "{table}"
    );
    // Destroying one leaves the other whole.
    env.shards_in(&other, &["destroy", "same"]).ok();
    assert_eq!(env.list().len(), 1);
    assert!(std::path::Path::new(a["shard"]["path"].as_str().unwrap()).exists());
    assert_eq!(
        env.shards_in(&other, &["list", "--json"]).ok().json()["shards"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn two_repositories_with_the_same_folder_name_get_separate_worktree_folders() {
    let env = TestEnv::new();
    let a = env.root.join("a");
    std::fs::create_dir_all(&a).unwrap();
    let first = crate::common::init_repo(&a.join("app"));
    let b = env.root.join("b");
    std::fs::create_dir_all(&b).unwrap();
    crate::common::init_repo(&b.join("app"));
    drop(first);
    let one = env
        .shards_in(&a.join("app"), &["create", "x", "--json"])
        .ok()
        .json();
    let two = env
        .shards_in(&b.join("app"), &["create", "x", "--json"])
        .ok()
        .json();
    assert_ne!(one["shard"]["path"], two["shard"]["path"]);
}

#[test]
fn list_outside_a_repository_needs_all() {
    let env = TestEnv::new();
    env.create("a");
    // The error is `create`'s, pinned in `create::outside_a_repository_is_a_clear_error`.
    env.shards_in(&env.home, &["list"])
        .code(1)
        .says(&["not inside a git repository"]);
    let doc = env
        .shards_in(&env.home, &["list", "--all", "--json"])
        .ok()
        .json();
    assert_eq!(doc["shards"].as_array().unwrap().len(), 1);
}

#[test]
fn path_prints_the_worktree() {
    let env = TestEnv::new();
    let r = env.create("a");
    let out = env.shards(&["path", "a"]).ok();
    assert_eq!(out.stdout.trim(), r["shard"]["path"].as_str().unwrap());
    let out = env.shards(&["path", "nope"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: no shard named `nope` in [TMP]/repo
    hint: run `shards list` to see the shards of this repository (`--all` for every repository)
    [exit status: 1]
    ");
}
