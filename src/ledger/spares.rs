//! Spares in the ledger: a spare turned into a shard in one transaction
//! ([`Ledger::take_spare`]), and handed back when its claim is undone.
//!
//! Adapter: SQLite only.

use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{SHARD_COLUMNS, shard_from_row};
use super::shards::{NewShard, check_new, ensure_repo, planned_repo};
use super::{Ledger, ShardRow};
use crate::error::Result;

impl Ledger {
    /// Turns the oldest ready spare of `new`'s repository made to fit `fit`
    /// into the shard `new` (`creating`, by `new.pid`, made `new.now`, on its
    /// branch, which it makes), in one transaction, so two creates never take one spare;
    /// its block stays. Checks `new` as a reservation does. `None` when no
    /// spare fits. Returns the spare as it was, and the shard, whose `path`
    /// is `new`'s folder; the ledger keeps the spare's folder until git has
    /// moved the worktree there ([`Ledger::set_path`]), so a create killed
    /// before leaves a row `prune` finds the worktree by.
    pub fn take_spare(
        &mut self,
        new: &NewShard<'_>,
        fit: &str,
    ) -> Result<Option<(ShardRow, ShardRow)>> {
        self.write(|tx| {
            let repo = ensure_repo(tx, new.git_dir, new.root, new.dir_name)?;
            let path = check_new(tx, &repo, new)?;
            let Some(spare) = oldest_spare(tx, repo.id, fit)? else {
                return Ok(None);
            };
            // Claimed, it becomes routable now: after every shard made
            // before this write, whatever its row's age.
            let routed = super::shards::next_routed(tx)?;
            tx.execute(
                "UPDATE shards SET name = ?2, branch = ?3, made_branch = 1, state = 'creating',
                 pid = ?4, pid_start = ?5, created_at = ?6, spare_fit = NULL, spare_base = NULL, routed = ?7
                 WHERE id = ?1",
                params![spare.id, new.name, new.branch, new.pid.0, new.pid.1, new.now, routed],
            )?;
            let sql = format!("SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE s.id = ?1");
            let mut shard = tx.query_row(&sql, [spare.id], shard_from_row)?;
            shard.path = path.into();
            Ok(Some((spare, shard)))
        })
    }

    /// Returns the spare [`Ledger::take_spare`] would take for `new` now,
    /// and the shard's folder, after the same checks; writes nothing. For
    /// `create --dry-run`.
    pub fn spare_to_take(
        &self,
        new: &NewShard<'_>,
        fit: &str,
    ) -> Result<Option<(PathBuf, ShardRow)>> {
        self.read(|tx| {
            let repo = planned_repo(tx, new)?;
            let path = check_new(tx, &repo, new)?;
            Ok(oldest_spare(tx, repo.id, fit)?.map(|spare| (PathBuf::from(path), spare)))
        })
    }

    /// Makes a taken spare a spare again, as `spare` was before
    /// [`Ledger::take_spare`] took it (its age included).
    pub fn hand_back(&mut self, spare: &ShardRow) -> Result<()> {
        let of = spare.spare.as_ref();
        self.write(|tx| {
            tx.execute(
                "UPDATE shards SET name = ?2, branch = ?3, path = ?4, made_branch = 0, state = 'spare',
                 pid = NULL, pid_start = NULL, created_at = ?7, spare_fit = ?5, spare_base = ?6
                 WHERE id = ?1",
                params![
                    spare.id,
                    spare.name,
                    spare.branch,
                    spare.path.to_string_lossy(),
                    of.map(|s| s.fit.as_str()),
                    of.map(|s| s.base.as_str()),
                    spare.created_at
                ],
            )?;
            Ok(())
        })
    }
}

/// Returns the oldest ready spare of repository `repo_id` made to fit
/// `fit`: the one a claim takes.
fn oldest_spare(conn: &Connection, repo_id: i64, fit: &str) -> Result<Option<ShardRow>> {
    let sql = format!(
        "SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id
         WHERE r.id = ?1 AND s.state = 'spare' AND s.spare_fit = ?2 ORDER BY s.created_at, s.id LIMIT 1"
    );
    Ok(conn
        .query_row(&sql, params![repo_id, fit], shard_from_row)
        .optional()?)
}
