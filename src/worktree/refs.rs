//! Refs of the repository: resolve a base commit, check, create and delete
//! branches, and find where a branch is checked out.
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line, and touches no worktree folder (that is `add`).

use std::path::{Path, PathBuf};

use git2::{BranchType, Repository};

use super::{CommitId, Repo};
use crate::error::{Error, Result};

impl Repo {
    /// Returns the commit `base` names, or HEAD's commit without one.
    pub fn resolve_base(&self, base: Option<&str>) -> Result<CommitId> {
        match base {
            Some(spec) => {
                let not_found = || Error::RefNotFound {
                    name: spec.to_string(),
                    repo: self.root.clone(),
                };
                // A spec starting with `-` would read as an option to git users; refuse it plainly.
                if spec.starts_with('-') || spec.is_empty() {
                    return Err(not_found());
                }
                let obj = self.repo.revparse_single(spec).map_err(|_| not_found())?;
                let kind = obj.kind().map(|k| k.str()).unwrap_or("object");
                obj.peel_to_commit()
                    .map(|c| CommitId(c.id()))
                    .map_err(|_| Error::RepoUnsupported {
                        message: format!("`{spec}` names a {kind}, not a commit"),
                        hint: "pass a branch, tag or commit to --base".into(),
                    })
            }
            None => match self.repo.head() {
                Ok(head) => Ok(CommitId(head.peel_to_commit()?.id())),
                Err(e)
                    if matches!(
                        e.code(),
                        git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound
                    ) =>
                {
                    Err(Error::RepoUnsupported {
                        message: format!(
                            "the repository {} has no commits yet",
                            self.root.display()
                        ),
                        hint: "make a first commit (`git commit --allow-empty -m init`), or pass --base".into(),
                    })
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Returns true when the local branch exists.
    pub fn branch_exists(&self, branch: &str) -> bool {
        self.repo.find_branch(branch, BranchType::Local).is_ok()
    }

    /// Returns true when `name` is a remote-tracking branch
    /// (`refs/remotes/<name>`, as `origin/main`).
    pub fn is_remote_tracking(&self, name: &str) -> bool {
        self.repo
            .find_reference(&format!("refs/remotes/{name}"))
            .is_ok()
    }

    /// Returns `<remote>/<branch>` when exactly one remote has a
    /// remote-tracking branch `branch`: the one `git worktree add <path>
    /// <branch>` makes the new local branch from, and tracks.
    pub fn only_remote_with(&self, branch: &str) -> Option<String> {
        let mut found = Vec::new();
        let remotes = self.repo.remotes().ok()?;
        for remote in remotes.iter().flatten().flatten() {
            let name = format!("{remote}/{branch}");
            if self.is_remote_tracking(&name) {
                found.push(name);
            }
        }
        (found.len() == 1).then(|| found.remove(0))
    }

    /// Returns the bytes of the file at `path` (relative to the root) in
    /// `commit`'s tree; `None` when the tree has no such file.
    pub fn file_at(&self, commit: &CommitId, path: &str) -> Result<Option<Vec<u8>>> {
        let repo = Repository::open(&self.git_dir)?;
        let tree = repo.find_commit(commit.0)?.tree()?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        match entry.to_object(&repo)?.into_blob() {
            Ok(blob) => Ok(Some(blob.content().to_vec())),
            Err(_) => Ok(None),
        }
    }

    /// Returns the worktree folder where `branch` is checked out, if any.
    pub fn checked_out_at(&self, branch: &str) -> Result<Option<PathBuf>> {
        let full = format!("refs/heads/{branch}");
        let main = Repository::open(&self.git_dir)?;
        let head_is = |r: &Repository| {
            r.find_reference("HEAD")
                .ok()
                .and_then(|h| h.symbolic_target().ok().flatten().map(|t| t == full))
                .unwrap_or(false)
        };
        if !main.is_bare() && head_is(&main) {
            return Ok(Some(self.root.clone()));
        }
        for name in main.worktrees()?.iter().flatten().flatten() {
            let Ok(wt) = main.find_worktree(name) else {
                continue;
            };
            let Ok(r) = Repository::open_from_worktree(&wt) else {
                continue;
            };
            if head_is(&r) {
                return Ok(Some(wt.path().to_path_buf()));
            }
        }
        Ok(None)
    }

    /// Creates the local branch `branch` at commit `base`.
    pub fn create_branch(&self, branch: &str, base: CommitId) -> Result<()> {
        let commit = self.repo.find_commit(base.0)?;
        self.repo.branch(branch, &commit, false)?;
        Ok(())
    }

    /// Deletes the local branch `branch` when its tip is still `at` (so no
    /// commit made on it since is lost). Returns true when it deleted it;
    /// false when the branch is absent or has moved.
    pub fn delete_branch_if_at(&self, branch: &str, at: CommitId) -> Result<bool> {
        let Ok(mut b) = self.repo.find_branch(branch, BranchType::Local) else {
            return Ok(false);
        };
        if b.get().target() != Some(at.0) {
            return Ok(false);
        }
        b.delete()?;
        Ok(true)
    }

    /// Deletes `branch` when every commit on it is reachable from another
    /// ref (branch, tag, remote-tracking ref or HEAD), so nothing is lost.
    /// Returns why it was kept otherwise; `Ok(None)` when deleted or absent.
    pub fn delete_branch_if_merged(&self, branch: &str) -> Result<Option<String>> {
        let Ok(b) = self.repo.find_branch(branch, BranchType::Local) else {
            return Ok(None);
        };
        let Some(tip) = b.get().target() else {
            return Ok(Some("it is not a plain branch".into()));
        };
        if let Some(at) = self.checked_out_at(branch)? {
            return Ok(Some(format!("it is checked out at {}", at.display())));
        }
        let own = format!("refs/heads/{branch}");
        let mut safe = false;
        for r in self.repo.references()?.flatten() {
            if r.name().ok() == Some(own.as_str()) {
                continue;
            }
            let Ok(commit) = r.peel_to_commit() else {
                continue;
            };
            let id = commit.id();
            if id == tip || self.repo.graph_descendant_of(id, tip)? {
                safe = true;
                break;
            }
        }
        if !safe
            && let Ok(head) = Repository::open(&self.git_dir)?
                .head()
                .and_then(|h| h.peel_to_commit())
        {
            safe = head.id() == tip || self.repo.graph_descendant_of(head.id(), tip)?;
        }
        if !safe {
            return Ok(Some(
                "it has commits that no other branch or tag contains".into(),
            ));
        }
        // Delete the ref directly: libgit2's branch delete re-checks every
        // worktree's HEAD and fails spuriously while another process is
        // removing a worktree; `checked_out_at` above did that check, and
        // tolerates worktrees that vanish under it.
        let mut reference = self.repo.find_reference(&own)?;
        reference.delete()?;
        Ok(None)
    }
}
