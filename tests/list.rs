//! `shards list`: table, JSON, scope, and the missing state.

use crate::common::{TestEnv, ports};

/// Shows a block as the table does: `start-end`.
fn blocks((start, end): (u64, u64)) -> String {
    format!("{start}-{end}")
}

#[test]
fn lists_a_table_for_people() {
    let env = TestEnv::new();
    env.create("a");
    env.create("fix/b");
    let out = env.shards(&["list"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for h in ["NAME", "BRANCH", "PORTS", "STATUS", "AGE", "PATH"] {
        assert!(lines[0].contains(h), "{out}");
    }
    assert!(
        lines[1].starts_with("a ")
            && lines[1].contains(&blocks(env.block(0)))
            && lines[1].contains("active"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("fix/b ") && lines[2].contains(&blocks(env.block(1))),
        "{out}"
    );
    assert!(
        !out.stdout.contains('\x1b'),
        "colour with NO_COLOR set: {out}"
    );
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
    env.shards(&["list"]).ok().says(&["No shards yet"]);
}

#[test]
fn a_worktree_deleted_by_hand_shows_as_missing() {
    let env = TestEnv::new();
    let r = env.create("gone");
    std::fs::remove_dir_all(r["shard"]["path"].as_str().unwrap()).unwrap();
    let s = &env.list()[0];
    assert_eq!(s["status"], "missing");
    let out = env.shards(&["list"]).ok().says(&["shards prune"]);
    assert!(out.stdout.contains("missing"), "{out}");
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
    env.shards(&["path", "nope"])
        .code(1)
        .says(&["no shard named `nope`"]);
}
