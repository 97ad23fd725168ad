//! Issue 18: repositories in the dotfiles layout, whose work tree is the
//! home folder and whose git dir lives apart (`git init --bare ~/.cfg` with
//! `core.worktree=$HOME`, or `git init --separate-git-dir`). shards makes a
//! shard wherever `git worktree add` works, and each shard is what git's own
//! worktree is in the same test: its files, its branch, `git ls-files -s`,
//! a clean `git status`. Where git refuses (the work tree of a
//! `core.worktree` repository has no `.git`), shards refuses too.

use std::path::{Path, PathBuf};

use crate::common::{TestEnv, shard_path};

/// Runs git as a dotfiles user's alias does (`git --git-dir=GIT_DIR
/// --work-tree=$HOME`), in the test's home.
fn dotgit(env: &TestEnv, git_dir: &Path, args: &[&str]) -> String {
    let mut all = vec![
        format!("--git-dir={}", git_dir.display()),
        format!("--work-tree={}", env.home.display()),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    env.git(&env.home, &all)
}

/// Puts a `.bashrc` and a `.config/app.toml` in the home and commits them.
fn commit_dotfiles(env: &TestEnv, git_dir: &Path) {
    std::fs::write(env.home.join(".bashrc"), "alias ll='ls -l'\n").unwrap();
    std::fs::create_dir_all(env.home.join(".config")).unwrap();
    std::fs::write(env.home.join(".config/app.toml"), "theme = \"dark\"\n").unwrap();
    dotgit(env, git_dir, &["add", ".bashrc", ".config/app.toml"]);
    dotgit(env, git_dir, &["commit", "-q", "-m", "dotfiles"]);
}

/// The most common recipe: `git init --bare ~/.cfg`, then `core.bare false`
/// and `core.worktree $HOME` so plain `git` works inside `~/.cfg`, untracked
/// files hidden. Returns the git dir.
fn bare_with_core_worktree(env: &TestEnv) -> PathBuf {
    let cfg = env.home.join(".cfg");
    env.git(
        &env.root,
        &["init", "-q", "-b", "main", "--bare", cfg.to_str().unwrap()],
    );
    commit_dotfiles(env, &cfg);
    env.git(&cfg, &["config", "core.bare", "false"]);
    env.git(
        &cfg,
        &["config", "core.worktree", env.home.to_str().unwrap()],
    );
    env.git(&cfg, &["config", "status.showUntrackedFiles", "no"]);
    cfg
}

/// `git init --separate-git-dir ~/.dotfiles ~`, its `~/.git` file removed
/// (so git does not take every folder of the home for the repository) and
/// `core.worktree` set instead. Returns the git dir.
fn separate_git_dir_without_git_file(env: &TestEnv) -> PathBuf {
    let dot = separate_git_dir(env);
    std::fs::remove_file(env.home.join(".git")).unwrap();
    env.git(
        &dot,
        &["config", "core.worktree", env.home.to_str().unwrap()],
    );
    dot
}

/// `git init --separate-git-dir ~/.dotfiles ~` (which leaves a `~/.git`
/// file naming the git dir), the dotfiles committed. Returns the git dir.
fn separate_git_dir(env: &TestEnv) -> PathBuf {
    let dot = env.home.join(".dotfiles");
    env.git(
        &env.home,
        &[
            "init",
            "-q",
            "-b",
            "main",
            "--separate-git-dir",
            dot.to_str().unwrap(),
            env.home.to_str().unwrap(),
        ],
    );
    commit_dotfiles(env, &dot);
    dot
}

/// Every file of a worktree but its `.git` link and shards' `.env`, with
/// its content, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            if rel == ".git" || rel == ".env" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(format!(
                    "{rel}: {}",
                    std::fs::read_to_string(&path).unwrap()
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Returns the folder of the worktree record a worktree's `.git` file names.
fn record_of(worktree: &Path) -> PathBuf {
    let text = std::fs::read_to_string(worktree.join(".git")).unwrap();
    PathBuf::from(text.trim().strip_prefix("gitdir: ").unwrap())
}

/// From `from`, makes a worktree with git's own `git worktree add` and a
/// shard with `shards create`, and checks that the two are alike; then
/// destroys the shard, leaving git's worktree.
#[track_caller]
fn shard_is_what_git_makes(env: &TestEnv, git_dir: &Path, from: &Path) {
    let by_git = env.root.join("by-git");
    env.git(
        from,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "by-git",
            by_git.to_str().unwrap(),
        ],
    );
    let report = env.shards_in(from, &["create", "x", "--json"]).ok().json();
    let shard = shard_path(&report);

    assert_eq!(files(&shard), files(&by_git));
    assert_eq!(files(&shard).len(), 2, "{:?}", files(&shard));
    let tips = env.git(from, &["rev-parse", "x", "by-git", "HEAD"]);
    let tips: Vec<&str> = tips.lines().collect();
    assert!(tips.iter().all(|t| *t == tips[0]), "{tips:?}");
    for (wt, branch) in [(&shard, "x"), (&by_git, "by-git")] {
        let head = env.git(wt, &["rev-parse", "--abbrev-ref", "HEAD"]);
        assert_eq!(head.trim(), branch);
        assert_eq!(env.git(wt, &["status", "--porcelain", "-uall"]), "");
        let git_dir = std::fs::canonicalize(git_dir).unwrap();
        assert_eq!(record_of(wt).parent().unwrap(), git_dir.join("worktrees"));
    }
    assert_eq!(
        env.git(&shard, &["ls-files", "-s"]),
        env.git(&by_git, &["ls-files", "-s"])
    );
    let listed = env.git(from, &["worktree", "list", "--porcelain"]);
    for wt in [&shard, &by_git] {
        assert!(
            listed.contains(&format!("worktree {}\n", wt.display())),
            "{listed}"
        );
    }
    // The home, the repository's own work tree, is left as it was.
    assert_eq!(dotgit(env, git_dir, &["status", "--porcelain", "-uno"]), "");

    let listed = env.shards_in(from, &["list", "--json"]).ok().json();
    assert_eq!(listed["shards"][0]["name"], "x", "{listed}");
    env.shards_in(from, &["destroy", "x"]).ok();
    assert!(!shard.exists());
    assert!(by_git.join(".bashrc").is_file());
    assert_eq!(env.branches(git_dir), ["by-git", "main"]);
}

/// Runs `git worktree add` in `dir` and returns its exit code (git's
/// refusal is what the test is after, so it may fail).
fn git_worktree_add_code(env: &TestEnv, dir: &Path) -> i32 {
    let to = env.root.join("refused");
    env.git_command(dir)
        .args(["worktree", "add", "-q", to.to_str().unwrap()])
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn issue_18_a_core_worktree_repository_makes_a_shard_from_its_git_dir_as_git_does() {
    let env = TestEnv::new();
    let cfg = bare_with_core_worktree(&env);
    shard_is_what_git_makes(&env, &cfg, &cfg);
    // `-C` names the git dir from anywhere, as `git -C` does.
    let r = env
        .shards_in(
            &env.root,
            &["-C", cfg.to_str().unwrap(), "create", "y", "--json"],
        )
        .ok()
        .json();
    assert!(shard_path(&r).join(".bashrc").is_file());
}

#[test]
fn issue_18_a_separate_git_dir_without_its_git_file_makes_a_shard_as_git_does() {
    let env = TestEnv::new();
    let dot = separate_git_dir_without_git_file(&env);
    shard_is_what_git_makes(&env, &dot, &dot);
}

#[test]
fn issue_18_a_separate_git_dir_with_its_git_file_makes_a_shard_from_the_home() {
    let env = TestEnv::new();
    let dot = separate_git_dir(&env);
    shard_is_what_git_makes(&env, &dot, &env.home);
}

#[test]
fn issue_18_the_work_tree_of_a_core_worktree_repository_is_refused_as_git_refuses_it() {
    let env = TestEnv::new();
    bare_with_core_worktree(&env);
    let sub = env.home.join(".config");
    for dir in [&env.home, &sub] {
        assert_eq!(
            git_worktree_add_code(&env, dir),
            128,
            "git worked in {}",
            dir.display()
        );
        let out = env.shards_in(dir, &["create", "x"]).code(1);
        assert!(out.stderr.contains("not inside a git repository"), "{out}");
    }
    let out = env.shards_in(&env.home, &["create", "x"]);
    insta::assert_snapshot!(env.shown(&out), @r"
    --- stderr ---
    shards: error: not inside a git repository: [TMP]/home
    hint: run shards inside a git repository, or pass -C <path>
    [exit status: 1]
    ");
    let json = env
        .shards_in(&env.home, &["--json", "create", "x"])
        .code(1)
        .json();
    assert_eq!(json["error"]["kind"], "not_a_repo", "{json}");
    assert!(env.worktree_folders().is_empty());
}
