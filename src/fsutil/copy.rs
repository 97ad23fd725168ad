//! Bringing files from one tree into another: the tree walked (never
//! through a link), folders made, symbolic links made again with the same
//! target (never followed) or a link to the source made in place of a
//! copy, regular files handed to `clone` to copy on threads; modes and
//! times kept.
//!
//! Adapter (part of `fsutil`): knows files, nothing of git, SQLite, the
//! ledger or the command line. It never writes outside the destination
//! root: every folder on the way there must be a real folder.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::clone::{Job, copy_files, set_times};

/// How an entry is brought over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// A copy of the file or of the whole folder.
    Copy,
    /// A symbolic link to the source's absolute path.
    Link,
    /// A copy of the regular file the source is or links to, made a file
    /// of its own (for a file shards writes into, which must not be a
    /// link); skipped when the source is neither.
    Content,
}

/// One entry to bring over, relative to both roots.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The path relative to the source and destination roots.
    pub rel: PathBuf,
    /// Copied or linked.
    pub way: Way,
}

/// What [`bring`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Brought {
    /// Regular files copied.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Of those files, how many were cloned (copy-on-write) whole.
    pub cloned: u64,
    /// Symbolic links made: copies of links, and links in place of copies.
    pub links: u64,
    /// Folders made.
    pub dirs: u64,
    /// Entries left out because something already stands at the
    /// destination, or because they are sockets, pipes or devices.
    pub skipped: u64,
}

/// Returns the names in folder `dir` with whether each is a real folder
/// (a link to a folder is not one).
pub fn list_dir(dir: &Path) -> Result<Vec<(OsString, bool)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| copy_error(dir, e))? {
        let entry = entry.map_err(|e| copy_error(dir, e))?;
        let kind = entry.file_type().map_err(|e| copy_error(entry.path(), e))?;
        out.push((entry.file_name(), kind.is_dir()));
    }
    Ok(out)
}

pub(super) fn copy_error(path: impl Into<PathBuf>, err: io::Error) -> Error {
    Error::Copy {
        path: path.into(),
        err,
    }
}

/// Brings `entries` from `src_root` to `dst_root`: folders whole, files
/// cloned or copied with their mode and times, symbolic links as links with
/// the same target. An entry whose destination exists already is left
/// alone (counted as skipped), and so is everything that is not a file,
/// folder or link.
///
/// `stop` is asked between files (and every 50 ms while threads copy);
/// once it says true the copy stops and `Ok(None)` comes back, leaving what
/// was made for the caller to remove. `progress` hears (files copied,
/// files to copy), from this thread.
pub fn bring(
    src_root: &Path,
    dst_root: &Path,
    entries: &[Entry],
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<Brought>> {
    let mut done = Brought::default();
    let mut jobs = Vec::new();
    // Folders made, with the source's metadata, to set their mode and
    // times once everything inside them is written.
    let mut dirs = Vec::new();
    for entry in entries {
        if stop() {
            return Ok(None);
        }
        let (src, dst) = (src_root.join(&entry.rel), dst_root.join(&entry.rel));
        make_parents(dst_root, &entry.rel)?;
        match fs::symlink_metadata(&dst) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(copy_error(&dst, e)),
            Ok(_) => {
                done.skipped += 1;
                continue;
            }
        }
        match entry.way {
            Way::Link => {
                std::os::unix::fs::symlink(&src, &dst).map_err(|e| copy_error(&dst, e))?;
                done.links += 1;
            }
            Way::Copy => plan(&src, &dst, &mut jobs, &mut dirs, &mut done, stop)?,
            Way::Content => match fs::metadata(&src) {
                Ok(meta) if meta.is_file() => jobs.push(Job { src, dst, meta }),
                // A link to a folder or to a pipe.
                Ok(_) => done.skipped += 1,
                // A link to nothing, or a loop of links.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    done.skipped += 1
                }
                Err(e) => return Err(copy_error(&src, e)),
            },
        }
    }
    let Some((files, bytes, cloned)) = copy_files(jobs, stop, progress)? else {
        return Ok(None);
    };
    done.files = files;
    done.bytes = bytes;
    done.cloned = cloned;
    // Deepest first, so setting a folder's times is the last write in it.
    for (dst, meta) in dirs.iter().rev() {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| copy_error(dst, e))?;
        set_times(dst, meta, false).map_err(|e| copy_error(dst, e))?;
    }
    done.dirs = dirs.len() as u64;
    Ok(Some(done))
}

/// Makes the folders above `rel` under `root` that are missing; each one
/// that is there must be a real folder, so nothing is written through a
/// link out of the tree.
fn make_parents(root: &Path, rel: &Path) -> Result<()> {
    let mut dir = root.to_path_buf();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(copy_error(
                    &dir,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "is in the way: a file or link stands where a folder should be",
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&dir).map_err(|e| copy_error(&dir, e))?;
            }
            Err(e) => return Err(copy_error(&dir, e)),
        }
    }
    Ok(())
}

/// Walks `src` (never through a link), making folders and links at once
/// and queueing regular files as jobs.
fn plan(
    src: &Path,
    dst: &Path,
    jobs: &mut Vec<Job>,
    dirs: &mut Vec<(PathBuf, Metadata)>,
    done: &mut Brought,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(|e| copy_error(src, e))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(src).map_err(|e| copy_error(src, e))?;
        std::os::unix::fs::symlink(&target, dst).map_err(|e| copy_error(dst, e))?;
        set_times(dst, &meta, true).map_err(|e| copy_error(dst, e))?;
        done.links += 1;
    } else if kind.is_dir() {
        // Made writable for us until the end, when the source's mode comes.
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dst)
            .map_err(|e| copy_error(dst, e))?;
        dirs.push((dst.to_path_buf(), meta));
        let mut names: Vec<OsString> = fs::read_dir(src)
            .map_err(|e| copy_error(src, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(|e| copy_error(src, e))?;
        names.sort();
        for name in names {
            if stop() {
                return Ok(());
            }
            plan(&src.join(&name), &dst.join(&name), jobs, dirs, done, stop)?;
        }
    } else if kind.is_file() {
        jobs.push(Job {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            meta,
        });
    } else {
        // Sockets, pipes and devices belong to a running program, not to
        // the tree (git does not track them either).
        done.skipped += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rel: &str) -> Entry {
        Entry {
            rel: PathBuf::from(rel),
            way: Way::Copy,
        }
    }

    #[test]
    fn never_writes_through_a_link_in_the_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst, outside) = (
            tmp.path().join("src"),
            tmp.path().join("dst"),
            tmp.path().join("outside"),
        );
        for d in [&src, &dst, &outside] {
            fs::create_dir_all(d).unwrap();
        }
        fs::create_dir_all(src.join("a")).unwrap();
        fs::write(src.join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, dst.join("a")).unwrap();
        let err = bring(&src, &dst, &[entry("a/f")], &|| false, &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, Error::Copy { .. }), "{err}");
        assert!(!outside.join("f").exists());
    }

    #[test]
    fn keeps_what_stands_at_the_destination_and_stops_when_told() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        fs::create_dir_all(src.join("d")).unwrap();
        fs::create_dir_all(&dst).unwrap();
        fs::write(src.join("d/f"), "new").unwrap();
        fs::write(src.join("g"), "new").unwrap();
        fs::write(dst.join("g"), "mine").unwrap();
        let done = bring(
            &src,
            &dst,
            &[entry("d"), entry("g")],
            &|| false,
            &mut |_, _| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!((done.files, done.skipped, done.dirs), (1, 1, 1));
        assert_eq!(fs::read_to_string(dst.join("g")).unwrap(), "mine");
        let stopped = bring(
            &src,
            &tmp.path().join("x"),
            &[entry("g")],
            &|| true,
            &mut |_, _| {},
        );
        assert!(stopped.unwrap().is_none());
    }
}
