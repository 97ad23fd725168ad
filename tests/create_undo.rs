//! `shards create` refused or undone: bad input, a taken path or branch,
//! a failure after the worktree is made; each leaves nothing behind.

use std::path::PathBuf;

use crate::common::{TestEnv, read};

#[test]
fn a_branch_checked_out_elsewhere_is_refused_before_anything_is_written() {
    let env = TestEnv::new();
    let out = env.shards(&["create", "x", "--branch", "main"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: branch `main` is already checked out at [TMP]/repo
    hint: use another branch (`shards create NAME --branch BR`), or switch that worktree to another branch
    [exit status: 1]
    ");
    assert!(!env.ledger().exists() || env.list().is_empty());
}

/// The ledger rows, branches and folders a failed create must not change.
fn snapshot(env: &TestEnv) -> (usize, Vec<String>, Vec<PathBuf>, String) {
    let rows = if env.ledger().exists() {
        env.list().len()
    } else {
        0
    };
    let admin = std::fs::read_dir(env.repo.join(".git/worktrees"))
        .map(|d| d.count())
        .unwrap_or(0);
    (
        rows,
        env.branches(&env.repo),
        env.worktree_folders(),
        format!("{admin}"),
    )
}

#[test]
fn a_base_ref_that_does_not_exist_leaves_nothing() {
    let env = TestEnv::new();
    env.create("keep");
    let before = snapshot(&env);
    env.shards(&["create", "x", "--base", "no-such-ref"])
        .code(1)
        .says(&["no such ref `no-such-ref`"]);
    assert_eq!(snapshot(&env), before);
}

#[test]
fn a_taken_worktree_path_leaves_nothing_and_the_folder_is_untouched() {
    let env = TestEnv::new();
    env.create("keep");
    let taken = env.shards_home.join("worktrees/repo/x");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("mine.txt"), "user data").unwrap();
    let before = snapshot(&env);
    env.shards(&["create", "x"])
        .code(1)
        .says(&["already exists"]);
    assert_eq!(snapshot(&env), before);
    assert_eq!(read(&taken.join("mine.txt")), "user data");
}

#[test]
fn a_failure_after_the_worktree_is_made_undoes_row_branch_and_folder() {
    let env = TestEnv::new();
    // `notes` is a tracked file, so the env file `notes/.env` cannot be written
    // after the checkout: the create must undo everything it made.
    env.commit(&[("notes", "a file, not a folder\n")], "notes");
    env.create("keep");
    let before = snapshot(&env);
    let mut env = env;
    env.set("SHARDS_ENV_FILE", "notes/.env");
    env.shards(&["create", "x"]).code(1).says(&["notes"]);
    assert_eq!(snapshot(&env), before);
    assert!(!env.shards_home.join("worktrees/repo/x").exists());
}

#[test]
fn hostile_names_are_refused_before_anything_is_written() {
    let env = TestEnv::new();
    let long = "a".repeat(300);
    for name in [
        "..",
        "../escape",
        "a/../../b",
        "a b",
        "tab\tname",
        "new\nline",
        "ünï",
        &long,
        "x.lock",
        ".hidden",
        "a//b",
        "HEAD",
    ] {
        env.shards(&["create", name])
            .code(1)
            .says(&["invalid shard name", "hint:"]);
    }
    // A flag-like name is a usage error; after `--` comes a command, so the
    // name is missing; a flag-like branch is refused by name.
    env.shards(&["create", "-rf"]).code(2).says(&["-r"]);
    env.shards(&["create", "--", "-rf"])
        .code(2)
        .says(&["required"]);
    env.shards(&["create", "ok", "--branch=-rf"])
        .code(1)
        .says(&["must not start with `-`"]);
    assert!(
        !env.ledger().exists(),
        "the ledger was created by a refused name"
    );
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    assert!(!env.shards_home.join("worktrees").exists());
}
