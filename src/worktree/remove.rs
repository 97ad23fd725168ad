//! Removing worktrees: a shard's folder with git's record of it, and what a
//! `git worktree add` killed part-way left (adding one is `add`).
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. It never deletes a folder that is not the worktree it was
//! asked about.

use std::fs;
use std::path::{Path, PathBuf};

use super::Repo;
use crate::error::{Error, Result};

impl Repo {
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

    /// Removes `refs/heads/BRANCH.lock` when it was made at or after
    /// `since`: a git stopped while it made the branch (`git branch`, run
    /// by `git worktree add -b`, dies at once if a signal comes between
    /// its lock file's creation and the handler that would remove it)
    /// leaves it, and it fails every later create of that branch. Only for
    /// the undo of the create whose git it was, once that git is gone: the
    /// branch was not there before, so a lock made since is that create's.
    /// Returns true when one was removed.
    pub fn remove_branch_lock(&self, branch: &str, since: std::time::SystemTime) -> Result<bool> {
        let lock = self
            .git_dir
            .join("refs/heads")
            .join(format!("{branch}.lock"));
        let made = match fs::symlink_metadata(&lock) {
            Ok(meta) if meta.is_file() => meta.modified().map_err(|e| Error::io(&lock, e))?,
            _ => return Ok(false),
        };
        if made < since {
            return Ok(false);
        }
        fs::remove_file(&lock).map_err(|e| Error::io(&lock, e))?;
        Ok(true)
    }

    /// Removes what a `git worktree add` killed part-way left at `path`,
    /// which no `.git` link names yet: when the folder is gone or holds
    /// nothing but an unfinished (empty or partial) `.git` file, the folder
    /// and git's records that are still locked (git locks a record while it
    /// adds the worktree, whatever the language of its reason) and name
    /// `path/.git`, except the records in `keep` (those that were there
    /// before). With `nameless`, also locked records that name no folder
    /// yet (git was killed before or while writing their `gitdir`): only for the
    /// undo of the create whose git it was, which holds the repository's
    /// worktree lock and knows `keep`. Only for a path that was free before
    /// the create that made it, so whatever is there is that create's.
    pub fn remove_unfinished(
        &self,
        path: &Path,
        keep: &std::collections::HashSet<String>,
        nameless: bool,
    ) -> Result<()> {
        let entries: Option<Vec<_>> = fs::read_dir(path)
            .ok()
            .map(|d| d.flatten().map(|e| e.file_name()).collect());
        let only_git = match &entries {
            None => fs::symlink_metadata(path).is_err(),
            Some(names) => names.iter().all(|n| n == ".git"),
        };
        if !only_git {
            return Ok(());
        }
        let dot_git = path.join(".git");
        let names_here = |gitdir: &str| {
            let named = Path::new(gitdir.trim());
            let canonical = |p: &Path| fs::canonicalize(p).ok();
            named == dot_git
                || (named.file_name() == Some(std::ffi::OsStr::new(".git"))
                    && canonical(path).is_some()
                    && named.parent().and_then(canonical) == canonical(path))
        };
        for name in self.worktree_records().difference(keep) {
            let record = self.admin_dir(name);
            // An empty `gitdir`: git was killed while writing it.
            let gitdir = fs::read_to_string(record.join("gitdir"))
                .ok()
                .filter(|g| !g.trim().is_empty());
            let ours = match &gitdir {
                Some(gitdir) => names_here(gitdir),
                None => nameless,
            };
            // git writes `locked` right after making the record's folder;
            // killed in between, the folder is empty.
            let started = record.join("locked").exists()
                || fs::read_dir(&record).is_ok_and(|mut d| d.next().is_none());
            if started && ours {
                fs::remove_dir_all(&record).map_err(|e| Error::io(&record, e))?;
            }
        }
        if entries.is_some() {
            if fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_file()) {
                fs::remove_file(&dot_git).map_err(|e| Error::io(&dot_git, e))?;
            }
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
                Ok(t) if t.is_dir() => fs::remove_dir_all(&p).or_else(|e| {
                    // A read-only folder (a copied Go module cache): the
                    // shard's own, so it is made writable, then removed.
                    if e.kind() != std::io::ErrorKind::PermissionDenied {
                        return Err(e);
                    }
                    make_writable(&p)?;
                    fs::remove_dir_all(&p)
                }),
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

/// Gives the owner read, write and search rights on folder `dir` and every
/// folder under it, so that their entries can be removed. Never through a
/// link: a link, or anything that is not a folder, is left as it is, and
/// nothing outside `dir` is reached. Only for a folder about to be removed.
fn make_writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // `file_type` does not follow links.
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}
