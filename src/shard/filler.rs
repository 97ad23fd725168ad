//! The background spare filler: after a create with spares on, a detached
//! `shards spares filler` at idle CPU and I/O priority makes spares up to
//! `[spares] count` again, logging to `<home>/logs/spares-<repo>-<key>.log`;
//! the create that started it does not wait.
//!
//! One filler works per repository and home, under two lock files in
//! `<home>/spares/.fill/`: `<key>.run`, held by the filler at work, and
//! `<key>.wait`, held by the one filler waiting for its turn. A filler
//! started while another waits leaves at once, since the waiting one counts
//! the spares only once it has its turn, after every claim made before it
//! got there: no claim goes without its refill, and no more than two fillers
//! of a repository exist at any time (one at work, one waiting).
//!
//! Lifecycle layer: uses the host adapter to start the process.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsutil::{self, Sharing};
use crate::host::hook::{Priority, spawn_detached};
use crate::paths;
use crate::worktree::Repo;

/// A log past this size is moved to `.old` when the next filler starts.
const LOG_LIMIT: u64 = 1 << 20;

/// The lock files and the log of a repository's filler in one home.
pub struct Lanes {
    run: PathBuf,
    wait: PathBuf,
    sharing: Sharing,
    /// Where a background filler's output goes.
    pub log: PathBuf,
}

/// Returns the filler's lanes for `repo` in `home`, making their folders.
pub fn lanes(home: &Path, repo: &Repo) -> Result<Lanes> {
    let sharing = Sharing::of(home);
    let locks = home.join("spares").join(".fill");
    fsutil::create_home_dir(&home.join("spares"), sharing)?;
    fsutil::create_home_dir(&locks, sharing)?;
    let logs = home.join("logs");
    fsutil::create_home_dir(&logs, sharing)?;
    let key: String = Sha256::digest(repo.git_dir.as_os_str().as_encoded_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Lanes {
        run: locks.join(format!("{key}.run")),
        wait: locks.join(format!("{key}.wait")),
        sharing,
        log: logs.join(format!("spares-{}-{}.log", repo.name, &key[..8])),
    })
}

/// A turn to fill: held until dropped.
pub struct Turn {
    _lock: File,
}

impl Lanes {
    /// Waits for the turn to fill, as a background filler does; `None`
    /// when another filler already waits for it (and will make what this
    /// one would have). `keep_waiting` is asked while another works.
    pub fn queue(&self, keep_waiting: &dyn Fn() -> Result<()>) -> Result<Option<Turn>> {
        let wait = fsutil::open_lock(&self.wait, self.sharing)?;
        match wait.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(Error::io(&self.wait, e)),
        }
        let turn = self.wait_turn(keep_waiting)?;
        // Unlocked only now that this filler works: one started from here
        // on waits, and counts after this one.
        drop(wait);
        Ok(Some(turn))
    }

    /// Takes the turn at once, or says (`None`) that a filler works.
    pub fn try_turn(&self) -> Result<Option<Turn>> {
        let run = fsutil::open_lock(&self.run, self.sharing)?;
        match run.try_lock() {
            Ok(()) => Ok(Some(Turn { _lock: run })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io(&self.run, e)),
        }
    }

    /// Waits until no filler works, then takes the turn.
    pub fn wait_turn(&self, keep_waiting: &dyn Fn() -> Result<()>) -> Result<Turn> {
        let run = fsutil::open_lock(&self.run, self.sharing)?;
        loop {
            match run.try_lock() {
                Ok(()) => return Ok(Turn { _lock: run }),
                Err(TryLockError::WouldBlock) => {
                    keep_waiting()?;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&self.run, e)),
            }
        }
    }
}

/// Starts a background filler for the repository that `cwd` is in: this
/// program (`exe`) as `shards spares filler`, with `home` as its home, at
/// idle priority, its output appended to the lanes' log. Returns its pid.
pub fn start(exe: &Path, cwd: &Path, home: &Path, lanes: &Lanes) -> Result<i64> {
    if std::fs::metadata(&lanes.log).is_ok_and(|m| m.len() > LOG_LIMIT) {
        let _ = std::fs::rename(&lanes.log, lanes.log.with_extension("log.old"));
    }
    let mut cmd = Command::new(exe);
    cmd.args(["spares", "filler"])
        .current_dir(cwd)
        .env(paths::SHARDS_HOME, home)
        // What this process was told for its own run, not the filler's.
        .env_remove(paths::SHARDS_HELD_REPO_LOCK)
        .env_remove(paths::SHARDS_SHELL_FUNCTION)
        .env_remove(paths::SHARDS_TEST_CRASH_AT);
    let (pid, _) = spawn_detached(cmd, &lanes.log, Priority::Idle)?;
    Ok(pid)
}
