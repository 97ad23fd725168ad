//! The ledger: the SQLite database that owns every repository, shard and
//! port block on this machine.
//!
//! Transaction discipline: every write goes through [`Ledger::write`], one
//! `BEGIN IMMEDIATE` transaction, so the write lock is taken before the
//! first read and a read-then-write can never fail half-way with
//! SQLITE_BUSY; the busy timeout then queues racing processes instead of
//! failing them. Block allocation reads the taken blocks and inserts the new
//! one inside that same transaction. The schema's UNIQUE constraints and
//! triggers are a safety net under this, not the mechanism.
//!
//! Adapter: knows SQLite and the allocator, nothing of git or worktrees.

pub mod migrate;
mod rows;
pub mod services;

pub use rows::{RepoRow, ShardRow};
use rows::{SHARD_COLUMNS, classify, is_locked, path_str, shard_from_row};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::alloc::{self, Pool};
use crate::error::{Error, Result};
use crate::model::{PortBlock, ShardState};

/// How long a process waits for another one's write lock, by default.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A shard to reserve.
#[derive(Debug, Clone)]
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
    /// Its worktree folder; may hold `{repo}`, replaced inside the transaction.
    pub path_template: &'a str,
    /// git's name for its worktree.
    pub wt_name: &'a str,
    /// Whether its create will make the branch.
    pub made_branch: bool,
    /// The creating process and its start time.
    pub pid: (i64, i64),
    /// Unix seconds now.
    pub now: i64,
    /// Configured services, allocated at their fixed offsets when they fit.
    pub services: &'a BTreeMap<String, u16>,
}

/// The open ledger.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

/// Retries `f` while SQLite reports the database busy, up to
/// `timeout`. Needed while a new ledger is set up: switching it to
/// WAL and the first migration can meet SQLITE_BUSY without SQLite's busy
/// handler being consulted, when many processes open it at once.
fn retry_locked<T>(
    timeout: Duration,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let start = std::time::Instant::now();
    let mut pause = 2 + u64::from(std::process::id() % 7);
    loop {
        match f() {
            Err(e) if is_locked(&e) && start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(pause));
                pause = (pause * 2).min(50);
            }
            other => return other,
        }
    }
}

impl Ledger {
    /// Opens (creating and migrating if needed) the ledger at `path`.
    ///
    /// A file that is not a shards database is never touched: it fails with
    /// [`Error::LedgerCorrupt`]; a newer schema fails with
    /// [`Error::LedgerTooNew`].
    pub fn open(path: &Path, timeout: Duration) -> Result<Ledger> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        Self::setup(conn, path.to_path_buf(), timeout)
    }

    /// Opens a private, empty ledger in memory (for tests).
    pub fn open_in_memory() -> Result<Ledger> {
        Self::setup(
            Connection::open_in_memory()?,
            PathBuf::from(":memory:"),
            BUSY_TIMEOUT,
        )
    }

    fn setup(mut conn: Connection, path: PathBuf, timeout: Duration) -> Result<Ledger> {
        let classify = |e| classify(&path, e);
        conn.busy_timeout(timeout).map_err(classify)?;
        // Reading the schema first tells a foreign file apart before any write.
        let found = retry_locked(timeout, || migrate::version(&conn)).map_err(classify)?;
        if found > migrate::SUPPORTED {
            return Err(Error::LedgerTooNew {
                path,
                found,
                supported: migrate::SUPPORTED,
            });
        }
        let mode: String = retry_locked(timeout, || {
            conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
        })
        .map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") && path != Path::new(":memory:") {
            let mode: String = retry_locked(timeout, || {
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            })
            .map_err(classify)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::LedgerCorrupt {
                    path,
                    source: rusqlite::Error::InvalidQuery,
                });
            }
        }
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(classify)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(classify)?;
        if found == 0 {
            // A new ledger is an empty file; a database with tables of its
            // own is someone else's and is never taken over.
            let foreign: i64 = retry_locked(timeout, || {
                conn.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
                    [],
                    |r| r.get(0),
                )
            })
            .map_err(classify)?;
            // Tables and a version appear in one transaction: tables with a
            // version of 0 after them are not a shards ledger being set up.
            if foreign > 0
                && retry_locked(timeout, || migrate::version(&conn)).map_err(classify)? == 0
            {
                return Err(Error::LedgerCorrupt {
                    path,
                    source: rusqlite::Error::InvalidQuery,
                });
            }
        }
        // Migrating takes the write lock, so only do it when needed: `list`
        // must not wait behind a writer just to learn there is nothing to do.
        let found = if found < migrate::SUPPORTED {
            retry_locked(timeout, || migrate::migrate(&mut conn)).map_err(classify)?
        } else {
            found
        };
        if found > migrate::SUPPORTED {
            return Err(Error::LedgerTooNew {
                path,
                found,
                supported: migrate::SUPPORTED,
            });
        }
        Ok(Ledger { conn, path })
    }

    /// Returns the file the ledger lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits it; any
    /// error rolls everything back.
    pub fn write<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let locked = |e| classify(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(locked)?;
        let value = f(&tx).map_err(|e| match e {
            Error::Sqlite(e) => classify(&path, e),
            other => other,
        })?;
        tx.commit().map_err(locked)?;
        Ok(value)
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
            if let Some(existing) = find_in(tx, repo.id, new.name)? {
                return Err(Error::NameTaken {
                    name: new.name.to_string(),
                    repo: repo.root.clone(),
                    state: existing.state.to_string(),
                });
            }
            let holder: Option<String> = tx
                .query_row(
                    "SELECT path FROM shards WHERE repo_id = ?1 AND branch = ?2",
                    params![repo.id, new.branch],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(path) = holder {
                return Err(Error::BranchCheckedOut { branch: new.branch.to_string(), path: PathBuf::from(path) });
            }
            let path = new.path_template.replace("{repo}", &repo.dir_name);
            let taken_path: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM shards WHERE path = ?1)", [&path], |r| r.get(0))?;
            if taken_path {
                return Err(Error::PathTaken { path: PathBuf::from(path) });
            }
            let taken = taken_blocks(tx)?;
            let block = alloc::pick(pool, &taken, busy).map_err(|e| Error::PortsExhausted {
                base: pool.base(),
                max: pool.max(),
                block_size: pool.block_size(),
                total: e.total,
                held: e.held,
                busy: e.busy,
            })?;
            tx.execute(
                "INSERT INTO shards (repo_id, name, branch, path, wt_name, made_branch, state, pid, pid_start, created_at, port_start, port_end)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'creating', ?7, ?8, ?9, ?10, ?11)",
                params![repo.id, new.name, new.branch, path, new.wt_name, new.made_branch, new.pid.0, new.pid.1, new.now, block.start(), block.end()],
            )?;
            let id = tx.last_insert_rowid();
            let fitting: Vec<String> = new.services.iter().filter(|(_, o)| **o < block.len()).map(|(n, _)| n.clone()).collect();
            services::allocate_in(tx, id, new.name, block, &fitting, new.services)?;
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
                block,
            })
        })
    }

    /// Claims a shard for taking apart: in one transaction, re-reads the row,
    /// asks `decide` whether it may be claimed (it sees the row as it is now,
    /// not as an earlier read saw it), and if so marks it `destroying` by
    /// `pid`. Returns the row as it was before the claim, or `None` when it
    /// is gone or `decide` said no. Two processes can never both claim it.
    pub fn claim(
        &mut self,
        id: i64,
        pid: (i64, i64),
        decide: impl FnOnce(&ShardRow) -> Result<bool>,
    ) -> Result<Option<ShardRow>> {
        self.write(|tx| {
            let sql = format!("SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE s.id = ?1");
            let Some(row) = tx.query_row(&sql, [id], shard_from_row).optional()? else {
                return Ok(None);
            };
            if !decide(&row)? {
                return Ok(None);
            }
            tx.execute(
                "UPDATE shards SET state = 'destroying', pid = ?2, pid_start = ?3 WHERE id = ?1",
                params![id, pid.0, pid.1],
            )?;
            Ok(Some(row))
        })
    }

    /// Moves a shard to `state`, recording `pid` as the process acting on it
    /// (`None` clears it). Fails when the row is gone.
    pub fn set_state(&mut self, id: i64, state: ShardState, pid: Option<(i64, i64)>) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE shards SET state = ?2, pid = ?3, pid_start = ?4 WHERE id = ?1",
                params![id, state.as_str(), pid.map(|p| p.0), pid.map(|p| p.1)],
            )?;
            if n == 0 {
                return Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows));
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

    /// Deletes a shard's row, which frees its block.
    pub fn remove(&mut self, id: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM shards WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    /// Returns the shard `name` of the repository whose git dir is `git_dir`.
    pub fn find(&self, git_dir: &Path, name: &str) -> Result<Option<ShardRow>> {
        let sql = format!(
            "SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE r.git_dir = ?1 AND s.name = ?2"
        );
        self.conn
            .query_row(&sql, params![path_str(git_dir)?, name], shard_from_row)
            .optional()
            .map_err(|e| classify(&self.path, e))
    }

    /// Lists shards of one repository (by git dir), or of all of them,
    /// ordered by repository and port.
    pub fn list(&self, git_dir: Option<&Path>) -> Result<Vec<ShardRow>> {
        let sql = format!(
            "SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE ?1 IS NULL OR r.git_dir = ?1 ORDER BY r.root, s.port_start"
        );
        let filter = git_dir.map(path_str).transpose()?;
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([filter], shard_from_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| classify(&self.path, e))
    }

    /// Returns every block held in the ledger.
    pub fn blocks(&self) -> Result<Vec<PortBlock>> {
        taken_blocks(&self.conn)
    }
}

fn taken_blocks(conn: &Connection) -> Result<Vec<PortBlock>> {
    let mut stmt = conn.prepare("SELECT port_start, port_end FROM shards ORDER BY port_start")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, u16>(0)?, r.get::<_, u16>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (start, end) = row?;
        if let Some(b) = end
            .checked_sub(start)
            .and_then(|d| PortBlock::new(start, d + 1))
        {
            out.push(b);
        }
    }
    Ok(out)
}

fn find_in(tx: &Connection, repo_id: i64, name: &str) -> Result<Option<ShardRow>> {
    let sql = format!(
        "SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE r.id = ?1 AND s.name = ?2"
    );
    Ok(tx
        .query_row(&sql, params![repo_id, name], shard_from_row)
        .optional()?)
}

/// Returns the repository row for `git_dir`, registering it with a
/// `dir_name` unique among repositories (`name`, `name-2`, …).
fn ensure_repo(tx: &Connection, git_dir: &Path, root: &Path, name: &str) -> Result<RepoRow> {
    let git = path_str(git_dir)?;
    let root_s = path_str(root)?;
    let found = tx
        .query_row(
            "SELECT id, dir_name FROM repos WHERE git_dir = ?1",
            [git],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (id, dir_name) = match found {
        Some(found) => found,
        None => {
            let mut candidate = name.to_string();
            let mut n = 1;
            while tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM repos WHERE dir_name = ?1)",
                [&candidate],
                |r| r.get::<_, bool>(0),
            )? {
                n += 1;
                candidate = format!("{name}-{n}");
            }
            tx.execute(
                "INSERT INTO repos (git_dir, root, dir_name) VALUES (?1, ?2, ?3)",
                params![git, root_s, candidate],
            )?;
            (tx.last_insert_rowid(), candidate)
        }
    };
    Ok(RepoRow {
        id,
        git_dir: git_dir.to_path_buf(),
        root: root.to_path_buf(),
        dir_name,
    })
}

#[cfg(test)]
mod tests;
