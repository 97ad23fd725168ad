//! git's parallel checkout (issue 19): shards leaves `checkout.workers`
//! to the user. A `git` on `PATH` that logs how it was run shows that
//! `create` passes no `checkout.*` setting (neither `-c` nor
//! `GIT_CONFIG_PARAMETERS`), so the user's own setting is the one git uses.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

/// Puts a `git` in `dir` that appends its arguments and
/// `GIT_CONFIG_PARAMETERS` to `log`, then runs the real `git`.
fn logging_git(dir: &Path, log: &Path) -> PathBuf {
    let real = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH");
    fs::create_dir_all(dir).unwrap();
    let script = dir.join("git");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf 'args: %s | params: %s\\n' \"$*\" \"$GIT_CONFIG_PARAMETERS\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn issue_19_create_keeps_the_users_checkout_workers() {
    let mut env = TestEnv::new();
    env.git(&env.repo, &["config", "checkout.workers", "1"]);
    fs::write(env.home.join(".gitconfig"), "[checkout]\n\tworkers = 1\n").unwrap();
    let log = env.root.join("git.log");
    let bin = env.root.join("bin");
    logging_git(&bin, &log);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set("PATH", &path);
    let out = env.shards(&["create", "a"]);
    assert_eq!(out.code, 0, "{out}");
    let ran = read(&log);
    let add: Vec<&str> = ran.lines().filter(|l| l.contains("worktree add")).collect();
    assert_eq!(add.len(), 1, "git worktree add ran once: {ran}");
    assert!(
        !ran.contains("checkout."),
        "shards passed a checkout setting to git: {ran}"
    );
    // And git used the user's setting.
    let wt = shard_path(&env.create("b"));
    assert_eq!(
        env.git(&wt, &["config", "checkout.workers"]).trim(),
        "1",
        "the user's checkout.workers"
    );
}
