//! What `prune` finds: whether a shard is debris (its worktree or
//! repository gone, its create or destroy killed half-way) that may be
//! reclaimed, a worktree that moved, or a healthy shard.
//!
//! Lifecycle layer: reads ledger rows and the worktree adapter; touches
//! nothing.

use std::path::PathBuf;

use crate::ledger::ShardRow;
use crate::model::ShardState;
use crate::worktree;

use super::lookup;

/// Why a shard is debris, as [`diagnose`] finds it.
pub enum Diagnosis {
    /// Healthy, or still being worked on by a live process.
    Healthy,
    /// Its worktree was moved; the ledger should follow it there.
    Moved(PathBuf),
    /// Debris: why, and whether prune may reclaim it.
    Debris {
        /// Why it is debris (and, when kept, why it is kept).
        reason: String,
        /// False when reclaiming it would lose work.
        reclaimable: bool,
    },
}

impl Diagnosis {
    /// True for debris that prune may reclaim.
    pub fn reclaimable(&self) -> bool {
        matches!(
            self,
            Diagnosis::Debris {
                reclaimable: true,
                ..
            }
        )
    }
}

/// Tells whether a shard is debris that prune should reclaim.
pub fn diagnose(row: &ShardRow) -> Diagnosis {
    // A path that cannot be checked is kept, naming who may prune it; a
    // folder that lives on as another worktree is kept too.
    if let Some(found) = super::relocate::precheck(row) {
        return found;
    }
    let debris = |reason: &str| Diagnosis::Debris {
        reason: reason.to_string(),
        reclaimable: true,
    };
    let repo_gone = !row.repo.git_dir.exists();
    let wt_gone = !row.path.exists();
    match row.state {
        ShardState::Active if repo_gone => debris("its repository is gone"),
        ShardState::Active if wt_gone => match lookup::moved(row) {
            Some(new) => Diagnosis::Moved(new),
            None => debris("its worktree is gone"),
        },
        ShardState::Active => Diagnosis::Healthy,
        ShardState::Spare if repo_gone => debris("it is a spare of a repository that is gone"),
        ShardState::Spare if wt_gone => debris("it is a spare whose worktree is gone"),
        ShardState::Spare => Diagnosis::Healthy,
        _ if lookup::owner_alive(row) => Diagnosis::Healthy,
        ShardState::Creating => debris("its create was interrupted"),
        // The destroy found no work before it began deleting: what is
        // missing now is its own doing, so finish it.
        ShardState::Destroying if row.found_clean => debris("its destroy was interrupted"),
        ShardState::Destroying => {
            if !wt_gone
                && !repo_gone
                && let Ok(Some(summary)) = worktree::dirty_summary(&row.path)
            {
                return Diagnosis::Debris {
                    reason: format!(
                        "its destroy was interrupted but the worktree holds work ({summary}); run `shards destroy --force {}` to discard it",
                        row.name
                    ),
                    reclaimable: false,
                };
            }
            debris("its destroy was interrupted")
        }
    }
}
