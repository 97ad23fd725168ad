//! Issue 11: a shard is exactly what `git worktree add` makes. Each test
//! makes git's own worktree of the same repository in the same test and
//! compares it with the shard: files byte for byte (with executable bits
//! and symlinks), `git ls-files -s`, a clean `git status`, upstream, sparse
//! patterns, the hook's arguments, the HEAD reflog. Filters, encodings, a
//! failing git and sparse checkouts are in `parity_filters`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{TestEnv, shard_path};

/// Every file under `root` but `.git` and the shard's own env files: the
/// path, its mode (file, executable, symlink, folder) and its bytes (or
/// the symlink's target).
fn tree(root: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == ".git" || rel == ".env" || rel == ".envrc" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let entry = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                ("link".into(), target.to_string_lossy().as_bytes().to_vec())
            } else if meta.is_dir() {
                todo.push(p.clone());
                ("dir".into(), Vec::new())
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                let kind = if exec { "exec" } else { "file" };
                (kind.into(), std::fs::read(&p).unwrap())
            };
            out.insert(rel, entry);
        }
    }
    out
}

/// Asserts that the shard at `shard` is what git made at `git_wt`: same
/// files, same index, same HEAD commit, both clean, both with a HEAD reflog.
#[track_caller]
pub(crate) fn assert_same(env: &TestEnv, shard: &Path, git_wt: &Path) {
    assert_eq!(tree(shard), tree(git_wt), "files differ");
    let ls = |p: &Path| env.git(p, &["ls-files", "-s"]);
    assert_eq!(ls(shard), ls(git_wt), "index differs");
    let head = |p: &Path| env.git(p, &["rev-parse", "HEAD"]);
    assert_eq!(head(shard), head(git_wt));
    for wt in [shard, git_wt] {
        assert_eq!(
            env.git(wt, &["status", "--porcelain"]),
            "",
            "{wt:?} not clean"
        );
        let admin = env.git(wt, &["rev-parse", "--absolute-git-dir"]);
        assert!(
            Path::new(admin.trim()).join("logs/HEAD").is_file(),
            "{wt:?} has no HEAD reflog"
        );
    }
}

/// Makes git's own worktree `git-<branch>` of the repository on a new branch.
fn git_add(env: &TestEnv, args: &[&str]) -> PathBuf {
    let mut all = vec!["worktree", "add"];
    all.extend_from_slice(args);
    env.git(&env.repo, &all);
    PathBuf::from(args.iter().find(|a| a.contains("/git-")).unwrap())
}

pub(crate) fn git_wt(env: &TestEnv, name: &str) -> PathBuf {
    let p = env.root.join(format!("git-{name}"));
    env.git(
        &env.repo,
        &["worktree", "add", "-q", "-b", name, p.to_str().unwrap()],
    );
    p
}

pub(crate) fn create(env: &TestEnv, args: &[&str]) -> PathBuf {
    let mut all = vec!["create", "--json"];
    all.extend_from_slice(args);
    shard_path(&env.shards(&all).ok().json())
}

pub(crate) fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub(crate) fn commit_all(env: &TestEnv, message: &str) {
    env.git(&env.repo, &["add", "-A"]);
    env.git(&env.repo, &["commit", "-q", "-m", message]);
}

/// A repository `up` with branches `topic` and `topic2` (one commit ahead
/// of `main`), fetched into the test repository as `origin`.
fn with_origin(env: &TestEnv) {
    let up = env.new_repo("up");
    env.git(&up, &["checkout", "-q", "-b", "topic"]);
    write(&up.join("remote.txt"), "from the remote\n");
    env.git(&up, &["add", "-A"]);
    env.git(&up, &["commit", "-q", "-m", "remote work"]);
    env.git(&up, &["branch", "topic2"]);
    env.git(&up, &["checkout", "-q", "main"]);
    env.git(
        &env.repo,
        &["remote", "add", "origin", up.to_str().unwrap()],
    );
    env.git(&env.repo, &["fetch", "-q", "origin"]);
}

fn config(env: &TestEnv, key: &str) -> String {
    let out = std::process::Command::new("git")
        .args(["config", "--get", key])
        .current_dir(&env.repo)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Before: `create x --branch topic` with `topic` only on `origin` made a
/// new local `topic` from HEAD, silently. Now, as `git worktree add <path>
/// topic2`: origin's commit, tracking it.
#[test]
fn issue_11_a_branch_only_on_a_remote_is_checked_out_from_it_and_tracked() {
    let env = TestEnv::new();
    with_origin(&env);
    let shard = create(&env, &["x", "--branch", "topic"]);
    let theirs = git_add(
        &env,
        &[
            "-q",
            env.root.join("git-topic2").to_str().unwrap(),
            "topic2",
        ],
    );
    assert_same(&env, &shard, &theirs);
    assert!(shard.join("remote.txt").is_file());
    assert_eq!(config(&env, "branch.topic.remote"), "origin");
    assert_eq!(config(&env, "branch.topic.merge"), "refs/heads/topic");
    assert_eq!(config(&env, "branch.topic2.merge"), "refs/heads/topic2");
}

/// Before: `--base origin/topic` gave no upstream. Now as `git worktree
/// add -b g <path> origin/topic`: the same `branch.*.remote` and `merge`.
#[test]
fn issue_11_a_remote_base_sets_the_upstream_as_git_does() {
    let env = TestEnv::new();
    with_origin(&env);
    let shard = create(&env, &["x", "--base", "origin/topic"]);
    let theirs = git_add(
        &env,
        &[
            "-q",
            "-b",
            "g",
            env.root.join("git-g").to_str().unwrap(),
            "origin/topic",
        ],
    );
    assert_same(&env, &shard, &theirs);
    for key in ["remote", "merge"] {
        let ours = config(&env, &format!("branch.x.{key}"));
        assert!(!ours.is_empty(), "no branch.x.{key}");
        assert_eq!(ours, config(&env, &format!("branch.g.{key}")));
    }
}

/// Writes an executable post-checkout hook at `path` that appends its
/// arguments and the folder it runs in to `log`.
fn hook(path: &Path, log: &Path) {
    write(
        path,
        &format!(
            "#!/bin/sh\necho \"$1 $2 $3 $(basename \"$PWD\")\" >> {}\n",
            log.display()
        ),
    );
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Before: no hook ran. Now the post-checkout hook runs with git's own
/// arguments (`000… <sha> 1`), from `.git/hooks` and from `core.hooksPath`.
#[test]
fn issue_11_the_post_checkout_hook_runs_with_gits_arguments() {
    let env = TestEnv::new();
    let log = env.root.join("hook.log");
    hook(&env.repo.join(".git/hooks/post-checkout"), &log);
    let shard = create(&env, &["x"]);
    let theirs = git_wt(&env, "g");
    assert_same(&env, &shard, &theirs);
    let lines = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let head = env.git(&env.repo, &["rev-parse", "HEAD"]);
    assert_eq!(lines[0], format!("{} {} 1 x", "0".repeat(40), head.trim()));
    assert_eq!(
        lines[1],
        format!("{} {} 1 git-g", "0".repeat(40), head.trim())
    );

    // core.hooksPath, as husky and lefthook set it.
    std::fs::remove_file(&log).unwrap();
    hook(&env.repo.join(".husky/post-checkout"), &log);
    env.git(&env.repo, &["config", "core.hooksPath", ".husky"]);
    create(&env, &["y"]);
    git_wt(&env, "h");
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.contains(" 1 y\n") && lines.contains(" 1 git-h\n"),
        "{lines}"
    );
}

/// Before: `shards destroy` removed a worktree locked with `git worktree
/// lock`. Now it refuses, naming the reason, as `git worktree remove`
/// does; `--force` alone (work) still refuses; `--force --force` goes.
#[test]
fn issue_11_a_locked_shard_is_refused_by_destroy_with_its_reason() {
    let env = TestEnv::new();
    let shard = create(&env, &["x"]);
    let theirs = git_wt(&env, "g");
    for wt in [&shard, &theirs] {
        env.git(
            &env.repo,
            &[
                "worktree",
                "lock",
                "--reason",
                "on a usb disk",
                wt.to_str().unwrap(),
            ],
        );
    }
    let git_remove = |force: &[&str]| {
        std::process::Command::new("git")
            .args(["worktree", "remove"])
            .args(force)
            .arg(&theirs)
            .current_dir(&env.repo)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap()
            .success()
    };
    assert!(!git_remove(&[]));
    for args in [vec!["destroy", "x"], vec!["destroy", "--force", "x"]] {
        env.shards(&args)
            .code(1)
            .says(&["locked (on a usb disk)", "--force --force"]);
        assert!(shard.join("README.md").is_file());
        assert_eq!(env.list().len(), 1);
        assert!(env.branches(&env.repo).contains(&"x".to_string()));
    }
    assert!(git_remove(&["-f", "-f"]));
    env.shards(&["destroy", "--force", "--force", "x"]).ok();
    assert!(!shard.exists());
    assert!(env.list().is_empty());
    env.assert_only_main_worktree();
}

/// Submodules are not initialised (an empty folder, as git leaves it),
/// executable bits and symlinks are kept, and the new worktree has a HEAD
/// reflog (before: none until the first commit).
#[test]
fn issue_11_submodules_modes_symlinks_and_reflog_as_git() {
    let env = TestEnv::new();
    let sub = env.new_repo("lib");
    env.add_submodule(&sub, "vendor/lib");
    write(&env.repo.join("run.sh"), "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        env.repo.join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("run.sh", env.repo.join("link")).unwrap();
    std::os::unix::fs::symlink("../README.md", env.repo.join("src/readme")).unwrap();
    commit_all(&env, "submodule, script, links");
    let shard = create(&env, &["x"]);
    let theirs = git_wt(&env, "g");
    assert_same(&env, &shard, &theirs);
    let files = tree(&shard);
    assert_eq!(files["run.sh"].0, "exec");
    assert_eq!(files["link"], ("link".to_string(), b"run.sh".to_vec()));
    assert_eq!(files["vendor/lib"].0, "dir");
    assert!(
        std::fs::read_dir(shard.join("vendor/lib"))
            .unwrap()
            .next()
            .is_none()
    );
}
