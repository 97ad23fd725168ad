//! An invalid `--branch` (issue 18): the error says invalid *branch* name,
//! names the branch and why, and its hint speaks of `--branch`; the shard
//! name keeps its own error. Nothing is made.

use crate::common::TestEnv;

#[test]
fn issue_18_an_invalid_branch_is_called_a_branch() {
    let env = TestEnv::new();
    let out = env.shards(&["create", "ok", "--branch", "x\ty"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @r"
    --- stderr ---
    shards: error: invalid branch name `x	y`: the character '\t' is not allowed
    hint: pass a --branch of letters, digits, `.`, `_`, `-` and `/` (like a git branch name), up to 100 characters, not starting with `-`
    [exit status: 1]
    ");
    let cases = [
        ("a b", "the character ' ' is not allowed"),
        ("..", "`..` is not allowed"),
        ("a..b", "`..` is not allowed"),
        ("-x", "must not start with `-`"),
        ("a@{1}", "the character '@' is not allowed"),
        ("x.lock", "must not end with `.lock`"),
        ("a/", "`/` must separate non-empty parts"),
        ("", "the name is empty"),
    ];
    for (branch, why) in cases {
        let flag = format!("--branch={branch}");
        let out = env.shards(&["create", "ok", &flag]).code(1);
        let want = format!("shards: error: invalid branch name `{branch}`: ");
        assert!(out.stderr.starts_with(&want), "{branch:?}: {out}");
        assert!(out.stderr.contains(why), "{branch:?}: {out}");
        assert!(
            out.stderr.contains("hint: ") && out.stderr.contains("--branch"),
            "{out}"
        );
        assert!(!out.stderr.contains("shard name"), "{branch:?}: {out}");
        let json = env
            .shards(&["create", "ok", &flag, "--json"])
            .code(1)
            .json();
        assert_eq!(json["error"]["kind"], "invalid_branch", "{json}");
    }
    // The shard's name is still a shard name, whatever the branch.
    env.shards(&["create", "a b", "--branch", "fine"])
        .code(1)
        .says(&["invalid shard name `a b`"]);
    assert!(env.list().is_empty());
    assert_eq!(env.branches(&env.repo), ["main"]);
}

#[test]
fn issue_18_a_remote_tracking_branch_is_called_a_branch() {
    let env = TestEnv::new();
    env.git(
        &env.repo,
        &["update-ref", "refs/remotes/origin/feat", "HEAD"],
    );
    let out = env
        .shards(&["create", "rf", "--branch", "origin/feat"])
        .code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: invalid branch name `origin/feat`: it names a remote-tracking branch
    hint: to work on it, use `--branch feat --base origin/feat`
    [exit status: 1]
    ");
}
