//! The ledger's VFS: SQLite's own unix VFS with two changes: the `-shm`
//! file's blocks are allocated before SQLite touches its mapping, and the
//! `-wal` file grows a mebibyte of zeros at a time.
//!
//! In WAL mode SQLite maps the `-shm` file (the WAL index) into memory and
//! writes it through that mapping. To grow the file it writes one byte at
//! the end of each 4 KiB page, which on a file system of 1 KiB blocks
//! allocates one block in four; the others stay holes, and the first store
//! into one (the hash table's `memset` of the first frame committed) makes
//! the kernel allocate it. On a nearly full disk that allocation fails and
//! the kernel answers the store with SIGBUS: the process dies mid-commit
//! (exit 135), with no error and no JSON. Here every region SQLite maps is
//! first faulted in for writing (`MADV_POPULATE_WRITE`, Linux 5.14), which
//! allocates its blocks and changes no byte; when the disk has no room the
//! kernel says so (EFAULT) instead of a signal, and the region is refused
//! with `SQLITE_FULL`, which the ledger reports as a ledger that cannot be
//! written (exit 3). An older kernel, or a region mapped read-only, is left
//! as SQLite maps it.
//!
//! The file is never opened a second time: closing any descriptor of it
//! would drop every POSIX lock this process holds on it, SQLite's included.
//!
//! The WAL is kept between runs and synced once when a writing connection
//! drops (`Ledger::sync_wal`). A commit that appended its frames makes that
//! `fdatasync` commit the file system's journal (the file's size changed),
//! and on ext4 that journal commit carries whatever else the command
//! changed meanwhile, such as the whole checkout `git worktree add` just
//! made: several milliseconds. A commit that overwrote blocks already
//! written is synced without a journal commit. So when a write would
//! extend the WAL, the file is first extended with zeros (written, not
//! `fallocate`d: an unwritten extent would need the journal too) to the
//! next mebibyte, and the commits of the next few dozen creates overwrite
//! them. SQLite writes the WAL only under its write lock, so nothing else
//! writes there meanwhile; zeros after the last frame are what SQLite
//! already copes with (a frame that fails its checksum ends the log, as
//! the frames left behind by a restarted WAL do); once SQLite checkpoints
//! and starts the WAL again from its head, it overwrites the file as it
//! is. When the zeros do not fit on the disk, the file is cut back to its
//! old size and the write goes ahead as SQLite asked.
//!
//! Adapter detail of `ledger`: SQLite's C interface and the file system.

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name the ledger opens its database with.
pub const VFS: &CStr = c"shards-unix";

/// The VFS SQLite's own unix one is wrapped in, and the file methods it
/// gives the files it wraps.
struct Shim {
    real: *mut ffi::sqlite3_vfs,
    /// The real methods the wrapped files had, and the copy with `xShmMap`
    /// wrapped, set by the first main database file opened.
    methods: OnceLock<(usize, usize)>,
    /// The same for WAL files, with `xWrite` wrapped.
    wal_methods: OnceLock<(usize, usize)>,
}

/// How far ahead of SQLite's writes the WAL file is extended with zeros.
const WAL_CHUNK: i64 = 1 << 20;

// SAFETY: the pointers name SQLite's static VFS and leaked, never-freed
// structures that are only read after they are set.
unsafe impl Send for Shim {}
unsafe impl Sync for Shim {}

static SHIM: OnceLock<Option<Shim>> = OnceLock::new();

/// Registers the VFS (once); false when SQLite has no default VFS to wrap,
/// and the ledger should open with SQLite's default instead.
pub fn register() -> bool {
    SHIM.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find and sqlite3_vfs_register are
        // thread-safe; the VFS registered is leaked and lives for ever.
        unsafe {
            let real = ffi::sqlite3_vfs_find(std::ptr::null());
            if real.is_null() {
                return None;
            }
            let mut vfs = *real;
            vfs.zName = VFS.as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            let shim = Shim {
                real,
                methods: OnceLock::new(),
                wal_methods: OnceLock::new(),
            };
            let vfs = Box::into_raw(Box::new(vfs));
            (ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK).then_some(shim)
        }
    })
    .is_some()
}

/// `xOpen`: the real one, then main database files get `xShmMap` wrapped
/// and WAL files `xWrite`.
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(Some(shim)) = SHIM.get() else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: the real xOpen fills the file object (of its own size); only
    // its methods pointer is changed, to a copy of the same methods.
    unsafe {
        let Some(real_open) = (*shim.real).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        let rc = real_open(shim.real, name, file, flags, out_flags);
        let methods = (*file).pMethods;
        if rc != ffi::SQLITE_OK || methods.is_null() {
            return rc;
        }
        let (real, wrapped) = if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
            *shim.methods.get_or_init(|| {
                let mut copy = *methods;
                copy.xShmMap = Some(shm_map);
                (methods as usize, Box::into_raw(Box::new(copy)) as usize)
            })
        } else if flags & ffi::SQLITE_OPEN_WAL != 0 {
            *shim.wal_methods.get_or_init(|| {
                let mut copy = *methods;
                copy.xWrite = Some(wal_write);
                (methods as usize, Box::into_raw(Box::new(copy)) as usize)
            })
        } else {
            return rc;
        };
        // A file the real VFS gave other methods (another locking style)
        // stays as it is.
        if real == methods as usize {
            (*file).pMethods = wrapped as *const ffi::sqlite3_io_methods;
        }
        rc
    }
}

/// `xShmMap`: the real one, then the region is faulted in for writing;
/// without room on the disk it is refused.
unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let Some(Some(shim)) = SHIM.get() else {
        return ffi::SQLITE_ERROR;
    };
    let Some(&(real, _)) = shim.methods.get() else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: only files `open` wrapped have this method, and their real
    // methods are `real`; `out` is SQLite's.
    unsafe {
        let real = &*(real as *const ffi::sqlite3_io_methods);
        let Some(real_map) = real.xShmMap else {
            return ffi::SQLITE_ERROR;
        };
        let rc = real_map(file, region, size, extend, out);
        if rc != ffi::SQLITE_OK || (*out).is_null() {
            return rc;
        }
        if !populate(*out, size) {
            // SQLite keeps what `out` points at as the mapped region: it
            // must not, or it would store into it anyway.
            *out = std::ptr::null_mut();
            return ffi::SQLITE_FULL;
        }
        rc
    }
}

/// `xWrite` of a WAL file: a write that would extend the file first
/// extends it with zeros to the next [`WAL_CHUNK`] boundary past its end, so
/// that it and the next commits overwrite written blocks (see the module
/// doc). The write itself is the real one's, unchanged.
unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    let Some(Some(shim)) = SHIM.get() else {
        return ffi::SQLITE_ERROR;
    };
    let Some(&(real, _)) = shim.wal_methods.get() else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: only files `open` wrapped have this method, and their real
    // methods are `real`; `buf` holds `amount` bytes (SQLite's).
    unsafe {
        let real = &*(real as *const ffi::sqlite3_io_methods);
        let Some(real_write) = real.xWrite else {
            return ffi::SQLITE_ERROR;
        };
        let end = offset.saturating_add(i64::from(amount.max(0)));
        if let (Some(size_of), Some(truncate)) = (real.xFileSize, real.xTruncate) {
            let mut size: ffi::sqlite3_int64 = 0;
            if size_of(file, &mut size) == ffi::SQLITE_OK && end > size {
                let target = (end / WAL_CHUNK + 1) * WAL_CHUNK;
                if !zero_fill(real_write, file, size, target) {
                    // No room for the zeros: as SQLite asked, no more.
                    let _ = truncate(file, size);
                }
            }
        }
        real_write(file, buf, amount, offset)
    }
}

type WriteFn =
    unsafe extern "C" fn(*mut ffi::sqlite3_file, *const c_void, c_int, ffi::sqlite3_int64) -> c_int;

/// Writes zeros from `from` to `to` through the real `xWrite`; false when
/// one of the writes failed.
///
/// # Safety
/// `file` is an open file of the VFS whose `xWrite` `write` is.
unsafe fn zero_fill(write: WriteFn, file: *mut ffi::sqlite3_file, from: i64, to: i64) -> bool {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZEROS.len() as i64);
        // SAFETY: ZEROS holds at least `n` bytes; `file` is as the caller says.
        let rc = unsafe { write(file, ZEROS.as_ptr().cast(), n as c_int, at) };
        if rc != ffi::SQLITE_OK {
            return false;
        }
        at += n;
    }
    true
}

/// Faults in the `len` bytes mapped at `at` for writing, as a store would,
/// and returns false only when the kernel says a store would get SIGBUS.
fn populate(at: *mut c_void, len: c_int) -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let start = at as usize & !(page - 1);
    let end = at as usize + usize::try_from(len).unwrap_or(0);
    // SAFETY: the range lies in the mapping SQLite just made (widened to
    // its page), and MADV_POPULATE_WRITE changes no byte of it.
    let r = unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_POPULATE_WRITE) };
    // EINVAL: a kernel without it, or a mapping SQLite made read-only.
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EFAULT)
}
