//! Worktree folders: add one in git's layout and check it out, tell whether
//! a folder is one of ours, and remove it with git's record of it.
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. It never deletes a folder that is not the worktree it was
//! asked about.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{Repository, build::CheckoutBuilder};

use super::{CommitId, Repo, canonical};
use crate::error::{Error, Result};

impl Repo {
    /// Returns true when a checkout of `commit` may need git's filters
    /// (line endings, `ident`, LFS and other drivers): when the tree holds a
    /// `.gitattributes`, the repository has `info/attributes`, one of
    /// `attribute_files` (global and system attribute files) exists, or the
    /// config sets `core.autocrlf`, `core.eol` or `core.attributesFile`.
    pub fn filters_may_apply(&self, commit: CommitId, attribute_files: &[PathBuf]) -> Result<bool> {
        let config = self.repo.config()?;
        let set = |key: &str| {
            config
                .get_string(key)
                .is_ok_and(|v| !v.is_empty() && v != "false")
        };
        if set("core.autocrlf") || set("core.eol") || set("core.attributesFile") {
            return Ok(true);
        }
        if self.git_dir.join("info/attributes").exists()
            || attribute_files.iter().any(|f| f.exists())
        {
            return Ok(true);
        }
        let tree = self.repo.find_commit(commit.0)?.tree()?;
        let mut found = false;
        tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
            if entry.name_bytes() == b".gitattributes" {
                found = true;
                git2::TreeWalkResult::Abort
            } else {
                git2::TreeWalkResult::Ok
            }
        })
        .or_else(|e| if found { Ok(()) } else { Err(e) })?;
        Ok(found)
    }

    /// Adds a worktree for the existing `branch` at `path`, reporting
    /// checkout progress as (done, total); `filters` is false only when
    /// [`Repo::filters_may_apply`] said no filter can apply.
    ///
    /// On error, what this call made may be left behind; [`Repo::remove_worktree`]
    /// undoes it.
    pub fn add_worktree(
        &self,
        wt_name: &str,
        path: &Path,
        branch: &str,
        filters: bool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<()> {
        let admin = self.admin_dir(wt_name);
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| Error::io(p, e)
        };
        fs::create_dir_all(self.git_dir.join("worktrees")).map_err(io(&self.git_dir))?;
        fs::create_dir(&admin).map_err(io(&admin))?;
        // `locked` keeps `git worktree prune` away while the checkout runs, as git does.
        fs::write(admin.join("locked"), "initializing\n").map_err(io(&admin))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::create_dir(path).map_err(io(path))?;
        let path = canonical(path)?;
        let dot_git = path.join(".git");
        fs::write(admin.join("gitdir"), format!("{}\n", dot_git.display())).map_err(io(&admin))?;
        fs::write(admin.join("commondir"), "../..\n").map_err(io(&admin))?;
        fs::write(admin.join("HEAD"), format!("ref: refs/heads/{branch}\n")).map_err(io(&admin))?;
        fs::write(&dot_git, format!("gitdir: {}\n", admin.display())).map_err(io(&dot_git))?;
        let wt = Repository::open(&path)?;
        let mut co = CheckoutBuilder::new();
        co.force();
        // Loading filters costs about 18 failed readlink calls per file in
        // libgit2 (attribute lookups); skip them when no attribute or
        // config could make a filter apply, which changes nothing written.
        if !filters {
            co.disable_filters(true);
        }
        co.progress(|_, done, total| progress(done, total));
        wt.checkout_head(Some(&mut co))?;
        fs::remove_file(admin.join("locked")).map_err(io(&admin))?;
        Ok(())
    }

    /// Returns true when the folder at `path` is worktree `wt_name` of this
    /// repository: its `.git` file points at git's record of that worktree.
    pub fn owns_folder(&self, wt_name: &str, path: &Path) -> bool {
        let admin = self.admin_dir(wt_name);
        fs::read_to_string(path.join(".git"))
            .ok()
            .and_then(|t| {
                t.trim()
                    .strip_prefix("gitdir:")
                    .map(|g| PathBuf::from(g.trim()))
            })
            .is_some_and(|g| g == admin)
    }

    /// Removes a worktree folder and git's record of it.
    ///
    /// The folder is removed only when it is this worktree (see
    /// [`Repo::owns_folder`]) or an empty folder; anything else at `path` is
    /// left in place and returned, so a folder that is not this shard's
    /// worktree is never deleted. The record is removed only when it points
    /// at `path` or at nothing that exists, so another worktree that reused
    /// the name is left alone.
    pub fn remove_worktree(&self, wt_name: &str, path: &Path) -> Result<Option<PathBuf>> {
        let admin = self.admin_dir(wt_name);
        let mut left = None;
        if fs::symlink_metadata(path).is_ok() {
            if self.owns_folder(wt_name, path) {
                remove_tree(path)?;
            } else if fs::remove_dir(path).is_err() {
                left = Some(path.to_path_buf());
            }
        }
        let target = fs::read_to_string(admin.join("gitdir"))
            .ok()
            .map(|g| PathBuf::from(g.trim()));
        let points_here = match target {
            Some(t) => {
                !t.exists()
                    || fs::canonicalize(t.parent().unwrap_or(&t)).ok()
                        == fs::canonicalize(path).ok()
            }
            None => true,
        };
        if admin.exists() && points_here && left.is_none() {
            fs::remove_dir_all(&admin).map_err(|e| Error::io(&admin, e))?;
        }
        Ok(left)
    }
}

/// Removes a folder tree, retrying a few times when a file appears in it
/// meanwhile (another shards process finishing an env file write).
fn remove_tree(path: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        match fs::remove_dir_all(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}
