//! Helpers of the spares tests (`spares_take`, `spares_signals`): a world
//! that keeps spares, its `spares --json`, the check that the ledger and
//! git agree, a `post-checkout` hook, and a `prune` with nothing to do.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{TestEnv, env_value};

/// A world whose user config keeps `count` spares keyed on `lock.json`,
/// with a setup hook that writes a file git ignores (so a shard's status
/// is clean).
pub fn world(count: u16) -> TestEnv {
    let mut env = TestEnv::new();
    env.small_pool(10, 10);
    env.commit(&[("lock.json", "v1")], "lock file");
    fs::write(env.repo.join(".git/info/exclude"), ".setup-ran\n").unwrap();
    env.write_config(&format!(
        "[spares]\ncount = {count}\nkey = [\"lock.json\"]\n[hooks]\nsetup = \"echo $SHARD_NAME > .setup-ran\"\n"
    ));
    env
}

/// Returns `spares --json`'s spares.
pub fn spares(env: &TestEnv) -> Vec<Value> {
    env.shards(&["spares", "--json"]).ok().json()["spares"]
        .as_array()
        .unwrap()
        .clone()
}

/// Returns the `path` of a shard or spare of `list --json` or `spares --json`.
pub fn path_of(v: &Value) -> PathBuf {
    PathBuf::from(v["path"].as_str().unwrap())
}

/// Asserts that the ledger (`list`, `spares`), git's worktree list and
/// git's branches agree: every shard active, on its branch, clean, its env
/// file naming it; every spare ready, in the spares folder, detached at
/// its base, its env file naming it; no other worktree but the main one;
/// no branch but `main` and the shards'; no lock file of git's left.
/// Returns the state as a text to compare before and after.
#[track_caller]
pub fn agree(env: &TestEnv) -> String {
    let shards = env.list();
    let spares = spares(env);
    let mut want_wt = BTreeSet::from([format!("{} main", env.repo.display())]);
    let mut want_br = BTreeSet::from(["main".to_string()]);
    for s in &shards {
        let (name, path) = (s["name"].as_str().unwrap(), path_of(s));
        assert_eq!(s["status"], "active", "{s}");
        assert_eq!(
            env.git(&path, &["symbolic-ref", "--short", "HEAD"]).trim(),
            name
        );
        assert_eq!(env.git(&path, &["status", "--porcelain"]), "", "{name}");
        assert_eq!(
            env_value(&path.join(".env"), "SHARD_NAME").as_deref(),
            Some(name)
        );
        want_wt.insert(format!("{} {name}", path.display()));
        want_br.insert(name.to_string());
    }
    for s in &spares {
        let (name, path) = (s["name"].as_str().unwrap(), path_of(s));
        assert_eq!(s["state"], "ready", "{s}");
        assert!(path.starts_with(env.shards_home.join("spares/repo")), "{s}");
        let head = env.git(&path, &["rev-parse", "HEAD"]);
        assert_eq!(head.trim(), s["base"].as_str().unwrap(), "{s}");
        assert_eq!(
            env.git(&path, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            "HEAD"
        );
        assert_eq!(env.git(&path, &["status", "--porcelain"]), "", "{name}");
        assert_eq!(
            env_value(&path.join(".env"), "SHARD_NAME").as_deref(),
            Some(name)
        );
        want_wt.insert(format!("{} detached", path.display()));
    }
    let mut have_wt = BTreeSet::new();
    for rec in env
        .git(&env.repo, &["worktree", "list", "--porcelain"])
        .split("\n\n")
    {
        let mut lines = rec.lines();
        let Some(wt) = lines.next().and_then(|l| l.strip_prefix("worktree ")) else {
            continue;
        };
        let rest: Vec<&str> = lines.collect();
        assert!(!rest.iter().any(|l| l.starts_with("prunable")), "{rec}");
        let on = rest
            .iter()
            .find_map(|l| l.strip_prefix("branch refs/heads/"))
            .unwrap_or(if rest.contains(&"detached") {
                "detached"
            } else {
                "?"
            });
        have_wt.insert(format!("{wt} {on}"));
    }
    assert_eq!(have_wt, want_wt, "git's worktrees and the ledger differ");
    let have_br: BTreeSet<String> = env.branches(&env.repo).into_iter().collect();
    assert_eq!(have_br, want_br, "git's branches and the ledger differ");
    let blocks: Vec<Value> = shards.iter().chain(&spares).cloned().collect();
    crate::common::disjoint_blocks(&blocks);
    assert_eq!(git_locks(&env.repo.join(".git")), Vec::<PathBuf>::new());
    format!("shards: {shards:?}\nspares: {spares:?}\nworktrees: {have_wt:?}\nbranches: {have_br:?}")
}

/// Returns git's lock files under `dir` (`index.lock`, `HEAD.lock`): one
/// left behind fails the user's next git command.
pub fn git_locks(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(git_locks(&path));
        } else if path.extension().is_some_and(|e| e == "lock") {
            found.push(path);
        }
    }
    found
}

/// Writes the repository's `post-checkout` hook, a shell script of `body`.
pub fn post_checkout(env: &TestEnv, body: &str) {
    let hook = env.repo.join(".git/hooks/post-checkout");
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::write(&hook, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Asserts that `prune` finds nothing to do.
#[track_caller]
pub fn prune_idle(env: &TestEnv) {
    let out = env.shards(&["prune", "--json"]).ok();
    let report = out.json();
    assert!(
        report["shards"].as_array().is_none_or(|a| a.is_empty()),
        "{out}"
    );
}

/// Returns every file of a worktree but `.git`, the env file and the
/// setup hook's own file, with its mode and content (a link's target),
/// sorted.
pub fn tree(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if [".git", ".env", ".setup-ran"].contains(&rel.as_str()) {
                continue;
            }
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
                continue;
            }
            let body = if meta.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                fs::read(&p).unwrap()
            };
            out.push((rel, meta.permissions().mode(), body));
        }
    }
    out.sort();
    out
}
