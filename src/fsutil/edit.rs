//! Editing a file other programs write too (the env file, `.envrc`) in
//! place, so that no line they write at the same time is lost.
//!
//! A temp file renamed over the target loses every line appended between
//! the read and the rename, and orphans a writer holding the old file open.
//! So [`edit`] rewrites the file itself, under a Linux write lease
//! (`fcntl(F_SETLEASE, F_WRLCK)`): the kernel grants it only while no other
//! process has the file open, and while it is held every other `open` of
//! the file waits until it is released. Read, change and write then happen
//! with nobody else in the file: a writer that opens the file for each
//! line (`echo >> .env`, an editor, another program) loses nothing.
//!
//! The lease is retried for a moment while someone has the file open.
//! When it cannot be had (a writer or `tail -f` keeps the file open, the
//! file belongs to another user, a file system without leases), the edit
//! still keeps whatever others append (`O_APPEND`, as `>>` and every
//! logger do): the file is never made shorter while others may write (the
//! new content is padded with blank lines at its slack instead), and room
//! for a longer one is first taken at the end with an append, which tells
//! where the end was; what was appended before it is moved behind the new
//! content. Only a writer that writes at an offset of its own, not at the
//! end, can then still lose a line.
//!
//! A kill in the middle leaves either the old content or the new: the new
//! content goes in one write (a few KB: one page, which a kill does not
//! cut), and a file that shrinks is first written at its old length,
//! padded with blank lines, then cut, so no fragment of the old content is
//! left behind. A file that grows has its blocks reserved first, so a full
//! disk fails the edit before anything is written.
//!
//! Adapter: knows files, nothing of git, SQLite or the command line.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Linux's `F_SETSIG` (the same on every architecture; `libc` has it only
/// for some targets).
const F_SETSIG: libc::c_int = 10;

/// How long [`edit`] waits for a lease while another process has the file
/// open (a writer opening it for each line closes it within microseconds).
const LEASE_WAIT: Duration = Duration::from_millis(20);

/// How [`edit`] kept other writers out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// Under a write lease: nobody else had the file open.
    Lease,
    /// No lease could be had (someone holds the file open): the file never
    /// shrinks and growth is taken by an append, so appending writers lose
    /// nothing; one writing at an offset of its own could.
    BestEffort,
}

/// New content for [`edit`] to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The new bytes.
    pub bytes: Vec<u8>,
    /// A byte offset in `bytes`, at the start of a line, where blank lines
    /// may go: a file another process holds open is never made shorter
    /// (that would cut what it appends), so shorter content is padded
    /// there (shards' own section, which its next write makes clean).
    pub slack: usize,
}

impl Rewrite {
    /// New bytes whose padding, if any, goes at their end.
    pub fn at_end(bytes: Vec<u8>) -> Rewrite {
        let slack = bytes.len();
        Rewrite { bytes, slack }
    }
}

/// What [`edit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edited {
    /// True when the file was written (the change asked for new bytes).
    pub written: bool,
    /// How other writers were kept out.
    pub exclusion: Exclusion,
}

/// Applies `change` to the bytes of the regular file at `path` (created
/// 0644 when missing) and writes what it returns in place, keeping every
/// byte other processes append meanwhile (see the module doc); `None` from
/// `change` writes nothing. `change` runs again, on the new file, when the
/// file was replaced (renamed over) meanwhile. Refuses a symbolic link and
/// anything not a regular file.
pub fn edit<F>(path: &Path, mut change: F) -> Result<Edited>
where
    F: FnMut(&[u8]) -> Result<Option<Rewrite>>,
{
    // A rename over the file meanwhile (an editor saving) means the edit
    // went to a file nobody reads: do it again on the new one.
    let mut tries = 0;
    loop {
        let (file, made) = open(path)?;
        let lease = Lease::take(&file);
        let exclusion = if lease.held {
            Exclusion::Lease
        } else {
            Exclusion::BestEffort
        };
        let written = rewrite(path, &file, exclusion, &mut change);
        drop(lease);
        let written = written?;
        // After the lease, so nobody waits on the disk. A file this edit
        // made holds nothing of anyone's to keep through a power cut (the
        // worktree git just wrote beside it is not synced either), so it
        // is left to the kernel's writeback: one `fdatasync` less per
        // create (issue 19).
        if written && !made {
            file.sync_data().map_err(|e| Error::io(path, e))?;
        }
        if still_at(path, &file) {
            return Ok(Edited { written, exclusion });
        }
        tries += 1;
        if tries >= 3 {
            return Err(Error::io(
                path,
                io::Error::other(
                    "another program replaced the file each time shards wrote it (3 tries)",
                ),
            ));
        }
    }
}

/// Opens `path` for reading and writing, never through a link, creating it
/// (0644, whatever the umask) when missing; true when this call made it.
fn open(path: &Path) -> Result<(File, bool)> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(Error::io(
                path,
                io::Error::other("is a symbolic link; shards does not write through links"),
            ));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(Error::io(path, io::Error::other("is not a regular file")));
        }
        _ => {}
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    let (file, made) = match opened {
        Ok(file) => (file, false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(path)
            {
                Ok(file) => {
                    file.set_permissions(std::fs::Permissions::from_mode(0o644))
                        .map_err(|e| Error::io(path, e))?;
                    (file, true)
                }
                // Made by someone else meanwhile: edit theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return open(path),
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::io(
                path,
                io::Error::other("is a symbolic link; shards does not write through links"),
            ));
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(path, io::Error::other("is not a regular file")));
    }
    Ok((file, made))
}

/// True when `path` still names the file `file` is open on.
fn still_at(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(now), Ok(ours)) => now.dev() == ours.dev() && now.ino() == ours.ino(),
        // Deleted since: the edit went to a file nobody reads.
        (Err(e), _) if e.kind() == io::ErrorKind::NotFound => false,
        // Cannot be checked: taken for the file written.
        _ => true,
    }
}

/// A write lease on an open file, released on drop.
struct Lease<'a> {
    file: &'a File,
    held: bool,
}

impl<'a> Lease<'a> {
    /// Takes a write lease on `file`, retrying for [`LEASE_WAIT`] while
    /// another process has it open; `held` is false when none was had.
    fn take(file: &'a File) -> Lease<'a> {
        let fd = file.as_raw_fd();
        // A lease broken by another process's open is signalled to the
        // holder with SIGIO, which kills; SIGURG is ignored unless handled.
        // SAFETY: fcntl on an fd we own, with integer arguments.
        if unsafe { libc::fcntl(fd, F_SETSIG, libc::SIGURG) } == -1 {
            return Lease { file, held: false };
        }
        let start = Instant::now();
        let mut pause = Duration::from_micros(20);
        loop {
            // SAFETY: as above.
            if unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_WRLCK) } == 0 {
                return Lease { file, held: true };
            }
            let busy = io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN);
            if !busy || start.elapsed() >= LEASE_WAIT {
                return Lease { file, held: false };
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.held {
            // SAFETY: as in `take`.
            unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
        }
    }
}

/// Reads `file`, applies `change` and writes the answer in place; returns
/// whether it wrote.
fn rewrite<F>(path: &Path, file: &File, exclusion: Exclusion, change: &mut F) -> Result<bool>
where
    F: FnMut(&[u8]) -> Result<Option<Rewrite>>,
{
    let io_error = |e| Error::io(path, e);
    let old = read_from(file, 0).map_err(io_error)?;
    let Some(new) = change(&old)? else {
        return Ok(false);
    };
    let old_len = old.len() as u64;
    match exclusion {
        Exclusion::Lease => write_alone(file, old_len, &new.bytes),
        Exclusion::BestEffort => write_beside(file, old_len, new),
    }
    .map_err(io_error)?;
    Ok(true)
}

/// Writes `new` over a file of `old_len` bytes that nobody else has open.
/// A shorter `new` is written padded with blank lines to the old length,
/// then cut: a kill between the two leaves blank lines at the end, never
/// a piece of the old content.
fn write_alone(file: &File, old_len: u64, new: &[u8]) -> io::Result<()> {
    let new_len = new.len() as u64;
    if new_len >= old_len {
        reserve(file, new_len)?;
        return file.write_all_at(new, 0);
    }
    let mut padded = new.to_vec();
    padded.resize(old_len as usize, b'\n');
    file.write_all_at(&padded, 0)?;
    file.set_len(new_len)
}

/// Writes `new` over a file of `old_len` bytes that other processes may
/// be appending to (`O_APPEND`: every write lands at the end at once).
/// The file never shrinks, so nothing appended is cut: a shorter `new`
/// gets blank lines at its slack. A longer one first appends blank lines
/// for the bytes it adds, which tells where the end was when it took its
/// room; what others appended before that is kept after `new`, what they
/// append later lands behind the room.
fn write_beside(file: &File, old_len: u64, new: Rewrite) -> io::Result<()> {
    let Rewrite { mut bytes, slack } = new;
    // Within the content, whatever the caller gave.
    let slack = slack.min(bytes.len());
    let new_len = bytes.len() as u64;
    if new_len <= old_len {
        let pad = vec![b'\n'; (old_len - new_len) as usize];
        bytes.splice(slack..slack, pad);
        return file.write_all_at(&bytes, 0);
    }
    let room = vec![b'\n'; (new_len - old_len) as usize];
    let fd = file.as_raw_fd();
    let iov = libc::iovec {
        iov_base: room.as_ptr() as *mut libc::c_void,
        iov_len: room.len(),
    };
    // SAFETY: one iovec over `room`, which outlives the call; offset -1
    // writes at (and moves) the descriptor's position, RWF_APPEND at the end.
    let n = unsafe { libc::pwritev2(fd, &iov, 1, -1, libc::RWF_APPEND) };
    if n != room.len() as isize {
        let e = io::Error::last_os_error();
        if n >= 0 || !matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) {
            return Err(if n >= 0 {
                io::Error::other("short write")
            } else {
                e
            });
        }
        // No RWF_APPEND: write as if alone.
        return write_alone(file, old_len, &bytes);
    }
    // SAFETY: lseek on an fd we own.
    let after = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    if after < 0 {
        return Err(io::Error::last_os_error());
    }
    let landed = after as u64 - room.len() as u64;
    let appended = read_range(file, old_len, landed)?;
    bytes.extend_from_slice(&appended);
    file.write_all_at(&bytes, 0)
}

/// Reserves the disk blocks of a file of `len` bytes without changing its
/// size, so that a full disk fails the edit before a byte is written
/// rather than halfway through (a temp file's rename never had that
/// risk). A file system without `fallocate` goes without.
fn reserve(file: &File, len: u64) -> io::Result<()> {
    // SAFETY: fallocate on an fd we own, with integer arguments.
    let r = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_KEEP_SIZE,
            0,
            len as libc::off_t,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL) => Ok(()),
        _ => Err(e),
    }
}

/// Reads `file` from `at` to its end.
fn read_from(file: &File, at: u64) -> io::Result<Vec<u8>> {
    read_range(file, at, u64::MAX)
}

/// Reads `file` from `at` up to `until` (or its end).
fn read_range(file: &File, at: u64, until: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let pos = at + bytes.len() as u64;
        let want = (until.saturating_sub(pos)).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(bytes);
        }
        match file.read_at(&mut buf[..want], pos) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(to: &'static [u8]) -> impl FnMut(&[u8]) -> Result<Option<Rewrite>> {
        move |old: &[u8]| Ok((old != to).then(|| Rewrite::at_end(to.to_vec())))
    }

    #[test]
    fn edits_in_place_keeping_the_file_and_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        let done = edit(&p, set(b"A=1\nB=2\n")).unwrap();
        assert!(done.written);
        assert_eq!(done.exclusion, Exclusion::Lease);
        assert_eq!(std::fs::read(&p).unwrap(), b"A=1\nB=2\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        assert!(edit(&p, set(b"A=1\n")).unwrap().written);
        assert_eq!(std::fs::read(&p).unwrap(), b"A=1\n");
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(
            (meta.ino(), meta.permissions().mode() & 0o777),
            (ino, 0o600)
        );
        assert!(!edit(&p, set(b"A=1\n")).unwrap().written);
    }

    /// Edits `p` (shrinking or growing it by `delta` bytes at `slack`)
    /// while a holder of an `O_APPEND` descriptor appends `MINE=1`.
    fn edit_while_held(p: &Path, grow: bool) -> String {
        std::fs::write(p, b"A=1\nLONG=xxxxxxxx\nZ=1\n").unwrap();
        let held = std::fs::OpenOptions::new().append(true).open(p).unwrap();
        let done = edit(p, |old: &[u8]| {
            std::io::Write::write_all(&mut &held, b"MINE=1\n").unwrap();
            let mut new = old.to_vec();
            if grow {
                new.splice(4..4, b"GROWN=yes\n".iter().copied());
            } else {
                new.drain(4..18);
            }
            Ok(Some(Rewrite {
                bytes: new,
                slack: 4,
            }))
        })
        .unwrap();
        assert_eq!(done.exclusion, Exclusion::BestEffort);
        String::from_utf8(std::fs::read(p).unwrap()).unwrap()
    }

    #[test]
    fn a_held_descriptor_means_best_effort_and_keeps_its_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        // Shorter: padded at the slack, never cut.
        let text = edit_while_held(&p, false);
        assert_eq!(text, format!("A=1\n{}Z=1\nMINE=1\n", "\n".repeat(14)));
        // Longer: what was appended before the room was taken moves behind.
        let text = edit_while_held(&p, true);
        assert_eq!(text, "A=1\nGROWN=yes\nLONG=xxxxxxxx\nZ=1\nMINE=1\n");
    }

    #[test]
    fn refuses_links_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("real");
        std::fs::write(&p, b"A=1\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(edit(&link, set(b"B=1\n")).is_err());
        assert!(edit(dir.path(), set(b"B=1\n")).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"A=1\n");
    }
}
