//! What claiming a spare asks of the user's git: `git worktree move` to the
//! shard's folder, `git switch -c` to its branch at its base (git writes
//! only the files that differ, and runs its `post-checkout` hook), and,
//! when the claim is undone, the way back (`git switch --detach`, the
//! move back).
//!
//! Adapter: runs git; knows nothing of ports or the ledger.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use super::Repo;
use crate::error::{Error, Result};

impl Repo {
    /// Moves the worktree at `from` to `to`, as `git worktree move`.
    pub fn move_worktree(&self, from: &Path, to: &Path) -> Result<()> {
        let args = [
            OsStr::new("worktree"),
            OsStr::new("move"),
            from.as_os_str(),
            to.as_os_str(),
        ];
        run_git(self.git_finds_it_from(), &args)
    }

    /// In the worktree at `path`, makes `branch` at `start` and switches to
    /// it, as `git switch -c BRANCH START` (upstream set as git sets it).
    pub fn switch_new_branch(&self, path: &Path, branch: &str, start: &str) -> Result<()> {
        let args = ["switch", "-q", "-c", branch, start].map(OsStr::new);
        run_git(path, &args)
    }

    /// In the worktree at `path`, detaches HEAD at `commit`, as `git
    /// switch --detach`.
    pub fn switch_detached(&self, path: &Path, commit: &str) -> Result<()> {
        let args = ["switch", "-q", "--detach", commit].map(OsStr::new);
        run_git(path, &args)
    }
}

/// Runs git with `args` in `dir`, with none of a parent git's variables
/// (shards run from a hook), and fails with git's output when git does.
fn run_git(dir: &Path, args: &[&OsStr]) -> Result<()> {
    let mut cmd = super::add::git_command();
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    let out = cmd.output().map_err(|e| Error::CannotRun {
        program: "git".into(),
        err: e,
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Err(Error::GitFailed {
        command: format!(
            "git {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        code: out.status.code(),
        output: output.trim_end().to_string(),
    })
}
