//! What git ignores in a worktree: the entries `git status --ignored`
//! shows, an ignored folder as one entry (git does not look inside it).
//!
//! Adapter (part of `worktree`): knows git, nothing of ports, SQLite,
//! copies or the command line; no git2 type leaves it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::{Repository, StatusOptions};

use crate::error::{Error, Result};

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
/// are, even when an ignore rule matches them. In an ignored folder that
/// holds tracked files (`git add -f`), the other entries are listed one by
/// one (a folder without tracked files whole), as git does; libgit2 alone
/// misses them.
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
    // libgit2 says nothing of the ignored files beside a tracked file in
    // an ignored folder (`build/` ignored, `build/keep.txt` added with
    // `git add -f`), where git does: those folders are looked into here.
    let known: HashSet<PathBuf> = found.iter().map(|f| f.path.clone()).collect();
    let tracked = tracked_paths(&repo)?;
    for top in ignored_holders(&repo, &tracked)? {
        look_into(root, &top, &tracked, &known, &mut found)?;
    }
    Ok(found)
}

/// The paths of the files in the index.
fn tracked_paths(repo: &Repository) -> Result<HashSet<PathBuf>> {
    let index = repo.index()?;
    Ok(index
        .iter()
        .filter_map(|e| std::str::from_utf8(&e.path).ok().map(PathBuf::from))
        .collect())
}

/// The outermost ignored folders that hold tracked files.
fn ignored_holders(repo: &Repository, tracked: &HashSet<PathBuf>) -> Result<Vec<PathBuf>> {
    // Each folder asked once; below an ignored one nothing is asked.
    let mut asked: HashMap<PathBuf, bool> = HashMap::new();
    let mut tops = Vec::new();
    for file in tracked {
        let mut dirs: Vec<&Path> = file.ancestors().skip(1).collect();
        dirs.pop(); // the empty root
        for dir in dirs.into_iter().rev() {
            let ignored = match asked.get(dir) {
                Some(&known) => known,
                None => {
                    let ignored = repo.is_path_ignored(format!("{}/", dir.display()))?;
                    asked.insert(dir.to_path_buf(), ignored);
                    if ignored {
                        tops.push(dir.to_path_buf());
                    }
                    ignored
                }
            };
            if ignored {
                break;
            }
        }
    }
    tops.sort();
    Ok(tops)
}

/// Adds what folder `rel` (ignored, holding tracked files) holds that is
/// not tracked: everything there is ignored. A folder without tracked
/// files is one entry; one with them is looked into.
fn look_into(
    root: &Path,
    rel: &Path,
    tracked: &HashSet<PathBuf>,
    known: &HashSet<PathBuf>,
    found: &mut Vec<Ignored>,
) -> Result<()> {
    let full = root.join(rel);
    let entries = match std::fs::read_dir(&full) {
        Ok(entries) => entries,
        // Deleted in the worktree, or outside a sparse checkout.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&full, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&full, e))?;
        let path = rel.join(entry.file_name());
        if tracked.contains(&path) || known.contains(&path) {
            continue;
        }
        let dir = entry.file_type().map_err(|e| Error::io(&full, e))?.is_dir();
        if dir && tracked.iter().any(|t| t.starts_with(&path)) {
            look_into(root, &path, tracked, known, found)?;
        } else if path.to_str().is_some() {
            found.push(Ignored { path, dir });
        }
    }
    Ok(())
}
