//! `shards prune --merged`: shards whose branch is merged into the default
//! branch (squash merges included) are reclaimed when clean and old enough;
//! unmerged, dirty, young and never-committed ones are kept.

use std::path::Path;

use serde_json::Value;

use crate::common::{TestEnv, read, shard_named, shard_path as path};

/// Makes shard `name` with one commit of its own adding `file`.
fn shard_with_commit(env: &TestEnv, name: &str, file: &str) -> std::path::PathBuf {
    let wt = path(&env.create(name));
    env.git_commit_file(
        &wt,
        file,
        &format!("{name}\n"),
        &format!("{name}: add {file}"),
    );
    wt
}

fn squash_into_main(env: &TestEnv, branch: &str) {
    env.git(&env.repo, &["merge", "-q", "--squash", branch]);
    env.git(
        &env.repo,
        &["commit", "-q", "-m", &format!("squash {branch}")],
    );
}

/// Makes shard `name` as [`shard_with_commit`] does and squash-merges its
/// branch into `main`.
fn squash_merged_shard(env: &TestEnv, name: &str, file: &str) -> std::path::PathBuf {
    let wt = shard_with_commit(env, name, file);
    squash_into_main(env, name);
    wt
}

fn names(env: &TestEnv) -> Vec<String> {
    env.list()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts that the prune report `doc` kept shard `name` (did not reclaim
/// it) for a reason that contains each of `words`.
#[track_caller]
fn assert_kept(doc: &Value, name: &str, words: &[&str]) {
    let s = shard_named(doc, name);
    assert_eq!(s["reclaimed"], false, "{doc:#}");
    let reason = s["reason"].as_str().unwrap();
    for w in words {
        assert!(reason.contains(w), "{name}: {reason:?} lacks {w:?}");
    }
}

#[test]
fn a_squash_merged_clean_shard_is_reclaimed_and_unmerged_or_dirty_ones_kept() {
    let env = TestEnv::new();
    let squashed = shard_with_commit(&env, "squashed", "s.txt");
    let open = shard_with_commit(&env, "open", "o.txt");
    let dirty = shard_with_commit(&env, "dirty", "d.txt");
    std::fs::write(dirty.join("wip.txt"), "not committed").unwrap();
    squash_into_main(&env, "squashed");
    squash_into_main(&env, "dirty");
    // main moved on after the squash: still merged.
    env.git_commit_file(&env.repo, "later.txt", "later", "later");

    let doc = env.prune_merged_now();
    let s = shard_named(&doc, "squashed");
    assert_eq!(s["reclaimed"], true, "{doc:#}");
    // Its commits are on no other ref: the tip it was deleted at brings it back.
    assert_eq!(s["branch"]["fate"], "deleted", "{doc:#}");
    let tip = s["branch"]["tip"].as_str().unwrap();
    env.git(&env.repo, &["cat-file", "-e", tip]);
    assert!(shard_named(&doc, "open").get("branch").is_none(), "{doc:#}");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("changes are in `main`"),
        "{doc:#}"
    );
    assert_kept(&doc, "open", &["not merged into `main`"]);
    assert_kept(&doc, "dirty", &["wip.txt"]);

    assert!(
        !squashed.exists(),
        "the squash-merged worktree is still there"
    );
    assert_eq!(names(&env), vec!["open", "dirty"]);
    assert_eq!(read(&dirty.join("wip.txt")), "not committed");
    assert_eq!(read(&open.join("o.txt")), "open\n");
    // The squash-merged branch went (its changes are in main), the note says
    // where it was; the others stay.
    assert_eq!(env.branches(&env.repo), vec!["dirty", "main", "open"]);
    let notes = s["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("deleted branch `squashed` (was ")),
        "{doc:#}"
    );
    // Its port block is free again.
    assert_eq!(
        crate::common::ports(&env.create("next")["shard"]),
        env.block(0)
    );
}

#[test]
fn a_regular_merge_is_reclaimed_with_its_branch() {
    let env = TestEnv::new();
    let wt = shard_with_commit(&env, "merged", "m.txt");
    env.git(
        &env.repo,
        &["merge", "-q", "--no-ff", "-m", "merge", "merged"],
    );
    let out = env
        .shards(&["prune", "--merged", "--min-age", "0s"])
        .ok()
        .says(&["Reclaimed 1 shard"]);
    assert!(out.stdout.contains("is merged into `main`"), "{out}");
    assert!(!wt.exists());
    assert!(names(&env).is_empty());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

#[test]
fn a_fast_forward_merge_is_reclaimed_but_a_branch_never_committed_on_is_kept() {
    let env = TestEnv::new();
    shard_with_commit(&env, "ff", "f.txt");
    env.create("fresh");
    env.git(&env.repo, &["merge", "-q", "--ff-only", "ff"]);
    let doc = env.prune_merged_now();
    assert_eq!(shard_named(&doc, "ff")["reclaimed"], true, "{doc:#}");
    assert_kept(&doc, "fresh", &["no commit"]);
    assert_eq!(names(&env), vec!["fresh"]);
}

#[test]
fn a_shard_younger_than_min_age_is_kept() {
    let env = TestEnv::new();
    let wt = squash_merged_shard(&env, "young", "y.txt");
    // The default --min-age is 1h.
    let doc = env.shards(&["prune", "--merged", "--json"]).ok().json();
    assert_kept(&doc, "young", &["younger than --min-age 1h"]);
    let doc = env
        .shards(&["prune", "--merged", "--min-age", "2h", "--json"])
        .ok()
        .json();
    assert!(
        shard_named(&doc, "young")["reason"]
            .as_str()
            .unwrap()
            .contains("2h")
    );
    assert!(wt.exists());
    assert_eq!(names(&env), vec!["young"]);
}

#[test]
fn dry_run_shows_each_shard_and_why_and_changes_nothing() {
    let env = TestEnv::new();
    shard_with_commit(&env, "done", "d.txt");
    shard_with_commit(&env, "wip", "w.txt");
    squash_into_main(&env, "done");
    let before = env.git_records();
    let out = env
        .shards(&["prune", "--merged", "--min-age", "0s", "--dry-run"])
        .ok()
        .says(&["Would reclaim 1 shard"]);
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row: {out}"))
            .to_string()
    };
    assert!(line("done").contains("would reclaim"), "{out}");
    assert!(line("done").contains("changes are in `main`"), "{out}");
    assert!(line("wip").contains("kept"), "{out}");
    assert!(line("wip").contains("not merged"), "{out}");
    assert_eq!(env.git_records(), before, "--dry-run changed git");
    assert_eq!(names(&env), vec!["done", "wip"]);
}

#[test]
fn min_age_needs_merged_and_a_duration() {
    let env = TestEnv::new();
    env.shards(&["prune", "--min-age", "1h"])
        .code(2)
        .says(&["--merged"]);
    env.shards(&["prune", "--merged", "--min-age", "soon"])
        .code(2)
        .says(&["soon"]);
    assert!(Path::new(&env.repo).exists());
}

#[test]
fn a_merged_shard_with_a_process_running_from_it_is_kept() {
    let env = TestEnv::new();
    let wt = squash_merged_shard(&env, "busy", "b.txt");
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .current_dir(&wt)
        .spawn()
        .unwrap();
    let doc = env.prune_merged_now();
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert_kept(&doc, "busy", &["processes still run", "sleep"]);
    assert!(wt.exists());
    assert_eq!(names(&env), vec!["busy"]);
}

#[test]
fn a_merged_shard_whose_env_file_holds_lines_of_its_own_is_kept() {
    let env = TestEnv::new();
    let wt = squash_merged_shard(&env, "secret", "s.txt");
    let dotenv = wt.join(".env");
    let text = format!("API_TOKEN=abc\n{}", read(&dotenv));
    std::fs::write(&dotenv, &text).unwrap();
    let doc = env.prune_merged_now();
    assert_kept(&doc, "secret", &["1 line in .env"]);
    assert_eq!(read(&dotenv), text);
}

#[test]
fn issue_17_dry_run_table_and_notes_each_on_a_line_of_their_own() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    shard_with_commit(&env, "done", "d.txt");
    shard_with_commit(&env, "wip", "w.txt");
    squash_into_main(&env, "done");
    let out = env
        .shards(&["prune", "--merged", "--min-age", "0s", "--dry-run"])
        .ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        NAME  PORTS        ACTION         REASON
        done  10000-10009  would reclaim  its branch's changes are in `main` (squash-merged or rebased)
        wip   10010-10019  kept           its branch `wip` is not merged into `main`
        --- stderr ---
        Would reclaim 1 shard(s); run without --dry-run to do it.
        [exit status: 0]
        ");
}

#[test]
fn issue_17_a_dry_run_that_would_reclaim_nothing_says_so() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    shard_with_commit(&env, "wip", "w.txt");
    let out = env
        .shards(&["prune", "--merged", "--min-age", "0s", "--dry-run"])
        .ok();
    insta::assert_snapshot!(env.shown(&out), @r"
        NAME  PORTS        ACTION  REASON
        wip   10000-10009  kept    its branch `wip` is not merged into `main`
        --- stderr ---
        Would reclaim nothing; 1 shard(s) kept, see the table.
        [exit status: 0]
        ");
    let done = env.shards(&["prune", "--merged", "--min-age", "0s"]).ok();
    assert_eq!(done.stdout, out.stdout);
    insta::assert_snapshot!(done.stderr, @"Reclaimed nothing; 1 shard(s) kept, see the table.");
}

#[test]
fn issue_17_a_squash_merged_shard_is_reclaimed_with_its_branch_named() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    squash_merged_shard(&env, "done", "d.txt");
    let tip = env.git(&env.repo, &["rev-parse", "--short=10", "done"]);
    let out = env.shards(&["prune", "--merged", "--min-age", "0s"]).ok();
    let shown = env.shown(&out).replace(tip.trim(), "[TIP]");
    insta::assert_snapshot!(shown, @r"
        NAME  PORTS        ACTION     REASON
        done  10000-10009  reclaimed  its branch's changes are in `main` (squash-merged or rebased)
        --- stderr ---
        deleted branch `done` (was [TIP]): its changes are in `main`; `git branch done [TIP]` brings it back
        Reclaimed 1 shard(s).
        [exit status: 0]
        ");
}
