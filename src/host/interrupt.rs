//! SIGINT and SIGTERM, caught only while an operation that must undo itself
//! runs (a create), so it can stop between steps and undo what it made.
//!
//! [`catch`] installs the handlers (signal-hook's `flag` module: the handler
//! only sets atomics), [`caught`] tells the operation a signal came, and
//! dropping the returned [`Catching`] puts the default action back, so
//! whatever runs afterwards (`create -- CMD`'s exec, the report) behaves as
//! if shards had never caught anything. A second signal while the first is
//! being handled ends the process with the default action at once: the
//! user's way out of a slow undo (a `creating` row stays, for `prune`).
//!
//! Part of the `host` adapter; knows nothing of shards, git or SQLite.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::SigId;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Set by the handler when a signal came.
static CAUGHT: AtomicBool = AtomicBool::new(false);
/// Which signal came (the last one).
static SIGNAL: AtomicUsize = AtomicUsize::new(0);
/// Set once [`caught`] told the operation, which then answers for it.
static TOLD: AtomicBool = AtomicBool::new(false);
/// Set by the first [`catch`]: signal-hook cannot put its handler back in
/// place once it is removed, so later calls catch nothing.
static USED: AtomicBool = AtomicBool::new(false);

/// SIGINT and SIGTERM being caught; dropping it stops that.
pub struct Catching {
    /// The signals caught and their registrations.
    ids: Vec<(i32, Vec<SigId>)>,
}

/// Starts catching SIGINT and SIGTERM, except one the process was started
/// with ignored (a background job's SIGINT). Catches nothing when called a
/// second time in one process, or when the handler cannot be installed:
/// the signal then ends the process as it always did.
pub fn catch() -> Catching {
    let mut ids = Vec::new();
    if USED.swap(true, Ordering::SeqCst) {
        return Catching { ids };
    }
    for sig in [SIGINT, SIGTERM] {
        if ignored(sig) {
            continue;
        }
        // In order: the default action when a signal already came, then
        // the flags. `register_conditional_default` sees CAUGHT still
        // false on the first signal.
        let registered = [
            flag::register_conditional_default(sig, &CAUGHT),
            flag::register_usize(sig, &SIGNAL, sig as usize),
            flag::register(sig, &CAUGHT),
        ];
        let mut got = Vec::new();
        let mut failed = false;
        for r in registered {
            match r {
                Ok(id) => got.push(id),
                Err(_) => failed = true,
            }
        }
        if failed {
            for id in got {
                signal_hook::low_level::unregister(id);
            }
            restore_default(sig);
            continue;
        }
        ids.push((sig, got));
    }
    Catching { ids }
}

/// Returns the signal (SIGINT 2 or SIGTERM 15) that came since [`catch`],
/// if any. The caller now answers for it: it stops and reports it, so the
/// signal is not raised again when the [`Catching`] is dropped.
pub fn caught() -> Option<i32> {
    if !CAUGHT.load(Ordering::SeqCst) {
        return None;
    }
    TOLD.store(true, Ordering::SeqCst);
    Some(SIGNAL.load(Ordering::SeqCst) as i32)
}

impl Drop for Catching {
    /// Puts the default action back. A signal that came but that no
    /// operation answered for (it came after the work was done) is raised
    /// again, so the process ends as it would have without shards catching
    /// it.
    fn drop(&mut self) {
        for (sig, ids) in self.ids.drain(..) {
            // First, so no signal meets signal-hook's handler with no
            // action left (which would ignore it): signal-hook does not
            // put the default back itself.
            restore_default(sig);
            for id in ids {
                signal_hook::low_level::unregister(id);
            }
        }
        if CAUGHT.load(Ordering::SeqCst) && !TOLD.load(Ordering::SeqCst) {
            let _ = signal_hook::low_level::raise(SIGNAL.load(Ordering::SeqCst) as i32);
        }
    }
}

/// Returns true when `sig` is ignored in this process.
fn ignored(sig: i32) -> bool {
    // SAFETY: a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sets `sig` back to its default action.
fn restore_default(sig: i32) {
    // SAFETY: SIG_DFL is a valid disposition for SIGINT and SIGTERM.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}
