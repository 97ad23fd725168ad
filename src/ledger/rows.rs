//! Rows of the ledger as Rust values, and SQLite failures sorted into the
//! errors users can act on. Adapter detail of `ledger`.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use crate::error::{Error, Result};
use crate::model::{PortBlock, ShardState};

/// A repository as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRow {
    /// Row id.
    pub id: i64,
    /// Canonical path of the common git dir.
    pub git_dir: PathBuf,
    /// The main worktree, for display.
    pub root: PathBuf,
    /// The `{repo}` folder name.
    pub dir_name: String,
}

/// What a spare was made to fit, so a `create` claims it only when it is
/// what a cold create would make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpareOf {
    /// The fingerprint of the config, sparse patterns and key files'
    /// content it was made with.
    pub fit: String,
    /// The commit its worktree was checked out at.
    pub base: String,
}

/// A shard as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRow {
    /// Row id.
    pub id: i64,
    /// The repository it belongs to.
    pub repo: RepoRow,
    /// The shard name.
    pub name: String,
    /// Its branch.
    pub branch: String,
    /// Its worktree folder.
    pub path: PathBuf,
    /// git's name for its worktree.
    pub wt_name: String,
    /// Whether its create made the branch.
    pub made_branch: bool,
    /// Where it is in its life.
    pub state: ShardState,
    /// The creating or destroying process and its start time.
    pub pid: Option<(i64, i64)>,
    /// Unix seconds when it was reserved.
    pub created_at: i64,
    /// When it became routable, as a sequence: the shard made (or the
    /// spare claimed) earlier has the lower number.
    pub routed: i64,
    /// Its port block.
    pub block: PortBlock,
    /// The user id of the user who created it (`None` for rows from before
    /// the ledger recorded owners).
    pub owner_uid: Option<u32>,
    /// True once a destroy's check found no work in the worktree (clean, or
    /// gone) before it began deleting: what is missing afterwards is that
    /// destroy's own doing, not the user's work, so `prune` finishes it. A
    /// forced destroy does not set it. Column `destroy_checked`.
    pub found_clean: bool,
    /// The env file as create left it after copying it from the main
    /// worktree and disowning the shard's keys: what destroy does not count
    /// as the user's lines. `None` when no env file was copied, or for rows
    /// from before the ledger recorded it (then the main worktree's file
    /// stands in).
    pub env_copied: Option<Vec<u8>>,
    /// What a spare (or a shard being made as one) was made to fit; `None`
    /// for a shard.
    pub spare: Option<SpareOf>,
}

pub(super) fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn is_unwritable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::PermissionDenied
        )
    )
}

/// Sorts a SQLite failure into the ledger errors users can act on.
pub(super) fn classify(path: &Path, e: rusqlite::Error) -> Error {
    if let Some(reason) = corrupt_reason(&e) {
        Error::LedgerCorrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
            source: Some(e),
        }
    } else if is_locked(&e) {
        Error::LedgerLocked {
            path: path.to_path_buf(),
        }
    } else if is_unwritable(&e) {
        Error::LedgerUnwritable {
            path: path.to_path_buf(),
            source: Box::new(e),
        }
    } else {
        Error::Sqlite(e)
    }
}

/// Says why `e` shows the ledger is damaged, or `None` when it does not.
fn corrupt_reason(e: &rusqlite::Error) -> Option<&'static str> {
    if matches!(
        e,
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..)
    ) {
        return Some("a row holds a value shards cannot read");
    }
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
    .then_some("SQLite cannot read it as a database")
}

pub(super) const SHARD_COLUMNS: &str = "s.id, s.name, s.branch, s.path, s.wt_name, s.made_branch, s.state, s.pid, s.pid_start, s.created_at, s.port_start, s.port_end, r.id, r.git_dir, r.root, r.dir_name, s.owner_uid, s.destroy_checked, s.env_copied, s.spare_fit, s.spare_base, COALESCE(s.routed, s.id)";

pub(super) fn shard_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ShardRow> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            what.to_string().into(),
        )
    };
    let state: String = row.get(6)?;
    let pid: Option<i64> = row.get(7)?;
    let pid_start: Option<i64> = row.get(8)?;
    let start: u16 = row.get(10)?;
    let end: u16 = row.get(11)?;
    let block = end
        .checked_sub(start)
        .and_then(|d| PortBlock::new(start, d + 1))
        .ok_or_else(|| bad(10, "invalid port block"))?;
    Ok(ShardRow {
        id: row.get(0)?,
        name: row.get(1)?,
        branch: row.get(2)?,
        path: PathBuf::from(row.get::<_, String>(3)?),
        wt_name: row.get(4)?,
        made_branch: row.get(5)?,
        state: ShardState::parse(&state).ok_or_else(|| bad(6, "invalid state"))?,
        pid: pid.map(|p| (p, pid_start.unwrap_or(0))),
        created_at: row.get(9)?,
        block,
        owner_uid: row.get(16)?,
        found_clean: row.get(17)?,
        env_copied: row.get(18)?,
        spare: match (
            row.get::<_, Option<String>>(19)?,
            row.get::<_, Option<String>>(20)?,
        ) {
            (Some(fit), Some(base)) => Some(SpareOf { fit, base }),
            _ => None,
        },
        routed: row.get(21)?,
        repo: RepoRow {
            id: row.get(12)?,
            git_dir: PathBuf::from(row.get::<_, String>(13)?),
            root: PathBuf::from(row.get::<_, String>(14)?),
            dir_name: row.get(15)?,
        },
    })
}

pub(super) fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::io(
            path,
            std::io::Error::other("path is not valid UTF-8; shards needs UTF-8 paths"),
        )
    })
}
