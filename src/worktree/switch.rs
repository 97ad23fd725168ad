//! What claiming a spare asks of the user's git: `git worktree move` to the
//! shard's folder, `git branch NAME START` where a cold create's `git
//! worktree add -b` would make it (the same start, `HEAD` meaning the
//! user's, and the upstream `branch.autoSetupMerge` gives), `git switch
//! NAME` in the spare (git writes only the files that differ, and runs its
//! `post-checkout` hook), and, when the claim is undone, the way back (`git
//! switch --detach`, the move back).
//!
//! Each git runs in a process group of its own, as `git worktree add` does
//! ([`super::add`]): a terminal's Ctrl-C reaches shards alone, which lets
//! the step finish and then undoes the claim; a shards process killed
//! outright takes git with it (`PR_SET_PDEATHSIG`).
//!
//! Adapter: runs git; knows nothing of ports or the ledger.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};

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
        run_git(self.git_finds_it_from(), &args).map(|_| ())
    }

    /// Makes `branch` at `start` as `git worktree add -b BRANCH PATH START`
    /// makes it (git runs `git branch BRANCH START` there, in the worktree
    /// shards was run in, so `HEAD` and `HEAD~1` are the user's and the
    /// upstream is what `branch.autoSetupMerge` gives). Returns what git
    /// said (`branch 'x' set up to track 'origin/x'.`), a line each.
    pub fn make_branch(&self, branch: &str, start: &str) -> Result<Vec<String>> {
        let args = ["branch", branch, start].map(OsStr::new);
        let out = run_git(self.git_finds_it_from(), &args)?;
        Ok(said(&out))
    }

    /// In the worktree at `path`, switches to the existing `branch`, as
    /// `git switch BRANCH`.
    pub fn switch_branch(&self, path: &Path, branch: &str) -> Result<()> {
        let args = ["switch", "-q", branch].map(OsStr::new);
        run_git(path, &args).map(|_| ())
    }

    /// In the worktree at `path`, detaches HEAD at `commit`, as `git
    /// switch --detach`.
    pub fn switch_detached(&self, path: &Path, commit: &str) -> Result<()> {
        let args = ["switch", "-q", "--detach", commit].map(OsStr::new);
        run_git(path, &args).map(|_| ())
    }

    /// Returns the branch HEAD of the worktree at `path` is on (`main`), or
    /// `None` when it is detached.
    pub fn head_branch(&self, path: &Path) -> Result<Option<String>> {
        let args = ["symbolic-ref", "-q", "--short", "HEAD"].map(OsStr::new);
        let out = output(path, &args)?;
        match out.status.code() {
            Some(0) => Ok(Some(
                String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
            )),
            Some(1) => Ok(None),
            _ => Err(failed(&args, &out)),
        }
    }
}

/// Runs git with `args` in `dir`, and fails with git's output when git
/// does; returns what it wrote.
fn run_git(dir: &Path, args: &[&OsStr]) -> Result<Output> {
    let out = output(dir, args)?;
    if out.status.success() {
        return Ok(out);
    }
    Err(failed(args, &out))
}

/// Runs git with `args` in `dir`, with none of a parent git's variables
/// (shards run from a hook), in a process group of its own.
fn output(dir: &Path, args: &[&OsStr]) -> Result<Output> {
    let mut cmd = super::add::git_command();
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; it only sets a flag of the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.output().map_err(|e| Error::CannotRun {
        program: "git".into(),
        err: e,
    })
}

/// Returns the lines git wrote, stdout then stderr, empty ones left out.
fn said(out: &Output) -> Vec<String> {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Returns the error of a git that failed.
fn failed(args: &[&OsStr], out: &Output) -> Error {
    Error::GitFailed {
        command: format!(
            "git {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        code: out.status.code(),
        output: said(out).join("\n"),
    }
}
