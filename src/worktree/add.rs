//! Worktree folders: tell whether a folder is one of ours or locked, and
//! remove it with git's record of it (adding one is `checkout`).
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. It never deletes a folder that is not the worktree it was
//! asked about.

use std::fs;
use std::path::{Path, PathBuf};

use super::Repo;
use crate::error::{Error, Result};

impl Repo {
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

    /// Removes what a `git worktree add` killed part-way left at `path`,
    /// which no `.git` link names yet: git's records still locked
    /// "initializing" whose `gitdir` names `path/.git`, and the folder when
    /// it holds nothing but an unfinished
    /// (empty or partial) `.git` file. Only for a path that was free before
    /// the create that made it, so whatever is there is that create's.
    pub fn remove_unfinished(&self, path: &Path) -> Result<()> {
        let dot_git = path.join(".git");
        let records = fs::read_dir(self.git_dir.join("worktrees"))
            .into_iter()
            .flatten()
            .flatten();
        for record in records {
            let gitdir = fs::read_to_string(record.path().join("gitdir")).unwrap_or_default();
            // git locks a record "initializing" while it adds the worktree
            // and unlocks it when done: a finished worktree is never taken.
            let adding = fs::read_to_string(record.path().join("locked"))
                .is_ok_and(|reason| reason.trim() == "initializing");
            if adding && Path::new(gitdir.trim()) == dot_git {
                fs::remove_dir_all(record.path()).map_err(|e| Error::io(record.path(), e))?;
            }
        }
        let only_git = fs::read_dir(path)
            .map(|d| d.flatten().all(|e| e.file_name() == ".git"))
            .unwrap_or(false);
        if only_git && fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&dot_git).map_err(|e| Error::io(&dot_git, e))?;
        }
        if only_git {
            fs::remove_dir(path).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }
}

/// Removes a worktree folder, its `.git` file last: a removal cut short
/// (a second Ctrl-C, a kill) leaves a folder still known as this worktree,
/// which the next `destroy` or `prune` finishes. Retries a few times when a
/// file appears in it meanwhile (another shards process finishing an env
/// file write).
fn remove_tree(path: &Path) -> Result<()> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut tries = 0;
    loop {
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(Error::io(path, e)),
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            let removed = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
                _ => fs::remove_file(&p),
            };
            match removed {
                Err(e) if !gone(&e) => return Err(Error::io(&p, e)),
                _ => {}
            }
        }
        match fs::remove_file(path.join(".git")) {
            Err(e) if !gone(&e) => return Err(Error::io(path.join(".git"), e)),
            _ => {}
        }
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if gone(&e) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}
