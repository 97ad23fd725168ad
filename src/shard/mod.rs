//! The shard lifecycle: the one place where a shard is "block + worktree +
//! env file". Commands call it; it calls the adapters (ledger, worktree,
//! host, fsutil), which each know only their own part.
//!
//! - [`build`]: reserve → build → activate, with one undo path, for
//!   every way of making a shard: [`create`] (a checkout) and [`adopt`] (a
//!   worktree made by hand).
//! - [`check`]: whether a shard may be reclaimed: a lock, work in its
//!   worktree, a live owner ([`check::WorkCheck`], [`check::Force`]).
//! - [`debris`]: what `prune` finds: debris to reclaim, a moved worktree,
//!   a healthy shard.
//! - [`merged`]: `prune --merged`'s decision (merged, clean, old enough).
//! - [`reclaim`]: claim → teardown hook → remove → release, the one act
//!   behind `destroy` and `prune`; what became of the branch.
//! - [`copy`]: gitignored files `.worktreeinclude` names, brought from
//!   the main worktree into a new one.
//! - [`env`]: the env file in step with the ledger: prepare, lock, commit.
//! - [`hooks`]: which hooks may run (trust), and running setup, start
//!   and teardown with the shard's variables.
//! - [`ports`]: named service ports changed in the ledger and the env file
//!   together.
//! - [`holds`]: the blocks other ledgers on this host hold, from the
//!   host's register, and this ledger's own entries there.
//! - [`lookup`]: find a shard by name or working directory, follow a moved
//!   worktree, tell a live owner from a dead one.
//! - [`reap`]: the processes running from a shard's worktree, found and
//!   stopped (SIGTERM, grace, SIGKILL) before a destroy (the command layer
//!   words them, `cmd::wording`).
//! - [`survey`]: what each shard is doing (`list --full`): dirty files,
//!   ahead/behind the default branch, last commit, named ports listening.
//! - [`relocate`]: follow a moved repository, tell a replaced folder, and
//!   never take a path that cannot be checked for gone.
//!
//! Lifecycle layer: may use the core and the adapters; knows nothing of
//! clap, of output formats, or of the command modules.

pub mod adopt;
pub mod build;
pub mod check;
pub mod copy;
pub mod create;
pub mod daemon;
pub mod debris;
pub mod env;
pub mod filler;
pub mod holds;
pub mod hooks;
pub mod lookup;
pub mod merged;
pub mod ports;
pub mod reap;
pub mod reclaim;
pub mod relocate;
pub mod routes;
pub mod spare;
pub mod survey;

use std::path::Path;
use std::time::Duration;

use crate::ledger::Ledger;
use crate::register::Register;

/// The outside world one lifecycle operation works on.
pub struct Site<'a> {
    /// The ledger, borrowed for the whole operation.
    pub ledger: &'a mut Ledger,
    /// The shards home: per-shard lock files live in `locks/` there.
    pub home: &'a Path,
    /// Test-only: the step at which to die (`SHARDS_TEST_CRASH_AT`).
    pub crash_at: Option<&'a str>,
    /// The repository lock a parent shards holds (`SHARDS_HELD_REPO_LOCK`).
    pub held_lock: Option<&'a Path>,
    /// The host's block register, which every ledger on the host checks
    /// before it hands out a block.
    pub register: &'a Register,
    /// How long to wait for another process's lock (the ledger's busy
    /// timeout).
    pub timeout: Duration,
}

impl Site<'_> {
    /// Test-only crash point: when `SHARDS_TEST_CRASH_AT` names `step`, the
    /// process kills itself with SIGKILL right here, as a power cut or
    /// `kill -9` would, so tests can prove that `list` and `prune` recover
    /// from every step. Steps, in order: `create:reserved` (row written),
    /// `create:branch` (path found free, git about to make the branch and
    /// worktree), `create:checkout` (git killed at its first progress line:
    /// branch made, worktree recorded, checkout under way), `create:copied`
    /// (`.worktreeinclude`'s files copied), `create:worktree` (checked out), `create:env`
    /// (env file written); `destroy:marked` (row claimed),
    /// `destroy:removed` (worktree and branch gone, row still there).
    /// `adopt` and `prune` have the same steps under their own names
    /// (`adopt:reserved`, `prune:marked`, …).
    pub fn crash_point(&self, step: &str) {
        if self.crash_at == Some(step) {
            // SAFETY: raising SIGKILL on ourselves has no memory effects.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}

/// Takes the repository's worktree lock (`shards.worktree-lock` in its
/// common git dir, so every shards home and user shares it; not named
/// `*.lock`, which people delete when git complains of one), which every
/// `git worktree add` or removal by shards holds: git dies reading a
/// worktree record another git is writing or removing. Returns
/// `None` when this process runs under a shards that holds it already (a
/// hook of its git): that git has written its record, and waiting for it
/// would never end. While it waits, `keep_waiting` is asked every 10 ms and
/// its error ends the wait (a SIGINT must not wait for another create).
pub(crate) fn worktree_lock(
    held: Option<&Path>,
    git_dir: &Path,
    keep_waiting: &dyn Fn() -> crate::error::Result<()>,
) -> crate::error::Result<Option<(std::fs::File, std::path::PathBuf)>> {
    let path = git_dir.join("shards.worktree-lock");
    if held == Some(path.as_path()) {
        return Ok(None);
    }
    // The repository's own folder decides who may share it: the file is
    // made with the user's umask, and anyone who may read it may lock it.
    let lock = crate::fsutil::open_lock(&path, crate::fsutil::Sharing::of(git_dir))?;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(Some((lock, path))),
            Err(std::fs::TryLockError::WouldBlock) => {
                keep_waiting()?;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(crate::error::Error::io(&path, e));
            }
        }
    }
}

/// Returns the seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
