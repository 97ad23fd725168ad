//! `prune --merged`'s decision: whether an active shard's branch is merged
//! into its repository's default branch (by ancestry, or by its changes: a
//! squash merge, a rebase, cherry-picks; commits that change nothing
//! together bring no change to be merged, so their branch is kept), and the
//! shard old enough, clean, unlocked and with nothing running from it, so
//! that it may be reclaimed.
//! What it finds is a [`Verdict`]; the command layer words it.
//!
//! Lifecycle layer: uses the worktree adapter, the ledger (start hooks'
//! processes) and the other lifecycle checks; changes nothing.

use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::{Ledger, ShardRow};
use crate::worktree::{self, CommitId, MergeState, Merged, Repo};

use super::check::{self, Force, WorkCheck};
use super::reap::{self, Running};

/// A merged branch, as found: how, at which commit, into which branch,
/// and what the work check found.
#[derive(Debug)]
pub struct Merge {
    /// By ancestry or by its changes.
    pub how: Merged,
    /// The commit the branch was at when found merged.
    pub tip: CommitId,
    /// The default branch's short name (`main`, `origin/main`).
    pub base: String,
    /// What `check::work` found.
    pub work: WorkCheck,
}

/// What `prune --merged` decides for one active shard.
#[derive(Debug)]
pub enum Verdict {
    /// Reclaim it.
    Reclaim(Merge),
    /// Keep it, and why.
    Keep(Keep),
}

/// Why `prune --merged` keeps a shard.
#[derive(Debug)]
pub enum Keep {
    /// It is younger than `--min-age`.
    Young {
        /// `--min-age`.
        min_age: Duration,
        /// How long ago it was created.
        age: Duration,
    },
    /// Its repository has no default branch.
    NoDefaultBranch,
    /// Its branch is the default branch (`base`).
    IsDefault {
        /// The default branch's short name.
        base: String,
    },
    /// No commit was made on its branch yet.
    Untouched,
    /// Its branch is not merged into `base`.
    Open {
        /// The default branch's short name.
        base: String,
    },
    /// Its branch has commits `base` does not hold, that change nothing
    /// together (empty commits, a change added then reverted).
    NoNetChange {
        /// The default branch's short name.
        base: String,
    },
    /// Its branch does not exist.
    Absent,
    /// Merged (`how`, into `base`), but it may not go.
    Held {
        /// By ancestry or by its changes.
        how: Merged,
        /// The default branch's short name.
        base: String,
        /// What holds it.
        by: Hold,
    },
}

/// What holds a merged shard back.
#[derive(Debug)]
pub enum Hold {
    /// A check refused it: work in the worktree (`Error::WorktreeDirty`),
    /// a lock, a live owner, a folder that is not its worktree.
    Refused(Error),
    /// Processes still run from its worktree (prune never stops them).
    Running(Vec<Running>),
}

/// Decides whether `prune --merged` reclaims the active shard `row`,
/// created `row.created_at`, at `now` (seconds since the epoch): old
/// enough against `min_age`, merged into the default branch, then (with
/// the repository's configuration, which `config` loads only when it gets
/// that far) not locked, clean and with no process running from it.
pub fn judge(
    ledger: &Ledger,
    row: &ShardRow,
    min_age: Duration,
    now: i64,
    config: impl FnOnce() -> Result<Config>,
) -> Result<Verdict> {
    let keep = |why| Ok(Verdict::Keep(why));
    let age = Duration::from_secs((now - row.created_at).max(0) as u64);
    if age < min_age {
        return keep(Keep::Young { min_age, age });
    }
    let Some(default) = worktree::default_branch(&row.repo.git_dir)? else {
        return keep(Keep::NoDefaultBranch);
    };
    let base = default.short.clone();
    if default.refname == format!("refs/heads/{}", row.branch) {
        return keep(Keep::IsDefault { base });
    }
    let (how, tip) = match worktree::merge_state(&row.repo.git_dir, &row.branch, &default.refname)?
    {
        MergeState::Merged(how, tip) => (how, tip),
        MergeState::Untouched => return keep(Keep::Untouched),
        MergeState::Open => return keep(Keep::Open { base }),
        MergeState::NoNetChange => return keep(Keep::NoNetChange { base }),
        MergeState::Absent => return keep(Keep::Absent),
    };
    let repo = Repo::discover(&row.repo.git_dir)?;
    let config = config()?;
    let checked = check::unlocked(&repo, row, Force::No)
        .and_then(|()| check::work(&repo, row, &config, Force::No));
    let held = |by| {
        Ok(Verdict::Keep(Keep::Held {
            how,
            base: base.clone(),
            by,
        }))
    };
    let work = match checked {
        Ok(work) => work,
        // A worktree another process is destroying looks changed: say that.
        Err(e) => {
            return held(Hold::Refused(
                super::reclaim::raced(ledger, row)
                    .ok()
                    .flatten()
                    .unwrap_or(e),
            ));
        }
    };
    let starts = reap::starts(ledger, &[row])?;
    if let Some(found) = reap::find(&[row], &starts).pop()
        && !found.procs.is_empty()
    {
        return held(Hold::Running(found.procs));
    }
    Ok(Verdict::Reclaim(Merge {
        how,
        tip,
        base,
        work,
    }))
}
