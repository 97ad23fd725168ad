//! `prune` of shards whose worktree `git worktree remove` took away by
//! hand: the block goes, and the branch shards made goes with it when
//! nothing on it would be lost, said as `destroy` says it; a branch with
//! commits of its own stays, and prune says so.

use crate::common::{TestEnv, shard_path};

/// Removes shard `name`'s worktree with git itself.
fn git_worktree_remove(env: &TestEnv, wt: &std::path::Path) {
    env.git(&env.repo, &["worktree", "remove", wt.to_str().unwrap()]);
    assert!(!wt.exists());
}

#[test]
fn issue_18_a_worktree_git_removed_is_pruned_with_the_branch_shards_made() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let a = shard_path(&env.create("a"));
    // main moves on: the branch has no commits of its own, only older ones.
    env.commit(&[("later.txt", "later\n")], "later");
    git_worktree_remove(&env, &a);
    let out = env.shards(&["prune"]).ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        NAME  PORTS        ACTION     REASON
        a     10000-10009  reclaimed  its worktree is gone
        --- stderr ---
        deleted branch `a`: every commit on it is on another branch or tag
        Reclaimed 1 shard(s).
        [exit status: 0]
        ");
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    assert!(env.list().is_empty());

    let b = shard_path(&env.create("b"));
    git_worktree_remove(&env, &b);
    let doc = env.shards(&["prune", "--json"]).ok().json();
    let s = &doc["shards"][0];
    assert_eq!(s["reclaimed"], true, "{doc:#}");
    assert_eq!(s["branch"]["fate"], "deleted", "{doc:#}");
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

#[test]
fn issue_18_a_branch_with_commits_of_its_own_stays_and_prune_says_so() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let wt = shard_path(&env.create("work"));
    env.git_commit_file(&wt, "w.txt", "w\n", "work");
    let tip = env.git(&wt, &["rev-parse", "HEAD"]);
    git_worktree_remove(&env, &wt);
    let doc = env.shards(&["prune", "--json"]).ok().json();
    let s = &doc["shards"][0];
    assert_eq!(s["reclaimed"], true, "{doc:#}");
    assert_eq!(s["branch"]["fate"], "kept", "{doc:#}");
    assert_eq!(s["branch"]["kept_because"], "unmerged", "{doc:#}");
    assert_eq!(
        s["notes"][0], "kept branch `work`: it has commits that no other branch or tag contains",
        "{doc:#}"
    );
    assert_eq!(env.git(&env.repo, &["rev-parse", "work"]), tip);
    assert!(env.list().is_empty());
}
