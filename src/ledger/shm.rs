//! The ledger's VFS: SQLite's own unix VFS with one change, the `-shm`
//! file's blocks are allocated before SQLite touches its mapping.
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
}

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
            };
            let vfs = Box::into_raw(Box::new(vfs));
            (ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK).then_some(shim)
        }
    })
    .is_some()
}

/// `xOpen`: the real one, then main database files get `xShmMap` wrapped.
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
        if rc != ffi::SQLITE_OK || methods.is_null() || flags & ffi::SQLITE_OPEN_MAIN_DB == 0 {
            return rc;
        }
        let (real, wrapped) = *shim.methods.get_or_init(|| {
            let mut copy = *methods;
            copy.xShmMap = Some(shm_map);
            (methods as usize, Box::into_raw(Box::new(copy)) as usize)
        });
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
