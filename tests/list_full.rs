//! `shards list --full`: dirty counts, ahead/behind the default branch,
//! last commit, named ports with a live listener, a missing worktree, and
//! the table at 100 columns.

use std::net::TcpListener;

use serde_json::Value;

use crate::common::{TestEnv, ages, shard_path as path};

fn full(env: &TestEnv) -> Vec<Value> {
    let doc = env.shards(&["list", "--full", "--json"]).ok().json();
    doc["shards"].as_array().unwrap().clone()
}

fn by_name<'a>(shards: &'a [Value], name: &str) -> &'a Value {
    shards.iter().find(|s| s["name"] == name).unwrap()
}

#[test]
fn full_json_carries_dirty_counts_ahead_behind_last_commit_and_live_ports() {
    let mut env = TestEnv::new();
    env.set("SHARDS_ENV_DIRENV", "true");
    let a = path(&env.create("a"));
    env.create("b");
    // In a: one tracked file changed, one staged, one untracked file, one
    // commit of its own. The env file and .envrc are shards' own.
    assert!(a.join(".env").exists() && a.join(".envrc").exists());
    std::fs::write(a.join("new.txt"), "new").unwrap();
    env.git(&a, &["commit", "-q", "--allow-empty", "-m", "a1"]);
    std::fs::write(a.join("README.md"), "changed\n").unwrap();
    std::fs::write(a.join("src/lib.rs"), "// staged\n").unwrap();
    env.git(&a, &["add", "src/lib.rs"]);
    // main moves on twice: b (and a) are behind.
    env.git(&env.repo, &["commit", "-q", "--allow-empty", "-m", "m1"]);
    env.git(&env.repo, &["commit", "-q", "--allow-empty", "-m", "m2"]);
    // Named ports: web listened on, api not.
    env.shards(&["port", "web", "api", "--shard", "a"]).ok();
    let (web_port, api_port) = (env.port(0), env.port(1));
    let web = TcpListener::bind(("0.0.0.0", web_port)).expect("the test's ports are free");
    let out = env
        .shards(&["list", "--full"])
        .ok()
        .says(&["`*` after a port"]);
    assert!(
        out.stdout
            .contains(&format!("web:{web_port}* api:{api_port}")),
        "{out}"
    );

    let shards = full(&env);
    let sa = by_name(&shards, "a");
    assert_eq!(sa["modified"], 2, "{sa:#}");
    assert_eq!(sa["untracked"], 1, "{sa:#}");
    assert_eq!(sa["base"], "main");
    assert_eq!(sa["base_source"], "main");
    assert_eq!(
        (&sa["ahead"], &sa["behind"]),
        (&Value::from(1), &Value::from(2))
    );
    assert!(
        sa["last_commit_at"].as_str().unwrap().ends_with('Z'),
        "{sa:#}"
    );
    assert_eq!(sa["worktree_error"], Value::Null);
    assert_eq!(
        sa["services"],
        serde_json::json!([
            {"service": "web", "port": web_port, "listening": true},
            {"service": "api", "port": api_port, "listening": false},
        ])
    );
    let sb = by_name(&shards, "b");
    assert_eq!(
        (&sb["modified"], &sb["untracked"]),
        (&Value::from(0), &Value::from(0))
    );
    assert_eq!(
        (&sb["ahead"], &sb["behind"]),
        (&Value::from(0), &Value::from(2))
    );
    assert_eq!(sb["services"], serde_json::json!([]));
    drop(web);
    assert_eq!(by_name(&full(&env), "a")["services"][0]["listening"], false);
}

/// Runs `shards list ARGS --json` in the repository, killing it after
/// `secs`; returns its outcome, or `None` when it had not ended by then.
fn list_within(secs: u64, env: &TestEnv, args: &[&str]) -> Option<crate::common::Out> {
    let mut all = vec!["list", "--json"];
    all.extend(args);
    let mut child = env
        .command_in(&env.repo, &all)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(secs) {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(crate::common::Out::from(
        &all,
        child.wait_with_output().unwrap(),
    ))
}

#[test]
fn plain_list_reads_no_worktree_and_adds_no_fields() {
    let env = TestEnv::new();
    let wt = path(&env.create("a"));
    let before = env.shards(&["list", "--json"]).ok();
    // A trap: the worktree's index (in git's record of it) becomes a named
    // pipe nobody writes, so whatever reads the worktree's state blocks or
    // fails on it. Its `.git` link, which list checks, is untouched.
    let record = env.git(&wt, &["rev-parse", "--absolute-git-dir"]);
    let index = std::path::Path::new(record.trim()).join("index");
    std::fs::remove_file(&index).unwrap();
    let c = std::ffi::CString::new(index.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // The trap works: `list --full` reads the worktree and is caught.
    let full = list_within(2, &env, &["--full"]);
    assert!(
        full.as_ref().is_none_or(|out| out.code != 0
            || !out.json()["shards"][0]["worktree_error"].is_null()),
        "list --full read past the trap: {full:?}"
    );
    // The plain list does not fall in: it ends at once, unchanged.
    let out = list_within(10, &env, &[]).expect("the plain list read the worktree's index");
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, before.stdout);
    let doc = out.json();
    let s = doc["shards"][0].as_object().unwrap();
    for key in [
        "modified",
        "untracked",
        "ahead",
        "behind",
        "services",
        "base",
    ] {
        assert!(!s.contains_key(key), "plain list has {key}: {doc:#}");
    }
}

#[test]
fn a_missing_worktree_is_shown_and_the_others_are_read() {
    let env = TestEnv::new();
    let gone = path(&env.create("gone"));
    let here = path(&env.create("here"));
    std::fs::remove_dir_all(&gone).unwrap();
    std::fs::write(here.join("x.txt"), "x").unwrap();
    let shards = full(&env);
    let g = by_name(&shards, "gone");
    assert_eq!(g["status"], "missing");
    assert_eq!(g["worktree_error"], "its worktree is missing");
    assert_eq!(g["modified"], Value::Null);
    assert_eq!(by_name(&shards, "here")["untracked"], 1);
    let out = env.shards(&["list", "--full"]).ok();
    let row = out.stdout.lines().find(|l| l.starts_with("gone ")).unwrap();
    assert!(row.contains("missing"), "{out}");
    // A plain folder in its place is not read as if it were the worktree.
    std::fs::create_dir(&gone).unwrap();
    std::fs::write(gone.join("other.txt"), "x").unwrap();
    let shards = full(&env);
    let g = by_name(&shards, "gone");
    assert_eq!(g["status"], "replaced");
    assert_eq!(
        g["worktree_error"],
        "its folder is no longer its git worktree"
    );
    assert_eq!(g["untracked"], Value::Null);
}

#[test]
fn the_base_is_what_origin_head_points_to_when_set() {
    let env = TestEnv::new();
    let a = path(&env.create("a"));
    env.git(&a, &["commit", "-q", "--allow-empty", "-m", "a1"]);
    // A remote whose main is one commit ahead of the local main.
    env.git(
        &env.repo,
        &["commit", "-q", "--allow-empty", "-m", "upstream"],
    );
    let upstream = env.git(&env.repo, &["rev-parse", "HEAD"]);
    env.git(&env.repo, &["reset", "-q", "--hard", "HEAD~1"]);
    env.git(
        &env.repo,
        &["remote", "add", "origin", "https://example.invalid/r.git"],
    );
    env.git(
        &env.repo,
        &["update-ref", "refs/remotes/origin/main", upstream.trim()],
    );
    env.git(
        &env.repo,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/main",
        ],
    );
    let shards = full(&env);
    let s = by_name(&shards, "a");
    assert_eq!(s["base"], "origin/main", "{s:#}");
    assert_eq!(s["base_source"], "origin/HEAD");
    assert_eq!(
        (&s["ahead"], &s["behind"]),
        (&Value::from(1), &Value::from(1))
    );
    env.shards(&["list", "--full"])
        .ok()
        .says(&["+/-: commits ahead of/behind `origin/main`"]);
}

#[test]
fn the_full_table_fits_100_columns() {
    let env = TestEnv::new();
    let a = path(&env.create("feature-auth"));
    env.create("fix/login-redirect");
    std::fs::write(a.join("wip.txt"), "x").unwrap();
    env.shards(&["port", "web", "api", "db", "--shard", "feature-auth"])
        .ok();
    let _web = TcpListener::bind(("127.0.0.1", env.port(0))).expect("the test's ports are free");
    let out = env.shards(&["list", "--full"]).ok();
    // LAST (the age of the last commit, made at a fixed date) grows from
    // day to day: `ages` shows it as `Nd`.
    insta::assert_snapshot!(ages(&env.shown(&out)), @"
    NAME                BRANCH              STATUS  DIRTY  +/-    LAST  SERVICES
    feature-auth        feature-auth        active  1?     +0/-0  Nd    web:10000* api:10001 db:10002
    fix/login-redirect  fix/login-redirect  active  clean  +0/-0  Nd    -
    --- stderr ---
    +/-: commits ahead of/behind `main` (the local branch) in [TMP]/repo.
    SERVICES: `*` after a port: something listens on it.
    [exit status: 0]
    ");
    let lines: Vec<&str> = out.stdout.lines().collect();
    for l in &lines {
        assert!(
            l.chars().count() <= 100,
            "wider than 100 columns: {l:?}\n{out}"
        );
    }
}
