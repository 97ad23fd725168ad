//! Hooks in the ledger: a user's approvals of a repository's project hooks
//! (keyed on the git dir, the user and the hash of the commands), and the
//! process each shard's `start` hook runs as.
//!
//! Part of the `ledger` adapter: knows SQLite, nothing of git, config
//! files or processes; every write is one [`Ledger::write`] transaction.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::Ledger;
use super::rows::{classify, path_str};
use crate::error::Result;

/// A shard's `start` hook process as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRecord {
    /// Its pid and start time (clock ticks since boot).
    pub pid: (i64, i64),
    /// The file its output goes to.
    pub log: PathBuf,
    /// Unix seconds when it was started.
    pub started_at: i64,
}

impl Ledger {
    /// Records that user `uid` approved the hooks hashing to `hash` for the
    /// repository at `git_dir`; returns false when it had already.
    pub fn approve_hooks(
        &mut self,
        git_dir: &Path,
        uid: u32,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        let git_dir = path_str(git_dir)?.to_string();
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO hook_approvals (git_dir, owner_uid, hash, approved_at) VALUES (?1, ?2, ?3, ?4)",
                params![git_dir, uid, hash, now],
            )?;
            Ok(n == 1)
        })
    }

    /// Returns true when user `uid` approved the hooks hashing to `hash`
    /// for the repository at `git_dir`.
    pub fn hooks_approved(&self, git_dir: &Path, uid: u32, hash: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM hook_approvals WHERE git_dir = ?1 AND owner_uid = ?2 AND hash = ?3",
                params![path_str(git_dir)?, uid, hash],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| classify(&self.path, e))
    }

    /// Returns true when user `uid` approved any hooks of the repository
    /// at `git_dir` (so hooks refused now have changed since).
    pub fn has_approvals(&self, git_dir: &Path, uid: u32) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM hook_approvals WHERE git_dir = ?1 AND owner_uid = ?2 LIMIT 1",
                params![path_str(git_dir)?, uid],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| classify(&self.path, e))
    }

    /// Records shard `shard_id`'s `start` hook process (replacing an older one).
    pub fn set_start(&mut self, shard_id: i64, start: &StartRecord) -> Result<()> {
        let log = path_str(&start.log)?.to_string();
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO hook_starts (shard_id, pid, pid_start, log, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![shard_id, start.pid.0, start.pid.1, log, start.started_at],
            )?;
            Ok(())
        })
    }

    /// Returns shard `shard_id`'s `start` hook process, if one was started.
    pub fn start_of(&self, shard_id: i64) -> Result<Option<StartRecord>> {
        self.conn
            .query_row(
                "SELECT pid, pid_start, log, started_at FROM hook_starts WHERE shard_id = ?1",
                [shard_id],
                |r| {
                    Ok(StartRecord {
                        pid: (r.get(0)?, r.get(1)?),
                        log: PathBuf::from(r.get::<_, String>(2)?),
                        started_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| classify(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_is_per_repository_user_and_hash() {
        let mut l = Ledger::open_in_memory().unwrap();
        let repo = Path::new("/r/.git");
        assert!(!l.hooks_approved(repo, 1000, "aa").unwrap());
        assert!(l.approve_hooks(repo, 1000, "aa", 1).unwrap());
        assert!(!l.approve_hooks(repo, 1000, "aa", 2).unwrap());
        assert!(l.hooks_approved(repo, 1000, "aa").unwrap());
        assert!(!l.hooks_approved(repo, 1000, "bb").unwrap());
        assert!(!l.hooks_approved(repo, 1001, "aa").unwrap());
        assert!(!l.hooks_approved(Path::new("/s/.git"), 1000, "aa").unwrap());
    }
}
