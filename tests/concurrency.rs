//! Many real `shards` processes at once share one ledger safely.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{TestEnv, disjoint_blocks};

#[test]
fn thirty_two_creates_at_once_get_thirty_two_distinct_blocks() {
    const N: usize = 32;
    let env = TestEnv::with_ports(N as u16 * 100);
    let jobs: Vec<Vec<String>> = (0..N)
        .map(|i| vec!["create".into(), format!("s{i}"), "--json".into()])
        .collect();
    for out in env.shards_at_once(&jobs) {
        out.ok();
    }
    let shards = env.list();
    assert_eq!(shards.len(), N);
    let blocks = disjoint_blocks(&shards);
    // Lowest-first: the 32 blocks are exactly the first 32 of the pool.
    let expected: Vec<(u64, u64)> = (0..N as u16).map(|k| env.block(k)).collect();
    assert_eq!(blocks, expected);
    let paths: BTreeSet<PathBuf> = shards
        .iter()
        .map(|s| PathBuf::from(s["path"].as_str().unwrap()))
        .collect();
    assert_eq!(paths.len(), N);
    for p in &paths {
        assert!(
            p.join(".git").is_file(),
            "{} is not a worktree",
            p.display()
        );
    }
    assert_eq!(
        env.git(&env.repo, &["worktree", "list"]).lines().count(),
        N + 1
    );
    assert!(shards.iter().all(|s| s["status"] == "active"));
}

#[test]
fn creates_and_destroys_racing_keep_the_ledger_consistent() {
    let env = TestEnv::new();
    for i in 0..8 {
        env.create(&format!("old{i}"));
    }
    // The old shards go one after another; then creates and prunes race.
    for i in 0..8 {
        env.shards(&["destroy", &format!("old{i}")]).ok();
    }
    let jobs: Vec<Vec<String>> = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                vec!["create".into(), format!("new{i}")]
            } else {
                vec!["prune".into()]
            }
        })
        .collect();
    for out in env.shards_at_once(&jobs) {
        out.ok();
    }
    let shards = env.list();
    assert_eq!(shards.len(), 8);
    disjoint_blocks(&shards);
}

#[test]
fn sixty_four_processes_opening_a_new_ledger_at_once_all_succeed() {
    // Setting up a new ledger (WAL switch, first migration) can meet
    // SQLITE_BUSY without SQLite's busy handler; before the retry, about one
    // run in a few had a process fail with "stayed locked".
    for round in 0..3 {
        let mut env = TestEnv::new();
        env.set(
            "SHARDS_HOME",
            env.root.join(format!("home{round}")).to_str().unwrap(),
        );
        let jobs = vec![vec!["list".to_string(), "--json".to_string()]; 64];
        for out in env.shards_at_once(&jobs) {
            out.ok();
        }
    }
}

#[test]
fn racing_creates_never_check_one_branch_out_twice() {
    let env = TestEnv::new();
    env.git(&env.repo, &["branch", "existing"]);
    for branch in ["existing", "fresh"] {
        let jobs: Vec<Vec<String>> = (0..8)
            .map(|i| {
                let name = format!("{branch}{i}");
                vec!["create".into(), name, "--branch".into(), branch.into()]
            })
            .collect();
        let mut ok = 0;
        for out in env.shards_at_once(&jobs) {
            if out.code == 0 {
                ok += 1;
            } else {
                out.says(&["already checked out"]);
            }
        }
        assert_eq!(ok, 1, "{branch}: {ok} shards got the branch");
        let list = env.git(&env.repo, &["worktree", "list"]);
        assert_eq!(list.matches(&format!("[{branch}]")).count(), 1, "{list}");
    }
    assert!(env.branches(&env.repo).contains(&"fresh".to_string()));
}
