//! Shards and their repositories in the ledger: register a repository,
//! reserve a shard with its block, claim it to be reclaimed, move it
//! between states, and forget it.
//!
//! Every write here is one [`Ledger::write`] transaction (`BEGIN
//! IMMEDIATE`). Part of the `ledger` adapter: knows SQLite and the
//! allocator, nothing of git, worktrees or path templates (a shard's path
//! arrives final).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{SHARD_COLUMNS, path_str, shard_from_row};
use super::{Ledger, RepoRow, ShardRow, SpareOf, find_in, services, taken_blocks};
use crate::alloc::{self, Pool};
use crate::error::{Error, Result};
use crate::model::{PortBlock, ShardState};
use crate::template::WorktreePlace;

/// What became of a [`Ledger::claim`].
#[derive(Debug)]
pub enum Claim {
    /// The row was as seen, and is now `destroying` by the claimer: the
    /// row as it was before the claim.
    Claimed(ShardRow),
    /// The row changed since it was seen: here it is now, to judge again.
    Changed(ShardRow),
    /// The row is gone.
    Gone,
}

/// A shard to reserve.
#[derive(Clone)]
pub struct NewShard<'a> {
    /// Canonical common git dir of its repository.
    pub git_dir: &'a Path,
    /// Main worktree of its repository.
    pub root: &'a Path,
    /// Preferred `{repo}` folder name.
    pub dir_name: &'a str,
    /// The shard name.
    pub name: &'a str,
    /// Its branch.
    pub branch: &'a str,
    /// Its worktree folder, settled with the repository's `{repo}` folder
    /// name inside the reserving transaction.
    pub place: &'a WorktreePlace,
    /// git's name for its worktree.
    pub wt_name: &'a str,
    /// Whether its create will make the branch.
    pub made_branch: bool,
    /// The user id of the user creating it.
    pub owner_uid: u32,
    /// The creating process and its start time.
    pub pid: (i64, i64),
    /// Unix seconds now.
    pub now: i64,
    /// Configured services, allocated at their fixed offsets when they fit.
    pub services: services::Configured<'a>,
    /// What a spare is made to fit; `None` for a shard.
    pub spare: Option<&'a SpareOf>,
}

impl Ledger {
    /// Returns the `{repo}` folder name of the repository at `git_dir`: the
    /// one it has, or for a repository the ledger does not know yet the one
    /// it would get now (`dir_name`, `dir_name-2`, …). Reads only: the
    /// repository is registered by [`Ledger::reserve`], in the transaction
    /// that inserts its first shard, so a create that fails writes nothing.
    pub fn repo_dir_name(&self, git_dir: &Path, root: &Path, dir_name: &str) -> Result<String> {
        let found = repo_of(&self.conn, git_dir, root).and_then(|known| match known {
            Some(row) => Ok(row.dir_name),
            None => free_dir_name(&self.conn, dir_name),
        });
        found.map_err(|e| match e {
            Error::Sqlite(e) => super::rows::classify(&self.path, e),
            other => other,
        })
    }

    /// Reserves a shard and its block: one transaction that registers the
    /// repository, checks the name, picks the lowest free block that `busy`
    /// does not reject, and inserts the row in state `creating`.
    pub fn reserve(
        &mut self,
        new: &NewShard<'_>,
        pool: &Pool,
        busy: impl FnMut(PortBlock) -> bool,
    ) -> Result<ShardRow> {
        self.write(|tx| {
            let repo = ensure_repo(tx, new.git_dir, new.root, new.dir_name)?;
            let path = check_new(tx, &repo, new)?;
            let path = path.as_str();
            let block = pick_in(tx, pool, busy)?;
            let routed = next_routed(tx)?;
            tx.execute(
                "INSERT INTO shards (repo_id, name, branch, path, wt_name, made_branch, state, pid, pid_start, created_at, port_start, port_end, owner_uid, spare_fit, spare_base, routed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'creating', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![repo.id, new.name, new.branch, path, new.wt_name, new.made_branch, new.pid.0, new.pid.1, new.now, block.start(), block.end(), new.owner_uid, new.spare.map(|s| s.fit.as_str()), new.spare.map(|s| s.base.as_str()), routed],
            )?;
            let id = tx.last_insert_rowid();
            services::allocate_in(tx, id, new.name, block, &new.services.fitting(block), new.services)?;
            Ok(ShardRow {
                id,
                repo,
                name: new.name.to_string(),
                branch: new.branch.to_string(),
                path: PathBuf::from(path),
                wt_name: new.wt_name.to_string(),
                made_branch: new.made_branch,
                state: ShardState::Creating,
                pid: Some(new.pid),
                created_at: new.now,
                routed,
                block,
                owner_uid: Some(new.owner_uid),
                found_clean: false,
                env_copied: None,
                spare: new.spare.cloned(),
            })
        })
    }

    /// Returns the folder and block [`Ledger::reserve`] would give `new`
    /// now: the same checks and the same pick, read in one read
    /// transaction, writing nothing (a repository the ledger does not know
    /// is not registered). For `create --dry-run`.
    pub fn would_reserve(
        &self,
        new: &NewShard<'_>,
        pool: &Pool,
        busy: impl FnMut(PortBlock) -> bool,
    ) -> Result<(PathBuf, PortBlock)> {
        self.read(|tx| {
            let repo = planned_repo(tx, new)?;
            let path = check_new(tx, &repo, new)?;
            Ok((PathBuf::from(path), pick_in(tx, pool, busy)?))
        })
    }

    /// Returns shard `id` as the ledger holds it now, `None` when it is gone.
    pub fn shard(&self, id: i64) -> Result<Option<ShardRow>> {
        let sql = format!(
            "SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE s.id = ?1"
        );
        let row = self.conn.query_row(&sql, [id], shard_from_row).optional();
        row.map_err(|e| super::rows::classify(&self.path, e))
    }

    /// Claims a shard to be reclaimed as the claimer `seen` it (read and
    /// judged before): in one transaction, re-reads the row and, only if it
    /// is still as seen, marks it `destroying` by `pid`, recording whether
    /// the claimer `found_clean` its worktree (see [`ShardRow::found_clean`];
    /// a row found clean once stays so). Two processes can never both
    /// claim it, and nothing is decided inside the transaction.
    pub fn claim(&mut self, seen: &ShardRow, pid: (i64, i64), found_clean: bool) -> Result<Claim> {
        self.write(|tx| {
            let sql = format!("SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE s.id = ?1");
            let Some(row) = tx.query_row(&sql, [seen.id], shard_from_row).optional()? else {
                return Ok(Claim::Gone);
            };
            if &row != seen {
                return Ok(Claim::Changed(row));
            }
            tx.execute(
                "UPDATE shards SET state = 'destroying', pid = ?2, pid_start = ?3, destroy_checked = max(destroy_checked, ?4) WHERE id = ?1",
                params![seen.id, pid.0, pid.1, found_clean],
            )?;
            Ok(Claim::Claimed(row))
        })
    }

    /// Moves a shard to `state`, recording `pid` as the process acting on it
    /// (`None` clears it). Fails with [`Error::ShardGone`] when the row is
    /// gone.
    pub fn set_state(&mut self, id: i64, state: ShardState, pid: Option<(i64, i64)>) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE shards SET state = ?2, pid = ?3, pid_start = ?4 WHERE id = ?1",
                params![id, state.as_str(), pid.map(|p| p.0), pid.map(|p| p.1)],
            )?;
            if n == 0 {
                return Err(Error::ShardGone { id });
            }
            Ok(())
        })
    }

    /// Records a new worktree folder for a shard (it was moved).
    pub fn set_path(&mut self, id: i64, path: &Path) -> Result<()> {
        let path = path_str(path)?.to_string();
        self.write(|tx| {
            tx.execute(
                "UPDATE shards SET path = ?2 WHERE id = ?1",
                params![id, path],
            )?;
            Ok(())
        })
    }

    /// Records new worktree folders for active shards git says were moved,
    /// each `(id, recorded folder, new folder)`, in one transaction. A row
    /// no longer active at its recorded folder (another process changed or
    /// removed it since it was read) is left, and so is one whose new
    /// folder another row holds (`path` is unique). Returns how many moved.
    pub fn set_moved_paths(&mut self, moves: &[(i64, PathBuf, PathBuf)]) -> Result<usize> {
        let moves = moves
            .iter()
            .map(|(id, old, new)| Ok((*id, path_str(old)?.to_string(), path_str(new)?.to_string())))
            .collect::<Result<Vec<_>>>()?;
        self.write(|tx| {
            let mut n = 0;
            for (id, old, new) in &moves {
                n += tx.execute(
                    "UPDATE OR IGNORE shards SET path = ?3 WHERE id = ?1 AND path = ?2 AND state = 'active'",
                    params![id, old, new],
                )?;
            }
            Ok(n)
        })
    }

    /// Records the name git gave a shard's worktree record, when it is not
    /// the one planned.
    pub fn set_wt_name(&mut self, id: i64, wt_name: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE shards SET wt_name = ?2 WHERE id = ?1",
                params![id, wt_name],
            )?;
            Ok(())
        })
    }

    /// Records what a shard's env file held right after create copied it
    /// (see [`ShardRow::env_copied`]).
    pub fn set_env_copied(&mut self, id: i64, bytes: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE shards SET env_copied = ?2 WHERE id = ?1",
                params![id, bytes],
            )?;
            Ok(())
        })
    }

    /// Deletes a shard's row, which frees its block.
    pub fn remove(&mut self, id: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM shards WHERE id = ?1", [id])?;
            Ok(())
        })
    }
}

/// Returns the next number of the `routed` sequence. Called inside the
/// write (`BEGIN IMMEDIATE`) that makes a shard routable, so numbers follow
/// the order those writes commit in.
pub(super) fn next_routed(tx: &Connection) -> Result<i64> {
    Ok(
        tx.query_row("SELECT COALESCE(MAX(routed), 0) + 1 FROM shards", [], |r| {
            r.get(0)
        })?,
    )
}

/// Checks, inside the transaction, that `new` can be made in `repo`: its
/// name free, its branch held by no other shard, its folder free in the
/// ledger; returns the folder.
pub(super) fn check_new(tx: &Connection, repo: &RepoRow, new: &NewShard<'_>) -> Result<String> {
    if let Some(existing) = find_in(tx, &repo.git_dir, new.name)? {
        return Err(Error::NameTaken {
            name: new.name.to_string(),
            repo: repo.root.clone(),
            state: existing.state,
        });
    }
    // A spare has no branch (nor do the spares the query skips), so it
    // holds none that another shard could want.
    let holder: Option<String> = match new.spare {
        Some(_) => None,
        None => tx
            .query_row(
                "SELECT path FROM shards WHERE repo_id = ?1 AND branch = ?2 AND spare_fit IS NULL",
                params![repo.id, new.branch],
                |r| r.get(0),
            )
            .optional()?,
    };
    if let Some(path) = holder {
        return Err(Error::BranchCheckedOut {
            branch: new.branch.to_string(),
            path: PathBuf::from(path),
        });
    }
    let path = new.place.resolve(&repo.dir_name)?;
    let path = path_str(&path)?.to_string();
    let taken_path: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM shards WHERE path = ?1)",
        [&path],
        |r| r.get(0),
    )?;
    if taken_path {
        return Err(Error::PathTaken {
            path: PathBuf::from(&path),
        });
    }
    Ok(path)
}

/// Returns the lowest free block of `pool` that `busy` does not reject, in
/// the caller's transaction: the pick of [`Ledger::reserve`] and of
/// [`Ledger::would_reserve`].
fn pick_in(
    conn: &Connection,
    pool: &Pool,
    busy: impl FnMut(PortBlock) -> bool,
) -> Result<PortBlock> {
    let taken = taken_blocks(conn)?;
    alloc::pick(pool, &taken, busy).map_err(|e| Error::PortsExhausted {
        base: pool.base(),
        max: pool.max(),
        block_size: pool.block_size(),
        total: e.total,
        held: e.held,
        busy: e.busy,
    })
}

/// Returns the repository row of `new`'s repository, or for one the ledger
/// does not know the row [`ensure_repo`] would make now, with an id no
/// row refers to (SQLite's row ids start at 1); writes nothing.
pub(super) fn planned_repo(conn: &Connection, new: &NewShard<'_>) -> Result<RepoRow> {
    if let Some(row) = repo_of(conn, new.git_dir, new.root)? {
        return Ok(row);
    }
    Ok(RepoRow {
        id: 0,
        git_dir: new.git_dir.to_path_buf(),
        root: new.root.to_path_buf(),
        dir_name: free_dir_name(conn, new.dir_name)?,
    })
}

/// Returns the repository row for `git_dir` when the ledger knows it.
fn repo_of(conn: &Connection, git_dir: &Path, root: &Path) -> Result<Option<RepoRow>> {
    let found: Option<(i64, String)> = conn
        .prepare_cached("SELECT id, dir_name FROM repos WHERE git_dir = ?1")?
        .query_row([path_str(git_dir)?], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found.map(|(id, dir_name)| RepoRow {
        id,
        git_dir: git_dir.to_path_buf(),
        root: root.to_path_buf(),
        dir_name,
    }))
}

/// Returns the repository row for `git_dir`, registering it with a
/// `dir_name` unique among repositories (`name`, `name-2`, …). Runs inside
/// the caller's transaction.
/// Returns `name`, or `name-2`, `name-3`, …: the first `{repo}` folder name
/// no repository has.
fn free_dir_name(conn: &Connection, name: &str) -> Result<String> {
    let mut candidate = name.to_string();
    let mut n = 1;
    while conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM repos WHERE dir_name = ?1)",
        [&candidate],
        |r| r.get::<_, bool>(0),
    )? {
        n += 1;
        candidate = format!("{name}-{n}");
    }
    Ok(candidate)
}

pub(super) fn ensure_repo(
    tx: &Connection,
    git_dir: &Path,
    root: &Path,
    name: &str,
) -> Result<RepoRow> {
    if let Some(row) = repo_of(tx, git_dir, root)? {
        return Ok(row);
    }
    let candidate = free_dir_name(tx, name)?;
    tx.execute(
        "INSERT INTO repos (git_dir, root, dir_name) VALUES (?1, ?2, ?3)",
        params![path_str(git_dir)?, path_str(root)?, candidate],
    )?;
    Ok(RepoRow {
        id: tx.last_insert_rowid(),
        git_dir: git_dir.to_path_buf(),
        root: root.to_path_buf(),
        dir_name: candidate,
    })
}
