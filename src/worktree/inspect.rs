//! What one folder or worktree is before shards acts on it: which
//! worktree a folder is (`inspect`, for `adopt`), where a moved worktree
//! went (`moved_to`), and whether a file of shards' own is tracked or
//! ignored there (`is_tracked`, `ensure_ignored`, for the env file and
//! `.envrc`).
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. It reads; the only write is an `info/exclude` line.

use std::fs;
use std::path::{Path, PathBuf};

use git2::Repository;

use super::canonical;
use crate::error::{Error, Result};

/// Returns where git says worktree `wt_name` of the repository at `git_dir`
/// lives now, when that is not `recorded` (it was moved with
/// `git worktree move`, or by hand and repaired) and it still points back
/// at its record.
pub fn moved_to(git_dir: &Path, wt_name: &str, recorded: &Path) -> Option<PathBuf> {
    let admin = git_dir.join("worktrees").join(wt_name);
    let gitdir = fs::read_to_string(admin.join("gitdir")).ok()?;
    let dot_git = PathBuf::from(gitdir.trim());
    let folder = dot_git.parent()?.to_path_buf();
    if folder == recorded || !folder.is_dir() {
        return None;
    }
    let back = fs::read_to_string(&dot_git).ok()?;
    let back = back.trim().strip_prefix("gitdir:")?.trim();
    (fs::canonicalize(back).ok()? == fs::canonicalize(&admin).ok()?).then_some(folder)
}

/// Returns true when `file` (relative to the worktree root) is tracked in
/// the worktree's index.
pub fn is_tracked(worktree: &Path, file: &str) -> Result<bool> {
    Files::open(worktree)?.is_tracked(file)
}

/// A worktree opened once to ask several things about shards' own files
/// in it (`is_tracked`, `ensure_ignored`): each open reads the worktree's
/// links and the repository's config again.
pub struct Files {
    repo: Repository,
}

impl Files {
    /// Opens the worktree at `worktree`.
    pub fn open(worktree: &Path) -> Result<Files> {
        Ok(Files {
            repo: Repository::open(worktree)?,
        })
    }

    /// [`is_tracked`] in this worktree.
    pub fn is_tracked(&self, file: &str) -> Result<bool> {
        Ok(self.repo.index()?.get_path(Path::new(file), 0).is_some())
    }

    /// [`ensure_ignored`] in this worktree.
    pub fn ensure_ignored(&self, file: &str) -> Result<bool> {
        ignore_in(&self.repo, file)
    }
}

/// Makes sure `file` at the worktree root never shows as untracked: when
/// no ignore rule covers it, appends `/<file>` to the repository's
/// `info/exclude` (shared by all its worktrees). Returns true when it did.
pub fn ensure_ignored(worktree: &Path, file: &str) -> Result<bool> {
    Files::open(worktree)?.ensure_ignored(file)
}

fn ignore_in(repo: &Repository, file: &str) -> Result<bool> {
    if repo.is_path_ignored(file)? {
        return Ok(false);
    }
    let exclude = repo.commondir().join("info").join("exclude");
    let line = format!("/{file}");
    let current = fs::read_to_string(&exclude).unwrap_or_default();
    if current.lines().any(|l| l.trim() == line) {
        return Ok(false);
    }
    if let Some(dir) = exclude.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let sep = if current.is_empty() || current.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let text = format!("{sep}# added by shards: its env file holds per-shard ports\n{line}\n");
    use std::io::Write;
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&exclude)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::io(&exclude, e))?;
    Ok(true)
}

/// What a folder is, as git sees it.
pub struct WorktreeInfo {
    /// Canonical common git dir of its repository.
    pub git_dir: PathBuf,
    /// True for a linked worktree (not the main one, not bare).
    pub linked: bool,
    /// Canonical root of the worktree.
    pub root: Option<PathBuf>,
    /// The branch checked out, if HEAD is on one.
    pub branch: Option<String>,
    /// git's name for the linked worktree.
    pub wt_name: Option<String>,
}

/// Finds the worktree holding `path` and describes it.
pub fn inspect(path: &Path) -> Result<WorktreeInfo> {
    let repo = Repository::discover(path)?;
    let head = repo.find_reference("HEAD")?;
    let branch = head
        .symbolic_target()
        .ok()
        .flatten()
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .map(str::to_string);
    let wt_name = repo
        .is_worktree()
        .then(|| {
            repo.path()
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
        })
        .flatten();
    Ok(WorktreeInfo {
        git_dir: canonical(repo.commondir())?,
        linked: repo.is_worktree(),
        root: repo.workdir().map(canonical).transpose()?,
        branch,
        wt_name,
    })
}
