//! File writing: the one place that writes user-visible files, either
//! atomically (a sibling temp file, then a rename over the target) or, for
//! files other programs write too (the env file, `.envrc`), in place under
//! a write lease (`edit`); and (`copy`) files brought into a new worktree
//! from the main one.
//!
//! Adapter: knows files, nothing of git, SQLite or the command line.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

mod clone;
pub mod copy;
mod edit;

pub use edit::{Edited, Exclusion, Rewrite, edit};

/// Reads a file that shards may edit; a missing file reads as empty.
///
/// Refuses a symlink (shards never follows one, which could lead out of the
/// worktree) and anything that is not a regular file.
pub fn read_editable(path: &Path) -> Result<Vec<u8>> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Error::io(
            path,
            std::io::Error::other("is a symbolic link; shards does not write through links"),
        )),
        Ok(meta) if !meta.is_file() => Err(Error::io(
            path,
            std::io::Error::other("is not a regular file"),
        )),
        Ok(_) => fs::read(path).map_err(|e| Error::io(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Replaces `path` with `bytes` atomically, keeping the old file's mode
/// (a new file gets 0644). Whatever another process appends to the old
/// file meanwhile is lost with it: a file others write too goes through
/// [`edit`].
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let mut tmp = tempfile::Builder::new()
        .prefix(".shards-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_data())
        .and_then(|_| {
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))
        })
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// How the files shards keeps in its home are shared.
///
/// A home the admin gave to a group once (`chgrp devs DIR && chmod 2770
/// DIR`: the setgid bit, or at least group write) is shared with that
/// group: what shards creates there is group read/write and owned by the
/// group, whatever the umask. Any other home (and one not made yet) is
/// private: 0700 folders, 0600 files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Only the user.
    Private,
    /// The members of the group with this id.
    Group(u32),
}

impl Sharing {
    /// Returns how `home` is shared.
    pub fn of(home: &Path) -> Sharing {
        match fs::metadata(home) {
            Ok(m) if m.mode() & (0o2000 | 0o020) != 0 => Sharing::Group(m.gid()),
            _ => Sharing::Private,
        }
    }

    fn dir_mode(self) -> u32 {
        match self {
            Sharing::Private => 0o700,
            Sharing::Group(_) => 0o2770,
        }
    }

    fn file_mode(self) -> u32 {
        match self {
            Sharing::Private => 0o600,
            Sharing::Group(_) => 0o660,
        }
    }

    /// Gives a file or folder shards just made the group's mode and group
    /// (the umask may have taken group write away); a private one keeps
    /// the mode it was made with.
    fn apply(self, path: &Path, mode: u32) -> Result<()> {
        if let Sharing::Group(gid) = self {
            // A user outside the group cannot give it the file; the setgid
            // bit on the home has done so already when set.
            let _ = std::os::unix::fs::chown(path, None, Some(gid));
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }
}

/// Creates a folder of the shards home (and its missing parents) shared as
/// `sharing` says; folders that exist are left as they are.
pub fn create_home_dir(path: &Path, sharing: Sharing) -> Result<()> {
    let missing: Vec<&Path> = path
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
        .collect();
    for dir in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(sharing.dir_mode()).create(dir) {
            Ok(()) => sharing.apply(dir, sharing.dir_mode())?,
            // Another process made it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(dir, e)),
        }
    }
    Ok(())
}

/// Creates the missing folders above a new worktree at `path` that lie in
/// the shards home (`<home>/worktrees/<repo>`), shared as the home is, so
/// every user of a shared home can add worktrees there. A worktree outside
/// the home is left to git.
pub fn create_worktree_parent(home: &Path, path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if parent.starts_with(home) => create_home_dir(parent, Sharing::of(home)),
        _ => Ok(()),
    }
}

/// Creates an empty file of the shards home shared as `sharing` says,
/// unless it exists.
pub fn touch_home_file(path: &Path, sharing: Sharing) -> Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(sharing.file_mode())
        .open(path)
    {
        Ok(_) => sharing.apply(path, sharing.file_mode()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Opens (creating it shared as `sharing` says) a lock file for `flock`.
///
/// An existing lock file is opened for reading only: a lock needs no more,
/// so one left by another user (or by an older shards, 0644) never blocks.
pub fn open_lock(path: &Path, sharing: Sharing) -> Result<fs::File> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(sharing.file_mode())
        .open(path)
    {
        Ok(file) => {
            sharing.apply(path, sharing.file_mode())?;
            return Ok(file);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    fs::File::open(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_mode_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        write_atomically(&p, b"A=1\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"A=1\n");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&p, b"A=2\n").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(read_editable(&link).is_err());
        assert_eq!(read_editable(&dir.path().join("none")).unwrap(), b"");
    }

    #[test]
    fn a_group_home_makes_group_files_and_a_private_one_private() {
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        assert_eq!(Sharing::of(&private), Sharing::Private);
        create_home_dir(&private.join("locks"), Sharing::of(&private)).unwrap();
        assert_eq!(mode(&private) & 0o077, 0);
        assert_eq!(mode(&private.join("locks")) & 0o077, 0);

        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o2770)).unwrap();
        let sharing = Sharing::of(&shared);
        let gid = fs::metadata(&shared).unwrap().gid();
        assert_eq!(sharing, Sharing::Group(gid));
        let parent = shared.join("worktrees/app");
        create_worktree_parent(&shared, &parent.join("x")).unwrap();
        assert_eq!(mode(&shared.join("worktrees")), 0o2770);
        assert_eq!(mode(&parent), 0o2770);
        assert!(!parent.join("x").exists());
        touch_home_file(&shared.join("shards.db"), sharing).unwrap();
        assert_eq!(mode(&shared.join("shards.db")), 0o660);
        let lock = shared.join("shard-1.lock");
        open_lock(&lock, sharing).unwrap();
        assert_eq!(mode(&lock), 0o660);
        // An existing lock file needs reading only.
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o444)).unwrap();
        open_lock(&lock, sharing).unwrap().lock().unwrap();
    }
}
