//! What may go before a shard is reclaimed: the checks `destroy` and
//! `prune --merged` run on a shard before anything is touched.
//!
//! [`work`] refuses a shard another live process is working on, a folder
//! that is not the shard's worktree any more, and (unless forced) a
//! worktree holding work: uncommitted or untracked files, lines of its env
//! file and `.envrc` that shards did not write, commits only its
//! submodules hold. Its answer is a [`WorkCheck`]. [`unlocked`] refuses a
//! worktree locked with `git worktree lock`. How hard `--force` pushes is
//! a [`Force`].
//!
//! Lifecycle layer: uses the ledger rows, the worktree adapter and the
//! env file.

use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::ShardRow;
use crate::model::ShardState;
use crate::worktree::{self, Repo};

use super::{env, lookup};

/// How hard a destroy pushes: `--force` given no times, once or twice (as
/// `git worktree remove -f -f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Force {
    /// No `--force`: work in the worktree, a lock and a failing teardown
    /// hook each stop the destroy.
    No,
    /// `--force`: work is discarded and a failing teardown hook is a
    /// warning; a locked worktree is still refused.
    Work,
    /// `--force --force`: also a worktree locked with `git worktree lock`.
    Lock,
}

impl Force {
    /// Reads `--force` given `count` times.
    pub fn from_count(count: u8) -> Force {
        match count {
            0 => Force::No,
            1 => Force::Work,
            _ => Force::Lock,
        }
    }

    /// True when a worktree locked with `git worktree lock` may go.
    pub fn unlocks(self) -> bool {
        self == Force::Lock
    }

    /// True when work in the worktree may be discarded.
    pub fn discards_work(self) -> bool {
        self >= Force::Work
    }

    /// True when a failing teardown hook stops the destroy (and the shard
    /// is handed back); otherwise it is a warning and the destroy goes on.
    pub fn hook_failure_stops(self) -> bool {
        self == Force::No
    }
}

/// What [`work`] found in a shard's worktree, when it lets the shard go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkCheck {
    /// It holds no work: checked now, or by an earlier destroy that was
    /// interrupted (what that destroy deleted is its own doing, not work).
    Clean,
    /// The worktree is gone: there is no work left to lose.
    Gone,
    /// It holds work, and `--force` discards it.
    Forced,
}

impl WorkCheck {
    /// True when nothing of the user's is lost: what the ledger records at
    /// the claim (`ShardRow::found_clean`), so that an interrupted destroy
    /// is finished by `prune` rather than kept.
    pub fn found_clean(self) -> bool {
        matches!(self, WorkCheck::Clean | WorkCheck::Gone)
    }
}

/// Refuses to reclaim a shard another live process is working on, a
/// folder that is not the shard's worktree any more, or (unless `force`
/// discards work) a worktree holding uncommitted or untracked work,
/// counting lines of its env file and `.envrc` that shards did not write.
pub fn work(repo: &Repo, row: &ShardRow, config: &Config, force: Force) -> Result<WorkCheck> {
    if row.state != ShardState::Active && lookup::owner_alive(row) {
        return Err(lookup::busy(row));
    }
    if std::fs::symlink_metadata(&row.path).is_ok() && !repo.owns_folder(&row.wt_name, &row.path) {
        return Err(Error::io(
            &row.path,
            std::io::Error::other(
                "is not this shard's git worktree any more, so shards leaves it alone; move it away by hand, then destroy again",
            ),
        ));
    }
    if !row.path.exists() {
        return Ok(WorkCheck::Gone);
    }
    if row.found_clean {
        return Ok(WorkCheck::Clean);
    }
    if submodules(row, force)? == WorkCheck::Forced {
        return Ok(WorkCheck::Forced);
    }
    let summary = match worktree::dirty_summary(&row.path) {
        Ok(None) => env_work(row, &repo.root, &config.env_file)?,
        Ok(Some(summary)) => Some(summary),
        Err(e) => Some(format!("its git status cannot be read: {e}")),
    };
    let Some(summary) = summary else {
        return Ok(WorkCheck::Clean);
    };
    if force.discards_work() {
        return Ok(WorkCheck::Forced);
    }
    Err(Error::WorktreeDirty {
        name: row.name.clone(),
        path: row.path.clone(),
        summary,
    })
}

/// Refuses a shard whose worktree is locked (`git worktree lock`), naming
/// the lock's reason, unless `force` unlocks (`--force` twice).
pub fn unlocked(repo: &Repo, row: &ShardRow, force: Force) -> Result<()> {
    match repo.lock_reason(&row.wt_name) {
        Some(reason) if !force.unlocks() => Err(Error::WorktreeLocked {
            name: row.name.clone(),
            path: row.path.clone(),
            reason,
        }),
        _ => Ok(()),
    }
}

/// Describes the lines of the env file (`env_file`) and `.envrc` that
/// shards did not write and that did not come from the main worktree
/// `main` (what create copied into the env file, else the main worktree's
/// same file), if any (git status cannot see them: shards hides both
/// files). The one judge of that work: [`work`] refuses a destroy for it
/// and `list --full` shows it (`survey`).
pub fn env_work(row: &ShardRow, main: &Path, env_file: &str) -> Result<Option<String>> {
    let found = env::user_content(&row.path, main, row.env_copied.as_deref(), env_file)?;
    if found.is_empty() {
        return Ok(None);
    }
    let parts: Vec<String> = found
        .iter()
        .map(|(path, n)| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let lines = if *n == 1 { "line" } else { "lines" };
            format!("{n} {lines} in {name}")
        })
        .collect();
    Ok(Some(format!(
        "{} that shards did not write",
        parts.join(" and ")
    )))
}

/// Refuses (unless `force` discards work) a worktree whose submodule
/// clones, which go with it, hold commits found nowhere else: `Clean` when
/// there are none, `Forced` when there are and `force` discards them.
fn submodules(row: &ShardRow, force: Force) -> Result<WorkCheck> {
    let summary = match worktree::submodule_work(&row.path) {
        Ok(None) => return Ok(WorkCheck::Clean),
        _ if force.discards_work() => return Ok(WorkCheck::Forced),
        Ok(Some(summary)) => summary,
        Err(e) => format!("its submodules cannot be read: {e}"),
    };
    Err(Error::SubmoduleWork {
        name: row.name.clone(),
        path: row.path.clone(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_counts_answer_each_question() {
        let asked = |f: Force| (f.discards_work(), f.unlocks(), f.hook_failure_stops());
        assert_eq!(asked(Force::from_count(0)), (false, false, true));
        assert_eq!(asked(Force::from_count(1)), (true, false, false));
        assert_eq!(asked(Force::from_count(2)), (true, true, false));
        assert_eq!(Force::from_count(7), Force::Lock);
    }

    #[test]
    fn only_a_forced_check_leaves_the_row_not_found_clean() {
        assert!(WorkCheck::Clean.found_clean());
        assert!(WorkCheck::Gone.found_clean());
        assert!(!WorkCheck::Forced.found_clean());
    }
}
