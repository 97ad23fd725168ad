//! `shards adopt`: an existing worktree becomes a shard.

use crate::common::{TestEnv, env_value, ports, read};

#[test]
fn adopts_a_linked_worktree_and_keeps_its_files() {
    let env = TestEnv::new();
    let wt = env.git_worktree("old-work", "old");
    std::fs::write(wt.join("wip.txt"), "work in progress").unwrap();
    let r = env.shards(&["adopt", "../old-work", "--json"]).ok().json();
    assert_eq!(r["shard"]["name"], "old-work");
    assert_eq!(r["shard"]["branch"], "old");
    assert_eq!(ports(&r["shard"]), env.block(0));
    assert_eq!(
        env_value(&wt.join(".env"), "PORT_RANGE_START"),
        Some(env.base().to_string())
    );
    assert_eq!(read(&wt.join("wip.txt")), "work in progress");
    assert_eq!(env.list().len(), 1);
    // It is a shard like any other: port, and destroy refuses its work.
    env.shards_in(&wt, &["port", "web"]).ok();
    env.shards(&["destroy", "old-work"])
        .code(1)
        .says(&["wip.txt"]);
    env.shards(&["adopt", "../old-work"])
        .code(1)
        .says(&["already shard `old-work`"]);
}

#[test]
fn refuses_what_is_not_a_linked_worktree_of_this_repository() {
    let env = TestEnv::new();
    let other = env.new_repo("other");
    let plain = env.root.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    for (path, why) in [
        (".", "main worktree"),
        ("src", "not the top folder"),
        ("../plain", "not a git worktree"),
        ("../other", "another repository"),
    ] {
        env.shards(&["adopt", path]).code(1).says(&[why]);
    }
    let _ = other;
    let wt = env.root.join("detached");
    env.git(
        &env.repo,
        &["worktree", "add", "-q", "--detach", wt.to_str().unwrap()],
    );
    env.shards(&["adopt", "../detached"])
        .code(1)
        .says(&["detached"]);
    let wt = env.root.join("bad name");
    env.git(
        &env.repo,
        &["worktree", "add", "-q", "-b", "bn", wt.to_str().unwrap()],
    );
    env.shards(&["adopt", "../bad name"])
        .code(1)
        .says(&["invalid shard name"]);
    env.shards(&["adopt", "../bad name", "--name", "good"]).ok();
    assert!(!env.ledger().exists() || env.list().len() == 1);
}

#[test]
fn a_failed_adopt_leaves_no_env_file_claiming_ports() {
    let mut env = TestEnv::new();
    let wt = env.root.join("t3");
    env.git(
        &env.repo,
        &["worktree", "add", "-q", "-b", "t3", wt.to_str().unwrap()],
    );
    std::fs::write(env.root.join("shared"), "x\n").unwrap();
    std::os::unix::fs::symlink("../shared", wt.join(".envrc")).unwrap();
    env.set("SHARDS_ENV_DIRENV", "true");
    env.shards(&["adopt", "../t3"])
        .code(1)
        .says(&["symbolic link"]);
    assert!(
        !wt.join(".env").exists(),
        "a .env claims ports the ledger does not give it"
    );
    assert!(env.list().is_empty());
    // The same rule for `port`: the env file never runs ahead of the ledger.
    let r = env.shards(&["create", "t4", "--json"]).ok().json();
    let t4 = crate::common::shard_path(&r);
    std::os::unix::fs::symlink("../shared", t4.join(".envrc.tmp")).unwrap();
    std::fs::remove_file(t4.join(".envrc")).unwrap();
    std::fs::rename(t4.join(".envrc.tmp"), t4.join(".envrc")).unwrap();
    let before = std::fs::read(t4.join(".env")).unwrap();
    env.shards_in(&t4, &["port", "web"]).code(1);
    assert_eq!(std::fs::read(t4.join(".env")).unwrap(), before);
    let ports = env.shards(&["port", "--shard", "t4", "--json"]).ok().json();
    assert!(ports["services"].as_array().unwrap().is_empty());
}

#[test]
fn adopt_says_what_it_made() {
    let mut env = TestEnv::new();
    env.small_pool(10, 2);
    env.git_worktree("old-work", "old");
    let out = env.shards(&["adopt", "../old-work"]).ok();
    insta::assert_snapshot!(env.shown(&out), @"
    [TMP]/old-work
    --- stderr ---
    Adopted [TMP]/old-work as shard `old-work` on branch `old` (ports 10000-10009).
    [exit status: 0]
    ");
    let out = env.shards(&["adopt", "../old-work"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: cannot adopt [TMP]/repo/../old-work: it is already shard `old-work`
    hint: adopt takes a linked worktree of this repository (`git worktree list`) that is not a shard yet
    [exit status: 1]
    ");
}
