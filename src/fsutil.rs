//! File writing: the one place that writes user-visible files, always
//! atomically (a sibling temp file, then a rename over the target).
//!
//! Adapter: knows files, nothing of git, SQLite or the command line.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

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
/// (a new file gets 0644).
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

/// Creates a folder (and its parents) private to the user (0700).
pub fn create_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(path, e))
}

/// Creates an empty file private to the user (0600) unless it exists.
pub fn touch_private(path: &Path) -> Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
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
}
