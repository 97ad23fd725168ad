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
//! (exit 135), with no error and no JSON. Here every mapping SQLite asks
//! for is first backed by `fallocate` of the file's blocks up to its end;
//! when the disk has no room, the mapping is refused with `SQLITE_FULL`,
//! which the ledger reports as a ledger that cannot be written (exit 3).
//!
//! Adapter detail of `ledger`: SQLite's C interface and the file system.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name the ledger opens its database with.
pub const VFS: &CStr = c"shards-unix";

/// The VFS SQLite's own unix one is wrapped in, and the file methods it
/// gives the files it wraps.
struct Shim {
    real: *mut ffi::sqlite3_vfs,
    /// Where, in a file object, the file's name is kept (past the real one).
    name_at: usize,
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
            let align = std::mem::align_of::<*const c_char>();
            let name_at = (usize::try_from((*real).szOsFile).ok()?).div_ceil(align) * align;
            let mut vfs = *real;
            vfs.szOsFile = c_int::try_from(name_at + std::mem::size_of::<*const c_char>()).ok()?;
            vfs.zName = VFS.as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            let shim = Shim {
                real,
                name_at,
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
    // SAFETY: SQLite gives a file object of the VFS's szOsFile bytes; the
    // real xOpen fills its first real szOsFile bytes, the name goes past
    // them, and SQLite keeps `name` valid until xClose.
    unsafe {
        let Some(real_open) = (*shim.real).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        let rc = real_open(shim.real, name, file, flags, out_flags);
        let methods = (*file).pMethods;
        if rc != ffi::SQLITE_OK
            || methods.is_null()
            || name.is_null()
            || flags & ffi::SQLITE_OPEN_MAIN_DB == 0
        {
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
            file.cast::<u8>()
                .add(shim.name_at)
                .cast::<*const c_char>()
                .write(name);
            (*file).pMethods = wrapped as *const ffi::sqlite3_io_methods;
        }
        rc
    }
}

/// `xShmMap`: the real one, then the file's blocks up to the end of the
/// region are allocated; without room the region is refused.
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
    // SAFETY: only files `open` wrapped have this method: their real
    // methods are `real` and their name is stored at `name_at`.
    unsafe {
        let real = &*(real as *const ffi::sqlite3_io_methods);
        let Some(real_map) = real.xShmMap else {
            return ffi::SQLITE_ERROR;
        };
        let rc = real_map(file, region, size, extend, out);
        if rc != ffi::SQLITE_OK || (*out).is_null() {
            return rc;
        }
        let name = file
            .cast::<u8>()
            .add(shim.name_at)
            .cast::<*const c_char>()
            .read();
        let end = (i64::from(region) + 1) * i64::from(size);
        if reserve(CStr::from_ptr(name), end).is_err() {
            // SQLite keeps what `out` points at as the mapped region: it
            // must not, or it would store into it anyway.
            *out = std::ptr::null_mut();
            return ffi::SQLITE_FULL;
        }
        rc
    }
}

/// Allocates the blocks of `<db>-shm` up to `end` (never past its size):
/// `Err` only when the disk has no room; any other failure (a read-only
/// file, a file system without fallocate) leaves the file to SQLite.
fn reserve(db: &CStr, end: i64) -> Result<(), ()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    let mut path = std::ffi::OsStr::from_bytes(db.to_bytes()).to_owned();
    path.push("-shm");
    let Ok(shm) = std::fs::OpenOptions::new().write(true).open(&path) else {
        return Ok(());
    };
    // SAFETY: fallocate on an open descriptor; KEEP_SIZE never changes the
    // file's size, and allocating a hole leaves its bytes zero, as read.
    let r = unsafe { libc::fallocate(shm.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, end) };
    if r == 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => Err(()),
        _ => Ok(()),
    }
}
