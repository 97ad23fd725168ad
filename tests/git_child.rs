//! The `git worktree add` that shards runs as a child (issue 11), as a
//! review tried to break it: git's environment from a parent git, a shard
//! created by git's own hook, and a branch or folder that appears while a
//! create waits for the repository's worktree lock. Nothing shards did not
//! make may be removed, and nothing may hang.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::common::{TestEnv, init_repo, shard_path};

/// shards run from a git hook inherits `GIT_DIR` and `GIT_INDEX_FILE`; the
/// git it runs must act on the repository shards found, not on those.
/// (Before: the worktree and branch went to the other repository and the
/// shard was stranded as `replaced`.)
#[test]
fn issue_11_a_parent_gits_environment_does_not_redirect_the_create() {
    let env = TestEnv::new();
    let other = env.root.join("other");
    init_repo(&other);
    let out = env
        .command_in(&env.repo, &["create", "e1", "--json"])
        .env("GIT_DIR", other.join(".git"))
        .env("GIT_INDEX_FILE", env.repo.join(".git/index"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let wt = shard_path(&r);
    assert_eq!(env.list()[0]["status"], "active");
    assert_eq!(env.branches(&env.repo), vec!["e1", "main"]);
    assert_eq!(env.branches(&other), vec!["main"]);
    assert_eq!(env.git(&env.repo, &["status", "--porcelain"]), "");
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    env.shards(&["destroy", "e1"]).ok();
}

/// A post-checkout hook that creates another shard of the same repository
/// finishes: the inner shards does not wait for the lock the outer one
/// holds while its git runs the hook. (Before: it waited forever.)
#[test]
fn issue_11_a_hook_that_creates_a_shard_does_not_hang() {
    let env = TestEnv::new();
    let hook = env.repo.join(".git/hooks/post-checkout");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    let bin = env!("CARGO_BIN_EXE_shards");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ncase \"$PWD\" in */outer) \"{bin}\" -C \"$PWD\" create inner >/dev/null || exit 1;; esac\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = env
        .command_in(&env.repo, &["create", "outer"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("create with a hook that creates a shard hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let names: Vec<_> = env.list().iter().map(|s| s["name"].clone()).collect();
    assert_eq!(names, vec!["outer", "inner"]);
    assert!(env.list().iter().all(|s| s["status"] == "active"));
}

/// Holds the repository's worktree lock, as another create would, and
/// starts `create NAME`, which waits for it; returns both.
fn create_behind_the_lock(env: &TestEnv, name: &str) -> (File, std::process::Child) {
    let lock = File::open(env.repo.join(".git/shards.worktree-lock")).unwrap();
    lock.lock().unwrap();
    let child = env
        .command_in(&env.repo, &["create", name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    (lock, child)
}

/// A branch of the shard's name made while the create waits for the
/// repository's worktree lock makes git refuse; the undo must leave that
/// branch, which the create did not make. (Before: the undo deleted it,
/// since it still pointed at the base.)
#[test]
fn issue_11_a_branch_made_while_a_create_waits_is_never_deleted() {
    let env = TestEnv::new();
    env.create("first");
    let (lock, child) = create_behind_the_lock(&env, "feat");
    env.git(&env.repo, &["branch", "feat"]);
    lock.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(env.branches(&env.repo), vec!["feat", "first", "main"]);
    assert_eq!(env.list().len(), 1);
    assert!(!env.shards_home.join("worktrees/repo/feat").exists());
}

/// A folder made at the shard's path while the create waits for the lock
/// is refused as taken and left as it is, with its files.
#[test]
fn issue_11_a_folder_made_while_a_create_waits_is_left_alone() {
    let env = TestEnv::new();
    env.create("first");
    let (lock, child) = create_behind_the_lock(&env, "victim");
    let wt = env.shards_home.join("worktrees/repo/victim");
    env.git(
        &env.repo,
        &["worktree", "add", "-q", "-b", "mine", wt.to_str().unwrap()],
    );
    std::fs::write(wt.join("notes.txt"), "precious").unwrap();
    lock.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(wt.join("notes.txt")).unwrap(),
        "precious"
    );
    assert!(env.git(&env.repo, &["worktree", "list"]).contains("[mine]"));
    assert_eq!(env.list().len(), 1);
}

/// A git stopped while it makes the branch can die holding
/// `refs/heads/BRANCH.lock` (a signal between the lock file's creation and
/// git's handler that would remove it; seen under load in
/// `interrupt::issue_10_sigint_or_sigterm_during_create_undoes_it`). The
/// undo removes that lock with the rest of what the create made, so the
/// next create of the branch works. Here a `git` that makes the lock and
/// dies by SIGKILL stands in for it.
#[test]
fn a_branch_lock_a_dying_git_left_goes_with_the_undo() {
    let env = TestEnv::new();
    let fake = env.root.join("fake-git");
    std::fs::create_dir_all(&fake).unwrap();
    let real = crate::common::real_git();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = worktree ] && [ \"$2\" = add ] && [ \"$3\" = -b ]; then\n  : > '{}/.git/refs/heads/'\"$4\".lock\n  kill -KILL $$\nfi\nexec {} \"$@\"\n",
        env.repo.display(),
        real
    );
    let git = fake.join("git");
    std::fs::write(&git, script).unwrap();
    std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let out = env
        .command_in(&env.repo, &["create", "locked"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!env.repo.join(".git/refs/heads/locked.lock").exists());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    assert!(env.list().is_empty());
    // With the real git, the branch can be made now.
    env.shards(&["create", "locked"]).ok();
    assert_eq!(env.branches(&env.repo), vec!["locked", "main"]);
}
