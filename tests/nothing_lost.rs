//! Issue 10, "nothing lost": destroy, prune and interrupted operations never
//! take the user's work or a live block. Each test checks files, refs, rows
//! and blocks before and after.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::{TestEnv, shard_path};

/// A killed destroy that had found the worktree clean, and had deleted part
/// of it when it died, is finished by `prune`: the missing files are the
/// destroy's own doing, not work. (Before: prune kept it, "holds work (N
/// changed)".)
/// Creates shard `x` and kills a plain destroy of it once it has claimed
/// the shard, then deletes what such a destroy deletes first, as if it had
/// died half-way through. Returns the create's report and the worktree.
fn destroy_killed_mid_removal(env: &mut TestEnv) -> (Value, PathBuf) {
    let r = env.create("x");
    let wt = shard_path(&r);
    env.set("SHARDS_TEST_CRASH_AT", "destroy:marked");
    assert_eq!(env.shards(&["destroy", "x"]).code, -1, "not killed");
    env.set("SHARDS_TEST_CRASH_AT", "");
    std::fs::remove_file(wt.join("README.md")).unwrap();
    std::fs::remove_dir_all(wt.join("src")).unwrap();
    assert_eq!(env.list()[0]["status"], "destroying");
    (r, wt)
}

#[test]
fn issue_10_a_destroy_killed_mid_removal_is_finished_by_prune() {
    let mut env = TestEnv::new();
    let (r, wt) = destroy_killed_mid_removal(&mut env);
    let out = env.shards(&["prune", "--json"]).ok().json();
    assert_eq!(out["shards"][0]["reclaimed"], true, "{out}");
    assert!(env.list().is_empty());
    assert!(!wt.exists());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    env.assert_only_main_worktree();
    // Its block is free again: the next shard gets the same ports.
    assert_eq!(env.create("y")["shard"]["ports"], r["shard"]["ports"]);
}

/// The same killed destroy is finished by repeating `destroy NAME`.
#[test]
fn issue_10_a_destroy_killed_mid_removal_is_finished_by_destroying_again() {
    let mut env = TestEnv::new();
    let (_, wt) = destroy_killed_mid_removal(&mut env);
    env.shards(&["destroy", "x"]).ok();
    assert!(env.list().is_empty());
    assert!(!wt.exists());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

/// A killed *forced* destroy of a worktree with work is left to the user:
/// neither prune nor a plain destroy finishes it; `destroy --force` does.
#[test]
fn issue_10_a_killed_forced_destroy_of_work_stays_the_users_choice() {
    let mut env = TestEnv::new();
    let r = env.create("x");
    let wt = shard_path(&r);
    std::fs::write(wt.join("work.txt"), "precious").unwrap();
    env.set("SHARDS_TEST_CRASH_AT", "destroy:marked");
    assert_eq!(env.shards(&["destroy", "--force", "x"]).code, -1);
    env.set("SHARDS_TEST_CRASH_AT", "");
    let out = env.shards(&["prune", "--json"]).ok().json();
    assert_eq!(out["shards"][0]["reclaimed"], false, "{out}");
    let plain = env.shards(&["destroy", "x"]).code(1);
    assert!(plain.stderr.contains("work.txt"), "{plain}");
    assert_eq!(
        std::fs::read_to_string(wt.join("work.txt")).unwrap(),
        "precious"
    );
    assert_eq!(env.list().len(), 1);
    env.shards(&["destroy", "--force", "x"]).ok();
    assert!(env.list().is_empty() && !wt.exists());
}

/// Everything a plain destroy must leave as it was, to compare after a refusal.
fn state(env: &TestEnv) -> (Vec<serde_json::Value>, Vec<String>, String) {
    (
        env.list(),
        env.branches(&env.repo),
        env.git(&env.repo, &["worktree", "list", "--porcelain"]),
    )
}

/// The user's own lines in the env file and `.envrc` are work: shards hid
/// both files from `git status`, so it counts them itself. (Before: the
/// destroy exited 0 and both files were gone.)
#[test]
fn issue_10_user_lines_in_env_and_envrc_stop_a_plain_destroy() {
    let env = TestEnv::new();
    let with_direnv = |name| {
        shard_path(
            &env.shards(&["create", name, "--direnv", "--json"])
                .ok()
                .json(),
        )
    };
    // A shard's own files are not work: a fresh shard with --direnv goes.
    let fresh = with_direnv("fresh");
    env.shards(&["destroy", "fresh"]).ok();
    assert!(!fresh.exists());
    let wt = with_direnv("r2");
    for (file, line) in [
        (".env", "STRIPE_KEY=sk_live\n"),
        (".envrc", "export TOKEN=x\n"),
    ] {
        let path = wt.join(file);
        let before = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{before}{line}")).unwrap();
        let was = state(&env);
        let out = env.shards(&["destroy", "r2"]).code(1);
        assert!(out.stderr.contains(&format!("1 line in {file}")), "{out}");
        assert!(out.stderr.contains("--force"), "{out}");
        assert_eq!(state(&env), was, "{file}: the refusal changed something");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{before}{line}")
        );
        std::fs::write(&path, before).unwrap();
    }
    // With only shards' own lines left, it goes; --force is not needed.
    env.shards(&["destroy", "r2"]).ok();
    assert!(!wt.exists());
    assert!(env.list().is_empty());
}

/// An adopted worktree's own `.env`, there before shards, is work too.
#[test]
fn issue_10_an_adopted_worktrees_own_env_file_stops_a_plain_destroy() {
    let env = TestEnv::new();
    let wt = env.git_worktree("old-work", "old");
    std::fs::write(wt.join(".env"), "DATABASE_URL=postgres://secret\n").unwrap();
    // The repository ignores .env, as most do, so git status never shows it.
    std::fs::write(env.repo.join(".git/info/exclude"), ".env\n").unwrap();
    env.shards(&["adopt", "../old-work"]).ok();
    let was = state(&env);
    let out = env.shards(&["destroy", "old-work"]).code(1);
    assert!(out.stderr.contains("1 line in .env"), "{out}");
    assert_eq!(state(&env), was);
    assert!(
        std::fs::read_to_string(wt.join(".env"))
            .unwrap()
            .starts_with("DATABASE_URL=")
    );
    env.shards(&["destroy", "--force", "old-work"]).ok();
    assert!(!wt.exists() && env.list().is_empty());
}

/// A destroy does not claim it deleted a branch that was already gone.
#[test]
fn issue_10_destroy_says_when_the_branch_was_already_gone() {
    let env = TestEnv::new();
    let wt = shard_path(&env.create("x"));
    // The agent moved to another branch and deleted the shard's own.
    env.git(&wt, &["switch", "-q", "-c", "other"]);
    env.git(&env.repo, &["branch", "-q", "-D", "x"]);
    let out = env.shards(&["destroy", "x", "--json"]).ok();
    let doc = out.json();
    assert_eq!(doc["destroyed"][0]["branch_deleted"], false, "{out}");
    assert!(!out.stderr.contains("deleted its branch"), "{out}");
    assert!(out.stderr.contains("was already gone"), "{out}");
    assert!(!wt.exists());
    assert_eq!(env.branches(&env.repo), vec!["main", "other"]);
}

/// A create killed while `git worktree add` was writing its record leaves a
/// record still locked "initializing" and a folder holding only an empty
/// `.git` file, which no link names yet. The create's own undo (found by the
/// SIGTERM test) and `prune` both remove them: the path was free before.
#[test]
fn issue_10_what_a_killed_git_worktree_add_left_is_reclaimed() {
    let mut env = TestEnv::new();
    env.set("SHARDS_TEST_CRASH_AT", "create:reserved");
    assert_eq!(env.shards(&["create", "x"]).code, -1, "not killed");
    env.set("SHARDS_TEST_CRASH_AT", "");
    let wt = env.shards_home.join("worktrees/repo/x");
    let record = env.repo.join(".git/worktrees/x");
    std::fs::create_dir_all(&wt).unwrap();
    std::fs::write(wt.join(".git"), "").unwrap();
    std::fs::create_dir_all(&record).unwrap();
    std::fs::write(
        record.join("gitdir"),
        format!("{}\n", wt.join(".git").display()),
    )
    .unwrap();
    std::fs::write(record.join("locked"), "initializing\n").unwrap();
    let out = env.shards(&["prune", "--json"]).ok().json();
    assert_eq!(out["shards"][0]["reclaimed"], true, "{out}");
    assert!(!wt.exists() && !record.exists());
    assert!(env.list().is_empty());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    env.assert_only_main_worktree();
}
