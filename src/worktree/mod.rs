//! git through git2: find the repository, name its commits and read git's
//! records of its worktrees (lock reasons, which folder is which record).
//! The submodules resolve refs (`refs`), add worktrees with the user's git
//! (`add`), remove them (`remove`), find the work a removal would lose
//! (`dirty`), tell what a folder is and where a moved worktree went
//! (`inspect`), measure a worktree against the default branch and tell
//! whether its branch is merged (`state`), list what git ignores
//! (`ignored`), read the links between a worktree folder and its
//! repository (`link`), and find commits that live only in its submodule
//! clones (`submodules`).
//!
//! A linked worktree is made by the user's own `git worktree add` (a child
//! process whose progress is read back), so it is exactly what git makes;
//! every read (refs, status, links) goes through git2.
//!
//! Adapter: knows git, nothing of ports, SQLite or the command line. No git2
//! type crosses this module's public API: callers get [`Repo`] methods,
//! [`CommitId`] and plain paths and strings, so the command layer never
//! imports git2.

mod add;
mod dirty;
mod ignored;
mod inspect;
mod link;
mod refs;
mod remove;
mod settle;
mod state;
mod submodules;
mod switch;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use crate::error::{Error, Result};

pub use add::{Added, Outcome, Start};
pub use dirty::dirty_summary;
pub use ignored::{Ignored, ignored_entries};
pub use inspect::{Files, WorktreeInfo, ensure_ignored, inspect, is_tracked, moved_to};
pub use link::{Link, exists, link_of, linked_as_written, names_folder};
pub use state::{
    DefaultBranch, MergeState, Merged, WorktreeState, default_branch, merge_state, read_state,
};
pub use submodules::submodule_work;

/// A commit of the repository, as [`Repo::resolve_base`] found it.
///
/// Opaque on purpose: callers pass it back to [`Repo`] methods and may print
/// it (its full hex id), nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitId(Oid);

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A repository found from a working directory.
pub struct Repo {
    /// The repository opened where shards was run (maybe a linked worktree).
    repo: Repository,
    /// Canonical path of the common git dir: the repository's identity.
    pub git_dir: PathBuf,
    /// The main worktree, or the git dir of a bare repository.
    pub root: PathBuf,
    /// The root of the worktree shards was run in, if any.
    pub workdir: Option<PathBuf>,
    /// A folder-friendly name for the repository.
    pub name: String,
}

fn canonical(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).map_err(|e| Error::io(path, e))
}

/// Turns a repository folder name into one safe as a folder name of ours:
/// `.git` suffix and leading dots dropped, anything unusual replaced by `-`.
fn folder_name(raw: &str) -> String {
    let raw = raw
        .strip_suffix(".git")
        .filter(|s| !s.is_empty())
        .unwrap_or(raw);
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "repo".into()
    } else {
        name.to_string()
    }
}

impl Repo {
    /// Finds the repository containing `dir` (also from inside a linked
    /// worktree, which resolves to the same repository).
    pub fn discover(dir: &Path) -> Result<Repo> {
        let repo = Repository::discover(dir).map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => Error::NotARepo {
                path: dir.to_path_buf(),
            },
            _ => Error::Git(e),
        })?;
        let git_dir = canonical(repo.commondir())?;
        // From the main worktree (or a bare repository), `repo` is the main
        // repository: opening it again would read the same config to the
        // same workdir.
        let main_workdir = if repo.is_worktree() {
            Repository::open(&git_dir)?.workdir().map(Path::to_path_buf)
        } else {
            repo.workdir().map(Path::to_path_buf)
        };
        let root = match main_workdir {
            Some(w) => canonical(&w)?,
            None => git_dir.clone(),
        };
        let workdir = repo.workdir().map(canonical).transpose()?;
        let raw = root.file_name().and_then(|n| n.to_str()).unwrap_or("repo");
        Ok(Repo {
            repo,
            name: folder_name(raw),
            git_dir,
            root,
            workdir,
        })
    }

    /// Returns the admin folder git uses for worktree `wt_name`.
    pub fn admin_dir(&self, wt_name: &str) -> PathBuf {
        self.git_dir.join("worktrees").join(wt_name)
    }

    /// Returns the name `git worktree add` gives a worktree whose folder is
    /// called `wanted`: `wanted`, or `wanted1`, `wanted2`, … , the first
    /// that git does not already use.
    pub fn free_worktree_name(&self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut n = 0;
        while self.admin_dir(&name).exists() {
            n += 1;
            name = format!("{wanted}{n}");
        }
        name
    }

    /// Returns the name of the worktree record that the `.git` file in
    /// `folder` points to, when it is one of this repository's. A relative
    /// link (`worktree.useRelativePaths`, git 2.48) is read from the folder.
    pub fn worktree_name_at(&self, folder: &std::path::Path) -> Option<String> {
        let text = fs::read_to_string(folder.join(".git")).ok()?;
        let admin = folder.join(text.trim().strip_prefix("gitdir:")?.trim());
        let name = admin.file_name()?.to_str()?.to_string();
        let same = |a: &std::path::Path, b: &std::path::Path| {
            a == b
                || fs::canonicalize(a)
                    .ok()
                    .is_some_and(|a| Some(a) == fs::canonicalize(b).ok())
        };
        same(&self.admin_dir(&name), &admin).then_some(name)
    }

    /// Returns why worktree `wt_name` is locked (`git worktree lock
    /// --reason`; empty when none was given), or `None` when it is not.
    pub fn lock_reason(&self, wt_name: &str) -> Option<String> {
        fs::read_to_string(self.admin_dir(wt_name).join("locked"))
            .ok()
            .map(|r| r.trim().to_string())
    }

    /// Returns true when the folder at `path` is worktree `wt_name` of this
    /// repository: its `.git` file points at git's record of that worktree.
    pub fn owns_folder(&self, wt_name: &str, path: &Path) -> bool {
        self.worktree_name_at(path).as_deref() == Some(wt_name)
    }

    /// Returns the names of the worktree records the repository has now.
    pub fn worktree_records(&self) -> std::collections::HashSet<String> {
        fs::read_dir(self.git_dir.join("worktrees"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_safe() {
        assert_eq!(folder_name("app"), "app");
        assert_eq!(folder_name("app.git"), "app");
        assert_eq!(folder_name(".git"), "git");
        assert_eq!(folder_name("my repo"), "my-repo");
        assert_eq!(folder_name("..hidden"), "hidden");
        assert_eq!(folder_name("..."), "repo");
    }

    #[test]
    fn commit_ids_print_as_hex() {
        let id = CommitId(Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap());
        assert_eq!(id.to_string(), "0123456789abcdef0123456789abcdef01234567");
    }
}
