//! Issue 10, cases 5 and 6: a repository moved with `mv` keeps its shards
//! (with or without `git worktree repair`), a repository that cannot be
//! read is never taken for gone, and a shard folder replaced by a plain
//! folder shows `replaced` and gives its block back without losing the
//! folder. Every case checks rows, blocks, files and git's records before
//! and after.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::procs::without_read_override;
use crate::common::{TestEnv, init_repo, ports, read, run_ok, shard_path};

/// The ledger as text: repositories, then shards (name, path, state, block).
fn ledger(env: &TestEnv) -> (Vec<String>, Vec<String>) {
    let conn = rusqlite::Connection::open_with_flags(
        env.ledger(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let read = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get::<_, rusqlite::types::Value>(i).unwrap() {
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    (
        read("SELECT git_dir, root FROM repos ORDER BY id"),
        read("SELECT name, path, state, port_start, port_end FROM shards ORDER BY id"),
    )
}

/// Runs a real command in `dir` and asserts it succeeded.
fn run(program: &str, args: &[&str], dir: &Path) {
    run_ok(Command::new(program).args(args).current_dir(dir));
}

/// A test world whose port pool is 5 blocks of 10.
fn pooled_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.small_pool(10, 5);
    env
}

/// Moves `from` to `to` with `mv`, as a user would.
fn mv(env: &TestEnv, from: &Path, to: &Path) {
    run(
        "mv",
        &[from.to_str().unwrap(), to.to_str().unwrap()],
        &env.root,
    );
}

/// Moves the test's repository to `<root>/name`; returns the new path.
fn move_repo(env: &TestEnv, name: &str) -> PathBuf {
    let moved = env.root.join(name);
    mv(env, &env.repo, &moved);
    moved
}

/// Makes a repository `<root>/folder/repo`; returns the folder and the
/// repository.
fn repo_in_folder(env: &TestEnv, folder: &str) -> (PathBuf, PathBuf) {
    let folder = env.root.join(folder);
    let repo = folder.join("repo");
    init_repo(&repo);
    (folder, repo)
}

/// The ledger's `repos` row (`git_dir|root`) of a repository at `repo`.
fn repo_row(repo: &Path) -> String {
    format!("{}|{}", repo.join(".git").display(), repo.display())
}

/// Creates shards `a` (clean) and `b` (uncommitted and untracked work) in
/// `repo`; returns their worktree folders.
fn two_shards(env: &TestEnv, repo: &Path) -> (PathBuf, PathBuf) {
    let a = env.shards_in(repo, &["create", "a", "--json"]).ok().json();
    let b = env.shards_in(repo, &["create", "b", "--json"]).ok().json();
    let (a, b) = (shard_path(&a), shard_path(&b));
    std::fs::write(b.join("README.md"), "hello\nmy unsaved change\n").unwrap();
    std::fs::write(b.join("notes.txt"), "only copy of my notes\n").unwrap();
    (a, b)
}

/// Runs `command [--all] --json` in `dir` (a command whose report is a
/// list of shards) and returns that list.
fn shards_json(env: &TestEnv, dir: &Path, command: &str, all: bool) -> Vec<Value> {
    let mut args = vec![command];
    if all {
        args.push("--all");
    }
    args.push("--json");
    env.shards_in(dir, &args).ok().json()["shards"]
        .as_array()
        .unwrap()
        .clone()
}

/// A [`pooled_env`] with [`two_shards`] in its repository; returns it and
/// the shards' worktree folders.
fn pooled_env_with_two_shards() -> (TestEnv, PathBuf, PathBuf) {
    let env = pooled_env();
    let (a, b) = two_shards(&env, &env.repo);
    (env, a, b)
}

fn list_in(env: &TestEnv, dir: &Path, all: bool) -> Vec<Value> {
    shards_json(env, dir, "list", all)
}

/// Asserts that shard `b`'s work is exactly where it was and git still sees it.
fn assert_work_kept(env: &TestEnv, b: &Path) {
    assert_eq!(read(&b.join("notes.txt")), "only copy of my notes\n");
    assert_eq!(read(&b.join("README.md")), "hello\nmy unsaved change\n");
    let status = env.git(b, &["status", "--porcelain"]);
    assert!(
        status.contains(" M README.md") && status.contains("?? notes.txt"),
        "{status}"
    );
}

fn prune_json(env: &TestEnv, dir: &Path, all: bool) -> Vec<Value> {
    shards_json(env, dir, "prune", all)
}

#[test]
fn issue_10_moved_repository_keeps_its_shards_after_worktree_repair() {
    let (env, a, b) = pooled_env_with_two_shards();
    let (repos, shards) = ledger(&env);
    assert_eq!(repos.len(), 1);
    assert_eq!(shards.len(), 2);
    let blocks: Vec<_> = list_in(&env, &env.repo, false).iter().map(ports).collect();

    let moved = move_repo(&env, "repo-renamed");
    run("git", &["worktree", "repair"], &moved);

    // `list` in the new place shows both shards, active, in the new place.
    let listed = list_in(&env, &moved, false);
    assert_eq!(listed.len(), 2, "{listed:?}");
    for s in &listed {
        assert_eq!(s["status"], "active", "{s}");
        assert_eq!(s["repo"], moved.to_str().unwrap());
    }
    assert_eq!(listed.iter().map(ports).collect::<Vec<_>>(), blocks);
    // The ledger follows the repository: its git dir and root, same shards.
    let (repos_after, shards_after) = ledger(&env);
    assert_eq!(repos_after, vec![repo_row(&moved)]);
    assert_eq!(shards_after, shards);

    // prune (here and everywhere) keeps both; the work stays.
    assert_eq!(prune_json(&env, &moved, true), Vec::<Value>::new());
    assert_eq!(prune_json(&env, &env.root, true), Vec::<Value>::new());
    assert_eq!(ledger(&env).1, shards);
    assert!(a.join(".git").is_file());
    assert_work_kept(&env, &b);
    let wts = env.git(&moved, &["worktree", "list", "--porcelain"]);
    assert!(wts.contains(a.to_str().unwrap()) && wts.contains(b.to_str().unwrap()));
    assert!(env.branches(&moved).contains(&"b".to_string()));

    // The moved shards are fully usable: a plain destroy still refuses the work.
    env.shards_in(&moved, &["destroy", "b"]).code(1);
    env.shards_in(&moved, &["destroy", "a"]).ok();
    assert!(!a.exists());
    assert_eq!(ledger(&env).1, shards[1..].to_vec());
    assert_work_kept(&env, &b);
}

#[test]
fn issue_10_prune_elsewhere_follows_a_moved_repository() {
    let (env, _a, b) = pooled_env_with_two_shards();
    let (_, shards) = ledger(&env);

    let moved = move_repo(&env, "elsewhere");
    run("git", &["worktree", "repair"], &moved);

    // Nothing has run in the new place yet: prune --all from outside any
    // repository must not take the live worktrees for debris.
    let pruned = prune_json(&env, &env.home, true);
    assert!(pruned.iter().all(|p| p["reclaimed"] == false), "{pruned:?}");
    assert_eq!(ledger(&env).1, shards);
    assert_eq!(ledger(&env).0, vec![repo_row(&moved)]);
    assert_work_kept(&env, &b);
    let listed = list_in(&env, &env.home, true);
    assert!(listed.iter().all(|s| s["status"] == "active"), "{listed:?}");
}

#[test]
fn issue_10_moved_repository_is_recognised_before_worktree_repair() {
    let (env, _a, b) = pooled_env_with_two_shards();
    let (_, shards) = ledger(&env);

    let moved = move_repo(&env, "repo-renamed");
    // git's records in the moved repository still point at the shards:
    // that is enough to know them, before `git worktree repair`.
    let listed = list_in(&env, &moved, false);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|s| s["status"] == "active"), "{listed:?}");
    assert_eq!(prune_json(&env, &moved, true), Vec::<Value>::new());
    assert_eq!(ledger(&env).1, shards);
    // b's files are untouched (git cannot read it until repaired).
    assert_eq!(read(&b.join("notes.txt")), "only copy of my notes\n");
    run("git", &["worktree", "repair"], &moved);
    assert_work_kept(&env, &b);
    assert_eq!(list_in(&env, &moved, false).len(), 2);
}

#[test]
fn issue_10_moved_worktrees_follow_their_repository() {
    // Worktrees that moved with the repository (both under one folder)
    // follow it: the ledger records their new folders.
    let env = pooled_env();
    let (proj, repo) = repo_in_folder(&env, "proj");
    env.write_config(&format!(
        "[worktree]\nroot = \"{}/wt/{{name}}\"\n",
        proj.display()
    ));
    let (_, b) = two_shards(&env, &repo);
    assert!(b.starts_with(&proj));
    let (_, shards) = ledger(&env);

    let proj2 = env.root.join("proj2");
    mv(&env, &proj, &proj2);
    let repo2 = proj2.join("repo");
    run("git", &["worktree", "repair", "../wt/a", "../wt/b"], &repo2);

    let listed = list_in(&env, &repo2, false);
    let paths: Vec<_> = listed
        .iter()
        .map(|s| s["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        vec![
            proj2.join("wt/a").to_str().unwrap().to_string(),
            proj2.join("wt/b").to_str().unwrap().to_string()
        ]
    );
    assert!(listed.iter().all(|s| s["status"] == "active"), "{listed:?}");
    let (_, after) = ledger(&env);
    assert_eq!(after.len(), shards.len());
    assert!(
        after[1].contains(proj2.join("wt/b").to_str().unwrap()),
        "{after:?}"
    );
    assert_eq!(prune_json(&env, &repo2, true), Vec::<Value>::new());
    assert_work_kept(&env, &proj2.join("wt/b"));
}

#[test]
fn issue_10_unreadable_repository_is_not_gone() {
    let env = pooled_env();
    let (private, repo) = repo_in_folder(&env, "private");
    let (_a, b) = two_shards(&env, &repo);
    let before = ledger(&env);

    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let prune = env.command_in(&env.home, &["prune", "--all", "--json"]);
    let prune = if is_root {
        // Root reads through any mode: without dropping that override the
        // case cannot be made, and a test that cannot run must not pass.
        without_read_override(prune).expect(
            "running as root, and setpriv (util-linux) cannot drop CAP_DAC_OVERRIDE here, so this case cannot be made; run the tests as a normal user",
        )
    } else {
        prune
    };
    run("chmod", &["000", private.to_str().unwrap()], &env.root);
    let mut prune = prune;
    let out = prune.output().unwrap();
    run("chmod", &["755", private.to_str().unwrap()], &env.root);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let pruned = report["shards"].as_array().unwrap();
    assert_eq!(pruned.len(), 2, "{report}");
    for p in pruned {
        assert_eq!(p["reclaimed"], false, "{p}");
        assert!(
            p["reason"].as_str().unwrap().contains("cannot be read"),
            "{p}"
        );
    }
    assert_eq!(ledger(&env), before);
    assert_work_kept(&env, &b);
    assert_eq!(list_in(&env, &repo, false).len(), 2);
}

#[test]
fn issue_10_replaced_folder_shows_replaced_and_prune_leaves_it() {
    let (env, a, b) = pooled_env_with_two_shards();
    let (_, shards) = ledger(&env);
    let a_block = ports(&list_in(&env, &env.repo, false)[0]);

    // The shard's worktree is replaced by a plain folder holding a file.
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::create_dir(&a).unwrap();
    std::fs::write(a.join("mine.txt"), "not a worktree\n").unwrap();

    let listed = list_in(&env, &env.repo, false);
    assert_eq!(listed[0]["status"], "replaced", "{listed:?}");
    assert_eq!(listed[1]["status"], "active", "{listed:?}");
    let table = env.shards(&["list"]).ok();
    assert!(table.stdout.contains("replaced"), "{table}");

    let dry = env.shards(&["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(dry["shards"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(ledger(&env).1, shards);
    let pruned = env.shards(&["prune", "--json"]).ok().json();
    let pruned = pruned["shards"].as_array().unwrap();
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    assert_eq!(pruned[0]["name"], "a");
    assert_eq!(pruned[0]["reclaimed"], true);
    assert!(
        pruned[0]["reason"].as_str().unwrap().contains("replaced"),
        "{pruned:?}"
    );
    assert!(
        pruned[0]["notes"][0].as_str().unwrap().contains("left"),
        "{pruned:?}"
    );
    // The folder and its file stay; a's row and block are gone; b is untouched.
    assert_eq!(read(&a.join("mine.txt")), "not a worktree\n");
    assert_eq!(ledger(&env).1, shards[1..].to_vec());
    assert_work_kept(&env, &b);
    // The freed block is handed out again.
    let c = env.create("c");
    assert_eq!(ports(&c["shard"]), a_block);
}
