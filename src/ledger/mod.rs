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
//! This file opens the ledger (refusing foreign, damaged or newer files),
//! owns the write transaction and the reads; `shards` registers
//! repositories and reserves, claims and moves shards; `services` keeps
//! named ports; `hooks` keeps approvals of project hooks and the start
//! hooks' processes; `rows` maps rows and sorts SQLite failures; `migrate` owns
//! the schema; `shm` is the VFS that keeps a full disk from killing the
//! process through the WAL index's mapping.
//!
//! Adapter: knows SQLite and the allocator, nothing of git, worktrees or
//! path templates.

pub mod hooks;
pub mod migrate;
mod repos;
mod rows;
pub mod services;
mod shards;
mod shm;
mod spares;

pub use rows::{RepoRow, ShardRow, SpareOf};
use rows::{SHARD_COLUMNS, classify, is_locked, path_str, shard_from_row};
pub use shards::{Claim, NewShard};

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::error::{Error, Result};
use crate::model::PortBlock;

/// How long a process waits for another one's write lock, by default.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`Ledger::peek`] read of another ledger file.
pub struct Peek {
    /// Its random id.
    pub id: String,
    /// Each shard's row id and block.
    pub held: Vec<(i64, PortBlock)>,
}

/// The open ledger.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    /// SQLite's count of this connection's changes when the WAL was last
    /// synced: a second sync with nothing new of ours would only wait for
    /// other processes' frames.
    synced: std::cell::Cell<u64>,
}

impl Drop for Ledger {
    /// Syncs the WAL when this connection wrote ([`Ledger::sync_wal`]).
    fn drop(&mut self) {
        let _ = self.sync_wal();
    }
}

impl Ledger {
    /// Syncs the WAL when this connection wrote since the last sync (SQLite, with
    /// `synchronous = NORMAL`, syncs it only at checkpoints): what this
    /// process committed then outlives a power cut. One `fdatasync` of the
    /// WAL makes every frame in it durable; the database stays consistent
    /// either way, a cut before it only losing the last commits. Runs when
    /// the ledger is dropped, and must be called before an `exec`, which
    /// drops nothing.
    pub fn sync_wal(&self) -> std::io::Result<()> {
        let changes = self.conn.total_changes();
        if changes == self.synced.get() || self.path == Path::new(":memory:") {
            return Ok(());
        }
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        match std::fs::File::open(&wal) {
            Ok(file) => file.sync_data()?,
            // Checkpointed away by SQLite: the database file holds it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.synced.set(changes);
        Ok(())
    }
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

/// Gives the ledger's `-wal` and `-shm` files the ledger file's mode and
/// group where they differ (and this user may change them).
///
/// SQLite creates them with the ledger's mode, and a connection that could
/// only read (a `list` while the ledger was made read-only, 0444) leaves
/// them behind: without this they would go on refusing every write once
/// the ledger is writable again. In a shared home the ledger is group
/// read/write, so they are too.
fn align_wal_files(path: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(db) = std::fs::metadata(path) else {
        return;
    };
    for suffix in ["-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // Failures are SQLite's to report when it opens the file: another
        // user's file stays as it is.
        if meta.gid() != db.gid() {
            let _ = std::os::unix::fs::chown(&file, None, Some(db.gid()));
        }
        if meta.mode() & 0o777 != db.mode() & 0o777 {
            let _ =
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(db.mode() & 0o777));
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
        align_wal_files(path);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // The `-shm` file's blocks are allocated before SQLite stores into
        // its mapping, so a full disk is an error, not SIGBUS (see `shm`).
        let conn = if shm::register() {
            Connection::open_with_flags_and_vfs(path, flags, shm::VFS)
        } else {
            Connection::open_with_flags(path, flags)
        }
        .map_err(|e| classify(path, e))?;
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
        if found == 0 {
            // A new ledger is an empty file; a database with tables of its
            // own is someone else's and is never taken over, nor switched
            // to WAL (which would rewrite its header).
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
                    reason: "it is another program's SQLite database (it holds tables that are not shards')".into(),
                    source: None,
                });
            }
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
                    reason: format!(
                        "it cannot switch to WAL journal mode (SQLite keeps it in {mode} mode)"
                    ),
                    source: None,
                });
            }
        }

        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(classify)?;
        // The last connection to close would checkpoint the WAL into the
        // database and delete it (an fsync of each), and the next writer
        // would make the WAL anew (an fsync of it and of the home's
        // folder): four of a create's five fsyncs. The WAL stays instead;
        // SQLite checkpoints it as it grows (every 1000 pages), and `Drop`
        // syncs it once when this connection wrote, so a command's writes
        // are on the disk when it ends, as before (issue 19).
        if path != Path::new(":memory:") {
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .map_err(classify)?;
        }
        // SQLite plans a statement again at its first step after a value is
        // bound where the value could change the plan (a partial index's
        // condition, `?1 IS NULL`): on a ledger of a few dozen rows that
        // re-parse costs more than any plan could save, and it undoes the
        // statement cache. With the planner's stability guarantee, a
        // statement is planned once, whatever it is bound to; the results
        // are the same.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(classify)?;
        // Migrating takes the write lock, so only do it when needed: `list`
        // must not wait behind a writer just to learn there is nothing to do.
        let found = if found < migrate::SUPPORTED {
            // Off outside the transaction (SQLite ignores the pragma inside
            // one); the bundled SQLite turns them on by default.
            conn.pragma_update(None, "foreign_keys", false)
                .map_err(classify)?;
            retry_locked(timeout, || migrate::migrate(&mut conn)).map_err(classify)?
        } else {
            found
        };
        // Foreign keys are off while migrations run: one makes the shards
        // table anew (0008), and dropping the old one with them on would
        // delete every row that refers to it.
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(classify)?;
        if found > migrate::SUPPORTED {
            return Err(Error::LedgerTooNew {
                path,
                found,
                supported: migrate::SUPPORTED,
            });
        }
        Ok(Ledger {
            conn,
            path,
            synced: std::cell::Cell::new(0),
        })
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

    /// Runs `f` in one read transaction (`BEGIN DEFERRED`, then rolled
    /// back), so its reads see one state of the ledger; it takes no write
    /// lock and writes nothing.
    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let path = &self.path;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| classify(path, e))?;
        f(&tx).map_err(|e| match e {
            Error::Sqlite(e) => classify(path, e),
            other => other,
        })
    }

    /// Returns the ledger's random id, which names its entries in the host's
    /// block register.
    pub fn id(&self) -> Result<String> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'ledger_id'")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .map_err(|e| classify(&self.path, e))
    }

    /// Returns the shard `name` of the repository whose git dir is `git_dir`.
    pub fn find(&self, git_dir: &Path, name: &str) -> Result<Option<ShardRow>> {
        find_in(&self.conn, git_dir, name).map_err(|e| match e {
            Error::Sqlite(e) => classify(&self.path, e),
            other => other,
        })
    }

    /// Lists shards of one repository (by git dir), or of all of them,
    /// ordered by repository and port.
    pub fn list(&self, git_dir: Option<&Path>) -> Result<Vec<ShardRow>> {
        let sql = format!(
            "SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE ?1 IS NULL OR r.git_dir = ?1 ORDER BY r.root, s.port_start"
        );
        let filter = git_dir.map(path_str).transpose()?;
        let classify = |e| classify(&self.path, e);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(classify)?;
        let rows = stmt.query_map([filter], shard_from_row).map_err(classify)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
    }

    /// Reads another ledger file without changing it: its id and each
    /// shard's row id and block. `Ok(None)` when no file is there; an error
    /// when one is there and cannot be read as a ledger with an id (made
    /// or migrated by a shards that has the host register).
    pub fn peek(path: &Path) -> Result<Option<Peek>> {
        if !path.try_exists().map_err(|err| Error::Io {
            path: path.to_path_buf(),
            err,
        })? {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        conn.busy_timeout(Duration::from_secs(2))
            .map_err(|e| classify(path, e))?;
        let id: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'ledger_id'", [], |r| {
                r.get(0)
            })
            .map_err(|e| classify(path, e))?;
        let mut stmt = conn
            .prepare("SELECT id, port_start, port_end FROM shards")
            .map_err(|e| classify(path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, u16>(1)?,
                    r.get::<_, u16>(2)?,
                ))
            })
            .map_err(|e| classify(path, e))?;
        let mut held = Vec::new();
        for row in rows {
            let (id, start, end) = row.map_err(|e| classify(path, e))?;
            if let Some(b) = end
                .checked_sub(start)
                .and_then(|d| PortBlock::new(start, d + 1))
            {
                held.push((id, b));
            }
        }
        Ok(Some(Peek { id, held }))
    }

    /// Returns every block held in the ledger.
    pub fn blocks(&self) -> Result<Vec<PortBlock>> {
        taken_blocks(&self.conn)
    }

    /// Returns SQLite's `data_version`: it changes whenever another
    /// connection commits, so a long-lived reader (the proxy) knows when to
    /// read the rows again. Reads the WAL index's header, no table.
    pub fn data_version(&self) -> Result<i64> {
        let version = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0));
        version.map_err(|e| rows::classify(&self.path, e))
    }
}

/// [`Ledger::find`] on `conn`, also inside a transaction: one statement,
/// kept prepared, for both.
pub(super) fn find_in(conn: &Connection, git_dir: &Path, name: &str) -> Result<Option<ShardRow>> {
    let sql = format!(
        "SELECT {SHARD_COLUMNS} FROM shards s JOIN repos r ON r.id = s.repo_id WHERE r.git_dir = ?1 AND s.name = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![path_str(git_dir)?, name], shard_from_row)
        .optional()?)
}

pub(super) fn taken_blocks(conn: &Connection) -> Result<Vec<PortBlock>> {
    let mut stmt =
        conn.prepare_cached("SELECT port_start, port_end FROM shards ORDER BY port_start")?;
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

#[cfg(test)]
mod tests;
