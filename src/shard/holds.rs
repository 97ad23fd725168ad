//! Blocks held elsewhere on this host: the register's entries
//! ([`crate::register`]) judged live or stale, and this ledger's own
//! entries kept in step with its rows.
//!
//! Before a block is picked, [`survey`] reads every entry under the
//! register's lock. This ledger's own entries are live while a row holds
//! their block. Another user's entries are live: no one reclaims what they
//! cannot verify. An entry of this user from another ledger is live while
//! that ledger holds the row; when that ledger is gone (deleted, or made
//! anew with another id), while the shard's maker runs or its worktree is
//! there. Stale entries of this user are removed; rows of this ledger
//! without an entry get one (a ledger from before the register, or a
//! process killed between its commit and its entry). After the pick,
//! [`enter`] writes the new block's entry before the lock is let go; a
//! release removes it ([`erase`]). [`glance`] judges the entries as
//! [`survey`] does, without the lock and writing nothing: the view a
//! preview's pick (`create --dry-run`) uses.
//!
//! Lifecycle layer: uses the register, the ledger (read-only peeks at other
//! ledgers) and the host (is a process alive).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::alloc::Pool;
use crate::error::Result;
use crate::host;
use crate::ledger::{Ledger, Peek, ShardRow};
use crate::model::PortBlock;
use crate::register::{Entry, Locked, Record, Register};

use super::Site;

/// What other ledgers on this host hold, as the register says.
#[derive(Debug, Default)]
pub struct Elsewhere {
    /// The live entries of other ledgers.
    pub held: Vec<Held>,
}

/// A block another ledger holds.
#[derive(Debug, Clone)]
pub struct Held {
    /// The block.
    pub block: PortBlock,
    /// The id of the ledger whose entry it is.
    pub ledger_id: String,
    /// Whose it is.
    pub holder: Holder,
}

impl Held {
    /// Returns a pool of exactly this block (`None` for none at all, which
    /// a block never is: it is never empty).
    pub fn pool(&self) -> Option<Pool> {
        let block = self.block;
        Pool::new(block.start(), block.end(), block.len()).ok()
    }
}

/// Who holds a block that this ledger may not hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Another Unix user's shard (their entry cannot be read).
    User(u32),
    /// A shard of this user's other ledger at that path.
    Ledger(std::path::PathBuf),
    /// A shard of a ledger at this home's own path that is gone (deleted
    /// and made anew): its worktree is still there. `shards recover`
    /// brings it back.
    Lost {
        name: String,
        worktree: std::path::PathBuf,
    },
}

impl Elsewhere {
    /// Returns true when another ledger holds a port of `block`.
    pub fn overlaps(&self, block: PortBlock) -> bool {
        self.held.iter().any(|h| h.block.overlaps(&block))
    }

    /// Takes out the entry of this home's lost ledger for the worktree at
    /// `path`, if there is one: the shard there is coming back.
    pub fn take_lost(&mut self, path: &Path) -> Option<Held> {
        let same = |p: &Path| p == path || std::fs::canonicalize(p).is_ok_and(|p| p == path);
        let at = self
            .held
            .iter()
            .position(|h| matches!(&h.holder, Holder::Lost { worktree, .. } if same(worktree)))?;
        Some(self.held.remove(at))
    }

    /// Returns the shards of this home's lost ledger whose blocks stay held.
    pub fn lost(&self) -> impl Iterator<Item = &Held> {
        self.held
            .iter()
            .filter(|h| matches!(h.holder, Holder::Lost { .. }))
    }
}

/// Returns the warning for shards of this home's lost ledger whose
/// blocks stay held, if there are any.
pub fn lost_warning(elsewhere: &Elsewhere) -> Option<String> {
    let lost: Vec<String> = elsewhere
        .lost()
        .filter_map(|h| match &h.holder {
            Holder::Lost { name, worktree } => Some(format!(
                "`{name}` ({}, ports {})",
                worktree.display(),
                h.block
            )),
            _ => None,
        })
        .collect();
    (!lost.is_empty()).then(|| {
        format!(
            "this home's ledger was made anew, but {} of its earlier shards still hold their blocks, which stay out of use: {}; `shards recover` brings them back into the ledger",
            lost.len(),
            lost.join(", ")
        )
    })
}

/// Judges every entry (removing this user's stale ones), writes the entries
/// this ledger's rows lack, and returns what other ledgers hold.
pub fn survey(locked: &Locked<'_>, ledger: &Ledger) -> Result<Elsewhere> {
    let ours = ledger.id()?;
    let rows = ledger.list(None)?;
    let entries = locked.entries()?;
    let (elsewhere, stale) = judge_others(&entries, &ours, ledger.path());
    for entry in stale {
        locked.remove(entry.block, &entry.ledger_id)?;
    }
    let mut mine = Vec::new();
    for entry in entries.iter().filter(|e| e.ledger_id == ours) {
        match rows.iter().find(|r| r.block == entry.block) {
            Some(row) => {
                // A worktree the ledger followed to its new folder:
                // the entry follows too, so a lost ledger's judge
                // looks where the shard is.
                let stale = entry
                    .record
                    .as_ref()
                    .is_none_or(|r| r.worktree != row.path || r.shard_id != row.id);
                if stale {
                    enter(locked, &ours, ledger.path(), row)?;
                }
                mine.push(entry.block);
            }
            None => {
                locked.remove(entry.block, &entry.ledger_id)?;
            }
        }
    }
    for row in &rows {
        // A row whose block another ledger holds live is a double booking
        // from before the register: its entry would only hide it.
        if !mine.contains(&row.block) && !elsewhere.overlaps(row.block) {
            enter(locked, &ours, ledger.path(), row)?;
        }
    }
    Ok(elsewhere)
}

/// Returns what other ledgers hold, judged as [`survey`] judges it, from
/// the register read without its lock; removes and writes nothing (for
/// `create --dry-run`, whose pick must be the one a create would make).
pub fn glance(register: &Register, ledger: &Ledger) -> Result<Elsewhere> {
    let entries = register.glance()?;
    Ok(judge_others(&entries, &ledger.id()?, ledger.path()).0)
}

/// Judges the entries of ledgers other than `ours`: returns what they
/// hold live, and the entries that are stale.
fn judge_others<'e>(
    entries: &'e [Entry],
    ours: &str,
    our_ledger: &Path,
) -> (Elsewhere, Vec<&'e Entry>) {
    let uid = host::current_uid();
    let mut elsewhere = Elsewhere::default();
    let mut stale = Vec::new();
    let mut peeks = Peeks::default();
    for entry in entries.iter().filter(|e| e.ledger_id != ours) {
        match judge(entry, uid, our_ledger, &mut peeks) {
            Some(holder) => elsewhere.held.push(Held {
                block: entry.block,
                ledger_id: entry.ledger_id.clone(),
                holder,
            }),
            None => stale.push(entry),
        }
    }
    (elsewhere, stale)
}

/// What one survey read of other ledgers, by path: each is peeked at
/// once, however many entries name it (opening a ledger reads its whole
/// WAL), and every entry of it is judged by that one reading, taken under
/// the register's lock like the others.
#[derive(Default)]
struct Peeks(HashMap<PathBuf, std::result::Result<Option<Peek>, ()>>);

impl Peeks {
    /// [`Ledger::peek`] of `path`, read once per survey; `Err(())` when it
    /// failed.
    fn of(&mut self, path: &Path) -> std::result::Result<Option<&Peek>, ()> {
        self.0
            .entry(path.to_path_buf())
            .or_insert_with(|| Ledger::peek(path).map_err(|_| ()))
            .as_ref()
            .map(Option::as_ref)
            .map_err(|_| ())
    }
}

/// Returns who holds the entry, or `None` when it is stale.
fn judge(entry: &Entry, uid: u32, our_ledger: &Path, peeks: &mut Peeks) -> Option<Holder> {
    if entry.uid != uid {
        return Some(Holder::User(entry.uid));
    }
    // This user's entry that does not parse cannot be verified.
    let Some(record) = &entry.record else {
        return Some(Holder::User(entry.uid));
    };
    match peeks.of(&record.ledger_path) {
        Ok(Some(peek)) if peek.id == entry.ledger_id => {
            let held = peek
                .held
                .iter()
                .any(|(row, block)| *row == record.shard_id && *block == entry.block);
            held.then(|| Holder::Ledger(record.ledger_path.clone()))
        }
        // That ledger is gone, or another was made in its place: the
        // shard is live while its maker runs or its worktree is there.
        Ok(_) => {
            let maker = record.pid > 0 && host::process_alive(record.pid, record.pid_start);
            let there = !matches!(
                std::fs::symlink_metadata(&record.worktree),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound
            );
            (maker || there).then(|| {
                if record.ledger_path == our_ledger {
                    Holder::Lost {
                        name: record.name.clone(),
                        worktree: record.worktree.clone(),
                    }
                } else {
                    Holder::Ledger(record.ledger_path.clone())
                }
            })
        }
        // A ledger that is there but cannot be read now: not gone.
        Err(_) => Some(Holder::Ledger(record.ledger_path.clone())),
    }
}

/// Writes the entry of `row`'s block for the ledger `ledger_id` at
/// `ledger_path`.
pub fn enter(
    locked: &Locked<'_>,
    ledger_id: &str,
    ledger_path: &Path,
    row: &ShardRow,
) -> Result<()> {
    let (pid, pid_start) = row.pid.unwrap_or((0, 0));
    let record = Record {
        ledger_path: ledger_path.to_path_buf(),
        shard_id: row.id,
        name: row.name.clone(),
        worktree: row.path.clone(),
        pid,
        pid_start,
    };
    locked.write(row.block, ledger_id, &record)
}

/// Points the entry of `row`'s block at `row` as it is now (a claim moved
/// its worktree), under the register's lock. Best effort: an entry left
/// naming the old folder still holds the block, and [`survey`] rewrites
/// it once it finds the row at another folder.
pub fn follow(site: &Site<'_>, row: &ShardRow) {
    if let (Ok(locked), Ok(id)) = (site.register.lock(site.timeout), site.ledger.id()) {
        let _ = enter(&locked, &id, site.ledger.path(), row);
    }
}

/// A shard of this home's lost ledger whose worktree is still there.
#[derive(Debug, Clone)]
pub struct Lost {
    /// Its name.
    pub name: String,
    /// Its worktree.
    pub worktree: std::path::PathBuf,
    /// The block it holds.
    pub block: PortBlock,
}

/// Returns what other ledgers hold, under the register's lock (for
/// `status`).
pub fn elsewhere(register: &Register, ledger: &Ledger, timeout: Duration) -> Result<Elsewhere> {
    let locked = register.lock(timeout)?;
    survey(&locked, ledger)
}

/// Returns the shards of this home's lost ledger that still hold blocks.
pub fn lost(register: &Register, ledger: &Ledger, timeout: Duration) -> Result<Vec<Lost>> {
    let elsewhere = elsewhere(register, ledger, timeout)?;
    Ok(elsewhere
        .lost()
        .filter_map(|h| match &h.holder {
            Holder::Lost { name, worktree } => Some(Lost {
                name: name.clone(),
                worktree: worktree.clone(),
                block: h.block,
            }),
            _ => None,
        })
        .collect())
}

/// Writes the entries this ledger's rows lack (a ledger from before the
/// register, or a register folder emptied), so other homes see them
/// before this one next hands out a block. A glance at the folder's names
/// when nothing is missing; failures are left to the next create, which
/// must enter its block and so reports them.
pub fn backfill(register: &Register, ledger: &Ledger, timeout: Duration) {
    let (Ok(id), Ok(blocks)) = (ledger.id(), ledger.blocks()) else {
        return;
    };
    let entered = register.blocks_of(&id);
    if blocks.iter().all(|b| entered.contains(b)) {
        return;
    }
    if let Ok(locked) = register.lock(timeout) {
        let _ = survey(&locked, ledger);
    }
}

/// Removes the entry of a released block. Failing to is no error: the
/// entry is stale once the row is gone, and the next [`survey`] of this
/// ledger removes it.
pub fn erase(register: &Register, ledger: &Ledger, block: PortBlock, timeout: Duration) {
    if let (Ok(locked), Ok(id)) = (register.lock(timeout), ledger.id()) {
        let _ = locked.remove(block, &id);
    }
}
