//! Copying the regular files brought into a new worktree, spread over
//! threads (`copy_files`): each one a copy-on-write clone (`FICLONE`) where
//! the file system can, else the kernel's `copy_file_range` (only the data
//! of a file with holes); then the source's mode and times.
//!
//! Adapter (part of `fsutil`, used by `fsutil::copy`): knows files, nothing
//! of git, SQLite, the ledger or the command line.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

use super::copy::copy_error;

/// A regular file to copy.
pub(super) struct Job {
    pub(super) src: PathBuf,
    pub(super) dst: PathBuf,
    pub(super) meta: Metadata,
}

/// Copies the jobs on as many threads as the machine has cores (one for a
/// few files); returns (files, bytes, cloned), or `None` when stopped.
pub(super) fn copy_files(
    jobs: Vec<Job>,
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<(u64, u64, u64)>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(jobs.len().div_ceil(64)).max(1);
    let next = AtomicUsize::new(0);
    let (files, bytes, cloned) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let halt = AtomicBool::new(false);
    // Once one clone is refused (another file system, or none that can),
    // the rest go straight to a copy.
    let can_clone = AtomicBool::new(true);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    // Copies the next job; false when there is none left or all must stop.
    let step = || {
        if halt.load(Ordering::Relaxed) {
            return false;
        }
        let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return false;
        };
        match copy_one(job, &can_clone) {
            Ok(was_cloned) => {
                files.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(job.meta.len(), Ordering::Relaxed);
                cloned.fetch_add(u64::from(was_cloned), Ordering::Relaxed);
                true
            }
            Err(e) => {
                halt.store(true, Ordering::Relaxed);
                let mut slot = failed.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
                false
            }
        }
    };
    let mut stopped = false;
    let mut watch = |progress: &mut dyn FnMut(usize, usize)| {
        if stop() {
            stopped = true;
            halt.store(true, Ordering::Relaxed);
        }
        progress(files.load(Ordering::Relaxed) as usize, jobs.len());
    };
    if threads == 1 {
        // This thread alone, asking `stop` between files.
        loop {
            watch(progress);
            if !step() {
                break;
            }
        }
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| while step() {}))
                .collect();
            // This thread watches: progress, and the stop signal.
            while !handles.iter().all(|h| h.is_finished()) {
                watch(progress);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if stopped || stop() {
        return Ok(None);
    }
    let (files, bytes) = (files.into_inner(), bytes.into_inner());
    progress(files as usize, jobs.len());
    Ok(Some((files, bytes, cloned.into_inner())))
}

/// Copies one regular file: a clone when the file system can, else the
/// kernel's copy; then the source's mode and times. Returns true when it
/// was cloned.
pub(super) fn copy_one(job: &Job, can_clone: &AtomicBool) -> Result<bool> {
    // Without blocking: a file replaced by a named pipe since it was
    // listed would wait for a writer forever.
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&job.src)
        .map_err(|e| copy_error(&job.src, e))?;
    if !from.metadata().is_ok_and(|m| m.is_file()) {
        return Err(copy_error(
            &job.src,
            io::Error::other("is no longer a regular file: it changed while the copy ran"),
        ));
    }
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&job.dst)
        .map_err(|e| copy_error(&job.dst, e))?;
    let mut cloned = false;
    // True once the data of a file with holes is copied.
    let mut holes_kept = false;
    if job.meta.len() > 0 {
        if can_clone.load(Ordering::Relaxed) {
            // SAFETY: FICLONE reads one fd argument; both fds are open.
            let r = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) };
            if r == 0 {
                cloned = true;
            } else {
                let err = io::Error::last_os_error();
                // Not on this file system, or not across these two.
                if let Some(libc::EOPNOTSUPP | libc::EXDEV | libc::EINVAL | libc::ENOTTY) =
                    err.raw_os_error()
                {
                    can_clone.store(false, Ordering::Relaxed);
                }
            }
        }
        // A file with holes (a disk image, a preallocated database) keeps
        // them: only its data is copied.
        let sparse = job.meta.blocks() * 512 < job.meta.len();
        if !cloned && sparse {
            holes_kept =
                copy_data(&from, &to, job.meta.len()).map_err(|e| copy_error(&job.src, e))?;
        }
        if !cloned && !holes_kept {
            // std's copy between two files uses copy_file_range.
            io::copy(&mut from, &mut to).map_err(|e| copy_error(&job.src, e))?;
        }
    }
    to.set_permissions(fs::Permissions::from_mode(job.meta.mode() & 0o7777))
        .map_err(|e| copy_error(&job.dst, e))?;
    let times = fs::FileTimes::new()
        .set_accessed(job.meta.accessed().map_err(|e| copy_error(&job.src, e))?)
        .set_modified(job.meta.modified().map_err(|e| copy_error(&job.src, e))?);
    to.set_times(times).map_err(|e| copy_error(&job.dst, e))?;
    Ok(cloned)
}

/// Copies only the data of `from` (`len` bytes long) into the empty `to`,
/// found with `SEEK_DATA`/`SEEK_HOLE`, leaving its holes as holes. False,
/// having written nothing, when the file system cannot tell where the
/// holes are.
fn copy_data(from: &File, to: &File, len: u64) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let fd = from.as_raw_fd();
    let seek = |at: u64, whence: libc::c_int| -> io::Result<Option<u64>> {
        // SAFETY: lseek on an open fd; only the offset changes, and the
        // copy below reads at explicit offsets.
        let r = unsafe { libc::lseek(fd, at as libc::off_t, whence) };
        if r >= 0 {
            return Ok(Some(r as u64));
        }
        let err = io::Error::last_os_error();
        // No data at or after `at`.
        if err.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        Err(err)
    };
    let mut at = 0;
    let mut buf = vec![0u8; 1 << 20];
    while at < len {
        let data = match seek(at, libc::SEEK_DATA) {
            Ok(Some(data)) => data,
            Ok(None) => break,
            Err(e) if at == 0 && e.raw_os_error() == Some(libc::EINVAL) => return Ok(false),
            Err(e) => return Err(e),
        };
        let end = seek(data, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        let mut pos = data;
        while pos < end {
            let want = buf.len().min((end - pos) as usize);
            let n = from.read_at(&mut buf[..want], pos)?;
            if n == 0 {
                break;
            }
            to.write_all_at(&buf[..n], pos)?;
            pos += n as u64;
        }
        at = end;
    }
    to.set_len(len)?;
    Ok(true)
}

/// Sets `path`'s access and modification times to those of `meta`; on the
/// link itself when `link`.
pub(super) fn set_times(path: &Path, meta: &Metadata, link: bool) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let times = [
        libc::timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        libc::timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    ];
    let flags = if link { libc::AT_SYMLINK_NOFOLLOW } else { 0 };
    // SAFETY: a valid C string and a pointer to two timespecs.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_replaced_by_a_named_pipe_while_copying_fails_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let (pipe, dst) = (tmp.path().join("f"), tmp.path().join("g"));
        // Listed as a regular file, then replaced by a pipe.
        fs::write(&pipe, "x").unwrap();
        let meta = fs::metadata(&pipe).unwrap();
        fs::remove_file(&pipe).unwrap();
        let c = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let job = Job {
            src: pipe,
            dst,
            meta,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = copy_one(&job, &AtomicBool::new(true));
            tx.send(r.map_err(|e| e.to_string())).unwrap();
        });
        let r = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("blocked on the pipe");
        assert!(r.unwrap_err().contains("no longer a regular file"));
    }
}
