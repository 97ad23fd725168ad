//! Finding shards: by name or by the working directory, following a
//! worktree that git says was moved, and telling a shard whose creator or
//! destroyer still runs from debris.
//!
//! Lifecycle layer: reads the ledger, git's worktree records and the
//! process table; writes only a moved worktree's new path.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::host;
use crate::ledger::{Ledger, ShardRow};
use crate::model::{PortBlock, ShardState};
use crate::worktree::{self, Repo};

/// Returns the shard `name` of `repo`.
pub fn require(ledger: &Ledger, repo: &Repo, name: &str) -> Result<ShardRow> {
    // A spare is shards' own until a create claims it (`shards spares`).
    ledger
        .find(&repo.git_dir, name)?
        .filter(|r| r.spare.is_none())
        .ok_or_else(|| Error::ShardNotFound {
            name: name.to_string(),
            repo: repo.root.clone(),
        })
}

/// Returns the shard named `name`, or without a name the shard whose
/// worktree is the one shards runs in (`cwd` is only for the message).
pub fn resolve(ledger: &Ledger, repo: &Repo, cwd: &Path, name: Option<&str>) -> Result<ShardRow> {
    if let Some(name) = name {
        return require(ledger, repo, name);
    }
    let not_in_shard = || Error::NotInShard {
        path: cwd.to_path_buf(),
    };
    let here = repo.workdir.clone().ok_or_else(not_in_shard)?;
    ledger
        .list(Some(&repo.git_dir))?
        .into_iter()
        .filter(|r| r.spare.is_none())
        .find(|r| std::fs::canonicalize(&r.path).is_ok_and(|p| p == here))
        .ok_or_else(not_in_shard)
}

/// Returns where git says the shard's worktree lives now, when its recorded
/// folder is gone and git's record points at a folder that points back
/// (`git worktree move`, or a move by hand then `git worktree repair`).
pub fn moved(row: &ShardRow) -> Option<PathBuf> {
    if row.path.exists() || !row.repo.git_dir.exists() {
        return None;
    }
    worktree::moved_to(&row.repo.git_dir, &row.wt_name, &row.path)
}

/// Follows a moved worktree: records its new folder in the ledger and
/// returns the row with it; any other row comes back as it was.
pub fn follow_move(ledger: &mut Ledger, mut row: ShardRow) -> Result<ShardRow> {
    if let Some(new) = moved(&row) {
        ledger.set_path(row.id, &new)?;
        row.path = new;
    }
    Ok(row)
}

/// Returns true when the process recorded on a row is still running.
pub fn owner_alive(row: &ShardRow) -> bool {
    row.pid
        .is_some_and(|(pid, start)| host::process_alive(pid, start))
}

/// The error for a shard whose row went while this process worked on it
/// (another process destroyed it): as if it had never been there.
pub fn gone(row: &ShardRow) -> Error {
    Error::ShardNotFound {
        name: row.name.clone(),
        repo: row.repo.root.clone(),
    }
}

/// The error for a shard another live process is creating or destroying.
pub fn busy(row: &ShardRow) -> Error {
    Error::Busy {
        name: row.name.clone(),
        action: if row.state == ShardState::Creating {
            "created"
        } else {
            "destroyed"
        }
        .into(),
        pid: row.pid.map(|p| p.0).unwrap_or(0),
    }
}

/// Returns the host's "is any port of this block in use" test: a TCP
/// socket listening or a UDP socket bound, from the kernel's tables read
/// once, or a TCP socket only bound, which a bind test of the block's
/// ports finds; where the tables cannot be read, a bind test of every
/// port of the block.
pub fn host_busy() -> impl FnMut(PortBlock) -> bool {
    let listening = host::listening_ports();
    move |b: PortBlock| match &listening {
        Some(ports) => {
            ports.range(b.start()..=b.end()).next().is_some()
                || host::tcp_bound_in(b.start()..=b.end())
        }
        None => (b.start()..=b.end()).any(host::port_busy_by_bind),
    }
}
