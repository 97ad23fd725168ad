//! Issue 10, case 2: a destroy never takes commits that live only in a
//! shard's submodule clone (`.git/worktrees/NAME/modules/…`), which git
//! deletes with the worktree. Real git, a real submodule on a local repo.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, init_repo};

/// A superproject whose `lib` is a submodule cloned from a local repository
/// `lib-origin`; returns the origin's path.
fn with_submodule(env: &TestEnv) -> PathBuf {
    let origin = env.root.join("lib-origin");
    init_repo(&origin);
    env.add_submodule(&origin, "lib");
    env.git(&env.repo, &["commit", "-q", "-m", "add lib"]);
    origin
}

/// Initialises the shard's submodule, as a user would in the shard.
fn init_submodule(env: &TestEnv, wt: &Path) {
    env.git(
        wt,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "-q",
            "--init",
        ],
    );
}

/// The ledger's rows, git's refs and worktrees, as one text to compare.
fn state(env: &TestEnv) -> String {
    format!("{}\n{}", env.shard_rows().join("\n"), env.git_records())
}

/// Creates shard `name` and initialises its submodule; returns the worktree.
fn shard_with_submodule(env: &TestEnv, name: &str) -> PathBuf {
    let wt = env.create_worktree(name);
    init_submodule(env, &wt);
    wt
}

/// Commits `work.txt` holding `content` in the shard's submodule `lib` on a
/// new branch `feature`, as a user would; returns the submodule's folder
/// and the commit's id.
fn commit_in_submodule(env: &TestEnv, wt: &Path, content: &str) -> (PathBuf, String) {
    let sub = wt.join("lib");
    env.git(&sub, &["checkout", "-q", "-b", "feature"]);
    env.git_commit_file(&sub, "work.txt", content, "submodule work");
    let commit = env.git(&sub, &["rev-parse", "HEAD"]).trim().to_string();
    (sub, commit)
}

/// Commits the shard's new submodule pointer.
fn bump_lib(env: &TestEnv, wt: &Path) {
    env.git(wt, &["add", "lib"]);
    env.git(wt, &["commit", "-q", "-m", "bump lib"]);
}

/// The steps of the issue: commit inside the shard's submodule on a new
/// branch, commit the pointer bump, destroy. Before the fix it exited 0 and
/// the commit was gone; now a plain destroy refuses, naming the submodule
/// and the commit, and leaves everything; `--force` then removes it.
#[test]
fn issue_10_destroy_keeps_commits_that_live_only_in_a_submodule() {
    let env = TestEnv::new();
    with_submodule(&env);
    let wt = shard_with_submodule(&env, "x");
    let (sub, commit) = commit_in_submodule(&env, &wt, "precious\n");
    bump_lib(&env, &wt);
    let modules = env.repo.join(".git/worktrees/x/modules/lib");
    assert!(
        modules.is_dir(),
        "the submodule's git folder is not where git puts it"
    );
    let before = state(&env);

    env.shards(&["destroy", "x"]).code(1).says(&[
        "submodule `lib`",
        &commit[..10],
        "branch `feature`",
        "--force",
    ]);
    let json = env.shards(&["destroy", "x", "--json"]).code(1).json();
    assert_eq!(json["error"]["kind"], "submodule_work", "{json}");

    // Nothing was removed: row, block, refs, worktree, the submodule's commit.
    assert_eq!(state(&env), before);
    assert_eq!(env.list()[0]["status"], "active");
    assert_eq!(
        std::fs::read_to_string(sub.join("work.txt")).unwrap(),
        "precious\n"
    );
    assert!(modules.is_dir());
    assert_eq!(env.git(&sub, &["cat-file", "-t", &commit]).trim(), "commit");

    // Once pushed to the submodule's origin, the commit is safe elsewhere.
    // (Checked on a second shard below; here the user discards it.)
    env.shards(&["destroy", "--force", "x"])
        .ok()
        .says(&["freed ports"]);
    assert!(env.list().is_empty());
    assert!(!wt.exists());
    assert!(!modules.exists());
    env.assert_only_main_worktree();
    // The shard's branch holds the unmerged pointer bump, so it is kept.
    assert!(env.branches(&env.repo).contains(&"x".to_string()));
}

/// A shard whose submodule holds only commits its origin has (initialised
/// and untouched, or with its work pushed) destroys without `--force`.
#[test]
fn issue_10_destroy_removes_a_shard_with_a_clean_or_pushed_submodule() {
    let env = TestEnv::new();
    let origin = with_submodule(&env);
    let wt = shard_with_submodule(&env, "clean");
    env.shards(&["destroy", "clean"]).ok();
    assert!(env.list().is_empty());
    assert!(!wt.exists());
    assert!(!env.repo.join(".git/worktrees/clean").exists());
    assert_eq!(env.branches(&env.repo), vec!["main"]);

    // Work committed in the submodule and pushed to its origin is not lost.
    let wt = shard_with_submodule(&env, "pushed");
    let (sub, commit) = commit_in_submodule(&env, &wt, "shared\n");
    env.shards(&["destroy", "pushed"]).code(1);
    env.git(&sub, &["push", "-q", "origin", "feature"]);
    env.git(&sub, &["fetch", "-q", "origin"]);
    bump_lib(&env, &wt);
    env.shards(&["destroy", "pushed"]).ok();
    assert!(env.list().is_empty());
    assert!(!wt.exists());
    assert_eq!(
        env.git(&origin, &["cat-file", "-t", &commit]).trim(),
        "commit"
    );
}
