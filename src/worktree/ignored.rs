//! What git ignores in a worktree: the entries `git status --ignored`
//! shows, an ignored folder as one entry (git does not look inside it).
//!
//! Adapter (part of `worktree`): knows git, nothing of ports, SQLite,
//! copies or the command line; no git2 type leaves it.

use std::path::{Path, PathBuf};

use git2::{Repository, StatusOptions};

use crate::error::Result;

/// One entry git ignores, relative to the worktree root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The path relative to the worktree root, without a trailing `/`.
    pub path: PathBuf,
    /// True for a folder (git reports everything inside it as ignored too).
    pub dir: bool,
}

/// Returns the entries git ignores in the worktree at `root`: files, and
/// folders as a whole (never what is inside an ignored folder). Ignored
/// entries inside untracked folders are found too; tracked files never
/// are, even when an ignore rule matches them.
pub fn ignored_entries(root: &Path) -> Result<Vec<Ignored>> {
    let repo = Repository::open(root)?;
    let mut opts = StatusOptions::new();
    opts.include_ignored(true)
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .recurse_ignored_dirs(false)
        .include_unmodified(false)
        .exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    let mut found = Vec::new();
    for entry in statuses.iter() {
        if !entry.status().is_ignored() {
            continue;
        }
        let Ok(raw) = entry.path() else {
            // A path that is not UTF-8 is left where it is.
            continue;
        };
        let dir = raw.ends_with('/');
        let path = PathBuf::from(raw.trim_end_matches('/'));
        found.push(Ignored { path, dir });
    }
    Ok(found)
}
