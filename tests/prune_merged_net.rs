//! `prune --merged` reclaims a branch only when the default branch holds
//! its changes: a branch with commits of its own that `main` does not hold
//! and no net change (empty commits, a change added then reverted) is kept
//! and said to be, while the same commits fast-forwarded into `main` go.

use serde_json::Value;

use crate::common::{TestEnv, shard_named, shard_path as path};

/// Runs `prune --merged --min-age 0s --json` and returns shard `name`'s entry.
fn pruned(env: &TestEnv, name: &str) -> Value {
    let doc = env.prune_merged_now();
    shard_named(&doc, name).clone()
}

/// Makes shard `name` with two empty commits on its branch.
fn empty_commits(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let wt = path(&env.create(name));
    for n in ["one", "two"] {
        env.git(&wt, &["commit", "-q", "--allow-empty", "-m", n]);
    }
    wt
}

#[test]
fn issue_18_a_branch_of_empty_commits_is_kept_as_no_net_change() {
    let env = TestEnv::new();
    let wt = empty_commits(&env, "empty");
    let tip = env.git(&wt, &["rev-parse", "HEAD"]);
    let s = pruned(&env, "empty");
    assert_eq!(s["reclaimed"], false, "{s:#}");
    assert_eq!(s["verdict"], "no_net_change", "{s:#}");
    assert_eq!(
        s["reason"], "its branch `empty` has commits that `main` does not hold, with no net change",
        "{s:#}"
    );
    assert!(wt.exists());
    assert_eq!(env.git(&env.repo, &["rev-parse", "empty"]), tip);
    assert_eq!(env.list().len(), 1);
}

#[test]
fn issue_18_a_change_added_then_reverted_is_kept_and_the_table_says_why() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let wt = path(&env.create("idea"));
    env.git_commit_file(&wt, "idea.txt", "maybe\n", "idea");
    env.git(&wt, &["revert", "--no-edit", "HEAD"]);
    let out = env.shards(&["prune", "--merged", "--min-age", "0s"]).ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        NAME  PORTS        ACTION  REASON
        idea  10000-10009  kept    its branch `idea` has commits that `main` does not hold, with no net change
        --- stderr ---
        Reclaimed nothing; 1 shard(s) kept, see the table.
        [exit status: 0]
        ");
    assert!(wt.exists());
    assert_eq!(env.branches(&env.repo), vec!["idea", "main"]);
    assert_eq!(pruned(&env, "idea")["verdict"], "no_net_change");
}

#[test]
fn issue_18_empty_commits_that_main_holds_are_merged() {
    let env = TestEnv::new();
    let wt = empty_commits(&env, "ff");
    env.git(&env.repo, &["merge", "-q", "--ff-only", "ff"]);
    let s = pruned(&env, "ff");
    assert_eq!(s["reclaimed"], true, "{s:#}");
    assert_eq!(s["verdict"], "merged", "{s:#}");
    assert_eq!(s["branch"]["fate"], "deleted", "{s:#}");
    assert!(!wt.exists());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

#[test]
fn issue_18_a_squash_merge_is_still_reclaimed_and_a_fresh_branch_still_kept() {
    let env = TestEnv::new();
    let wt = path(&env.create("done"));
    env.git_commit_file(&wt, "d.txt", "d\n", "d");
    env.git(&env.repo, &["merge", "-q", "--squash", "done"]);
    env.git(&env.repo, &["commit", "-q", "-m", "squash done"]);
    env.create("fresh");
    let doc = env.prune_merged_now();
    let by = |name: &str| shard_named(&doc, name);
    assert_eq!(by("done")["reclaimed"], true, "{doc:#}");
    assert_eq!(by("done")["verdict"], "squashed", "{doc:#}");
    assert_eq!(by("fresh")["reclaimed"], false, "{doc:#}");
    assert_eq!(by("fresh")["verdict"], "untouched", "{doc:#}");
}
