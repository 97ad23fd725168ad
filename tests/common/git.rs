//! Git in tests: commits with fixed author and dates, repositories, and the
//! `TestEnv` helpers that run the real git or read its records.

use std::path::{Path, PathBuf};

use git2::{Repository, Signature, Time};

use super::{TestEnv, run_ok};

/// Makes a commit on HEAD with fixed author and date.
pub fn commit(repo: &Repository, files: &[(&str, &str)], message: &str) -> git2::Oid {
    let workdir = repo.workdir().unwrap().to_path_buf();
    let mut index = repo.index().unwrap();
    for (path, content) in files {
        let full = workdir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, content).unwrap();
        index.add_path(Path::new(path)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::new("Test", "test@example.com", &Time::new(1_700_000_000, 0)).unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
}

/// Creates a repository at `path` with one commit on `main`.
pub fn init_repo(path: &Path) -> Repository {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = Repository::init_opts(path, &opts).unwrap();
    commit(
        &repo,
        &[("README.md", "hello\n"), ("src/lib.rs", "// code\n")],
        "init",
    );
    repo
}

impl TestEnv {
    /// Runs the real `git` in `dir` with the scrubbed environment.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        run_ok(
            self.scrubbed("git", dir)
                .args(args)
                .env("GIT_AUTHOR_NAME", "T")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "T")
                .env("GIT_COMMITTER_EMAIL", "t@example.com"),
        )
    }

    /// Returns the real `git` to run in `dir` with the scrubbed
    /// environment, for a test that looks at how git itself ends.
    pub fn git_command(&self, dir: &Path) -> std::process::Command {
        self.scrubbed("git", dir)
    }

    /// Runs the real `git` in `dir` as [`TestEnv::git`] does; its stdout,
    /// or `None` when git fails (when failing is what a test looks at).
    pub fn try_git(&self, dir: &Path, args: &[&str]) -> Option<String> {
        let out = self.git_command(dir).args(args).output().unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Returns git's refs (name and object) and `worktree list --porcelain`
    /// of the repository, as one text to compare before and after.
    pub fn git_records(&self) -> String {
        format!(
            "{}{}",
            self.git(
                &self.repo,
                &["for-each-ref", "--format=%(refname) %(objectname)"]
            ),
            self.git(&self.repo, &["worktree", "list", "--porcelain"])
        )
    }

    /// Makes a commit of `files` on the repository's HEAD, with fixed
    /// author and date (see [`commit`]).
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> git2::Oid {
        commit(&Repository::open(&self.repo).unwrap(), files, message)
    }

    /// Writes `file` (holding `content`) in the work tree `dir` and commits
    /// it there with the real `git`, as a user's work on its branch.
    pub fn git_commit_file(&self, dir: &Path, file: &str, content: &str, message: &str) {
        std::fs::write(dir.join(file), content).unwrap();
        self.git(dir, &["add", file]);
        self.git(dir, &["commit", "-q", "-m", message]);
    }

    /// Moves the worktree of the shard of `report` (`create --json`) to
    /// `root/<to>` with `git worktree move`, as a user would, and returns
    /// the new folder.
    #[track_caller]
    pub fn git_move_shard(&self, report: &serde_json::Value, to: &str) -> PathBuf {
        let new = self.root.join(to);
        std::fs::create_dir_all(new.parent().unwrap()).unwrap();
        let old = super::shard_path(report);
        let args = [
            "worktree",
            "move",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ];
        self.git(&self.repo, &args);
        assert!(!old.exists() && new.join(".git").is_file());
        new
    }

    /// Creates another repository next to the first.
    pub fn new_repo(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        init_repo(&path);
        path
    }

    /// Adds the repository at `url` as a submodule at `at` with git itself
    /// (a local clone, which git allows only when told to).
    pub fn add_submodule(&self, url: &Path, at: &str) {
        let url = url.to_str().unwrap();
        let args = [
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            url,
            at,
        ];
        self.git(&self.repo, &args);
    }

    /// Makes a linked worktree `root/<folder>` on a new branch with git
    /// itself (not a shard), and returns its folder.
    pub fn git_worktree(&self, folder: &str, branch: &str) -> PathBuf {
        let wt = self.root.join(folder);
        self.git(
            &self.repo,
            &["worktree", "add", "-q", "-b", branch, wt.to_str().unwrap()],
        );
        wt
    }

    /// Asserts that git knows no worktree of the repository but its main one.
    #[track_caller]
    pub fn assert_only_main_worktree(&self) {
        let list = self.git(&self.repo, &["worktree", "list"]);
        assert_eq!(list.lines().count(), 1, "{list}");
    }

    /// Returns the local branch names of `repo`.
    pub fn branches(&self, repo: &Path) -> Vec<String> {
        let r = Repository::open(repo).unwrap();
        let mut names: Vec<String> = r
            .branches(Some(git2::BranchType::Local))
            .unwrap()
            .map(|b| b.unwrap().0.name().unwrap().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// Returns every entry under the shards home's worktree folder.
    pub fn worktree_folders(&self) -> Vec<PathBuf> {
        let base = self.shards_home.join("worktrees");
        let mut out = Vec::new();
        if let Ok(repos) = std::fs::read_dir(&base) {
            for r in repos.flatten() {
                for w in std::fs::read_dir(r.path()).unwrap().flatten() {
                    out.push(w.path());
                }
            }
        }
        out.sort();
        out
    }
}

/// Returns the path of the real `git` on `PATH`, for a test's stand-in
/// `git` script to hand on to.
pub fn real_git() -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
