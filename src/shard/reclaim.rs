//! Reclaiming a shard: claim → teardown hook → remove → release, the one
//! act behind `destroy` and `prune`.
//!
//! [`destroy`] (a shard `check::work` let go), [`debris`] (what
//! `debris::diagnose` found) and [`merged`] (what `merged::judge` found)
//! share [`reclaim`]: the row is read and judged, then claimed in one
//! transaction only if it is still as judged (so two processes never
//! reclaim one shard twice, and nothing is decided inside the
//! transaction; a row that changed is judged again), the teardown hook
//! runs while the block is still held, then the worktree, git's record and
//! the branch (when nothing on it would be lost) go, then the row, which
//! frees the block. If the hook fails (when it must not) or removing
//! fails before anything was deleted, the row is handed back as it was
//! (after, it stays claimed for `prune` or a destroy again to finish,
//! never `active` with its worktree half gone). What became of the branch is a
//! [`BranchFate`]. A destroy whose check refused a shard asks [`raced`]
//! whether another process destroyed it meanwhile (its worktree, half
//! deleted, looks changed), to say that instead.
//!
//! Lifecycle layer: uses the ledger, worktree and host adapters.

use std::cell::Cell;

use crate::config::Config;
use crate::config::hooks::Hook;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::{Claim, Ledger, ShardRow};
use crate::model::ShardState;
use crate::worktree::{self, Merged, Repo};

use super::check::WorkCheck;
use super::debris::diagnose;
use super::hooks::Say;
use super::merged::Merge;
use super::{Site, holds, hooks, lookup};

/// The `teardown` hook a destroy or prune runs after its claim, before the
/// worktree goes, and how a failure is taken.
pub struct TeardownHook<'a> {
    /// The hook, when one may run (see `hooks::teardown_allowed`).
    pub hook: Option<Hook>,
    /// The configuration the shard's variables are made with.
    pub config: &'a Config,
    /// True for a destroy without `--force`: a failing step stops it and
    /// the shard is handed back; otherwise it is a warning and it goes on.
    pub failure_stops: bool,
    /// Where step announcements go.
    pub say: Say<'a>,
}

/// What became of a shard's branch when the shard was reclaimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchFate {
    /// Deleted: the shard made it and every commit on it is on another
    /// branch or tag.
    Deleted,
    /// Deleted by `prune --merged`, though its commits are on no other
    /// ref: its changes are in `base` (squash-merged or rebased). `tip` is
    /// the commit it was at (10 hex digits).
    DeletedMerged {
        /// The commit the branch was at, shortened.
        tip: String,
        /// The default branch its changes are in.
        base: String,
    },
    /// Kept, and why.
    Kept(Retained),
    /// The shard made it, and it was gone already.
    Gone,
    /// Not looked at: the repository is gone, and the branch with it.
    RepoGone,
}

/// Why a shard's branch was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retained {
    /// It existed before the shard, so it is not the shard's to delete.
    Predates,
    /// Something on it would be lost, as git says (commits no other branch
    /// or tag contains, checked out elsewhere, not a plain branch).
    Unmerged(String),
    /// `prune --merged` found it merged by its changes, but it moved since.
    MovedSinceMerged,
}

impl BranchFate {
    /// True when the branch was deleted.
    pub fn deleted(&self) -> bool {
        matches!(self, BranchFate::Deleted | BranchFate::DeletedMerged { .. })
    }
}

/// What reclaiming a shard did.
pub struct Reclaimed {
    /// The row as it was before the claim.
    pub row: ShardRow,
    /// What became of its branch.
    pub branch: BranchFate,
    /// What else was left in place, and why.
    pub notes: Vec<String>,
    /// A teardown hook that failed and was gone past, or was not run.
    pub warnings: Vec<String>,
}

/// Reclaims a shard `destroy` checked (`work`, from `check::work`): claims
/// it unless a live process got to it first, removes it, frees its block.
pub fn destroy(
    site: &mut Site<'_>,
    repo: &Repo,
    row: &ShardRow,
    work: WorkCheck,
    hook: &TeardownHook<'_>,
) -> Result<Reclaimed> {
    let decide = |fresh: &ShardRow| {
        if fresh.state != ShardState::Active && lookup::owner_alive(fresh) {
            return Err(lookup::busy(fresh));
        }
        Ok(true)
    };
    let held = site.held_lock;
    reclaim(
        site,
        "destroy",
        row.id,
        Some(work),
        hook,
        decide,
        |row, touched| {
            let _lock = super::worktree_lock(held, &row.repo.git_dir, &|| Ok(()))?;
            remove(repo, row, touched)
        },
    )?
    .ok_or_else(|| destroyed_elsewhere(row))
}

/// Tells whether another process destroyed `row` since it was read, or is
/// destroying it now: then what a check of its worktree found (a worktree
/// half deleted looks changed) is not the answer, and the returned error
/// is. `None` when its row is still there and no live process works on it.
pub fn raced(ledger: &Ledger, row: &ShardRow) -> Result<Option<Error>> {
    Ok(match ledger.shard(row.id)? {
        // A row id can be reused by a create after a destroy.
        Some(fresh) if fresh.name != row.name || fresh.created_at != row.created_at => {
            Some(destroyed_elsewhere(row))
        }
        Some(fresh) if fresh.state != ShardState::Active && lookup::owner_alive(&fresh) => {
            Some(lookup::busy(&fresh))
        }
        // Claimed since it was read, by a process that died or failed
        // while it deleted the worktree: that is what the check saw.
        Some(fresh) if claimed_since(row, &fresh) => Some(lookup::busy(&fresh)),
        Some(_) => None,
        None => Some(destroyed_elsewhere(row)),
    })
}

/// True when `fresh`, row `row` as the ledger holds it now, was claimed
/// by another process since `row` was read: a destroy or prune that died,
/// or failed, after it began deleting the worktree leaves it so.
pub fn claimed_since(row: &ShardRow, fresh: &ShardRow) -> bool {
    fresh.state == ShardState::Destroying && (row.state != fresh.state || row.pid != fresh.pid)
}

/// The error for a shard whose row another process removed while this one
/// destroyed it.
fn destroyed_elsewhere(row: &ShardRow) -> Error {
    Error::DestroyedElsewhere {
        name: row.name.clone(),
    }
}

/// Reclaims a shard `debris::diagnose` called reclaimable debris, if it
/// still is when claimed; `Ok(None)` when another process got to it first
/// or it recovered.
pub fn debris(
    site: &mut Site<'_>,
    row: &ShardRow,
    hook: &TeardownHook<'_>,
) -> Result<Option<Reclaimed>> {
    let decide = |fresh: &ShardRow| Ok(diagnose(fresh).reclaimable());
    let held = site.held_lock;
    reclaim(site, "prune", row.id, None, hook, decide, |row, touched| {
        if row.repo.git_dir.exists() {
            let _lock = super::worktree_lock(held, &row.repo.git_dir, &|| Ok(()))?;
            return remove(&Repo::discover(&row.repo.git_dir)?, row, touched);
        }
        let mut notes = Vec::new();
        if row.path.exists() {
            notes.push(format!(
                "left {} in place: its repository is gone",
                row.path.display()
            ));
        }
        Ok((BranchFate::RepoGone, notes))
    })
}

/// Reclaims an active shard whose branch `merged::judge` found merged
/// (`merge`), if it is still active and clean once claimed. The branch
/// goes when the shard made it and, for a branch merged by its changes
/// only (a squash), while it is still at the commit found merged: its
/// changes are in the default branch. `Ok(None)` when another process got
/// to it first.
pub fn merged(
    site: &mut Site<'_>,
    row: &ShardRow,
    merge: &Merge,
    hook: &TeardownHook<'_>,
) -> Result<Option<Reclaimed>> {
    let decide = |fresh: &ShardRow| Ok(fresh.state == ShardState::Active);
    let held = site.held_lock;
    reclaim(
        site,
        "prune",
        row.id,
        Some(merge.work),
        hook,
        decide,
        |row, touched| {
            // Work written since the check stops it, and the shard is handed back.
            if let Some(summary) = worktree::dirty_summary(&row.path)? {
                return Err(Error::WorktreeDirty {
                    name: row.name.clone(),
                    path: row.path.clone(),
                    summary,
                });
            }
            let _lock = super::worktree_lock(held, &row.repo.git_dir, &|| Ok(()))?;
            let repo = Repo::discover(&row.repo.git_dir)?;
            let (fate, notes) = remove(&repo, row, touched)?;
            let squashed = row.made_branch && merge.how == Merged::Changes;
            if !squashed || !matches!(fate, BranchFate::Kept(_)) {
                return Ok((fate, notes));
            }
            if repo.delete_branch_if_at(&row.branch, merge.tip)? {
                let fate = BranchFate::DeletedMerged {
                    tip: merge.tip.to_string()[..10].to_string(),
                    base: merge.base.clone(),
                };
                return Ok((fate, notes));
            }
            Ok((BranchFate::Kept(Retained::MovedSinceMerged), notes))
        },
    )
}

/// Claims row `id` for operation `op` (which names its crash points) if
/// `decide` agrees on the row as it is now (see [`claim`]), recording whether `work` found
/// it clean; runs the teardown `hook` while the block is still held,
/// removes the shard with `remove` (which says what became of the branch,
/// and notes), then deletes the row. If the hook fails (when its failure
/// stops) or is interrupted, or `remove` fails before it deleted anything,
/// the row is handed back as it was; a `remove` that fails after stays
/// claimed, as a destroy killed there does.
fn reclaim(
    site: &mut Site<'_>,
    op: &str,
    id: i64,
    work: Option<WorkCheck>,
    hook: &TeardownHook<'_>,
    decide: impl Fn(&ShardRow) -> Result<bool>,
    remove: impl FnOnce(&ShardRow, &Cell<bool>) -> Result<(BranchFate, Vec<String>)>,
) -> Result<Option<Reclaimed>> {
    let found_clean = work.is_some_and(WorkCheck::found_clean);
    let Some(row) = claim(site, id, found_clean, decide)? else {
        return Ok(None);
    };
    site.crash_point(&format!("{op}:marked"));
    let mut warnings = Vec::new();
    if let Some(h) = &hook.hook {
        let ran = hooks::vars(site.ledger, &row, hook.config)
            .and_then(|vars| hooks::teardown(h, &row, &vars, hook.say));
        match ran {
            Ok(w) => warnings.extend(w),
            Err(e) if hook.failure_stops || matches!(e, Error::DestroyInterrupted { .. }) => {
                // Nothing was removed: hand the shard back as it was.
                let _ = site.ledger.set_state(row.id, row.state, row.pid);
                return Err(e);
            }
            Err(e) => warnings.push(format!("{e}; went on without it")),
        }
    }
    let touched = Cell::new(false);
    let (branch, notes) = match remove(&row, &touched) {
        Ok(done) => done,
        // Nothing was removed (the lock could not be taken, work was
        // written since the check): hand the shard back as it was.
        Err(e) if !touched.get() => {
            let _ = site.ledger.set_state(row.id, row.state, row.pid);
            return Err(e);
        }
        // The worktree went, or part of it (a file another process made
        // in git's record meanwhile: a `git status` writing the index):
        // the row stays claimed, so that no one takes what is left for
        // work, and `prune` or a destroy again finishes it.
        Err(e) => return Err(e),
    };
    site.crash_point(&format!("{op}:removed"));
    site.ledger.remove(row.id)?;
    holds::erase(site.register, site.ledger, row.block, site.timeout);
    Ok(Some(Reclaimed {
        row,
        branch,
        notes,
        warnings,
    }))
}

/// Removes a shard's worktree and git's record of it, then its branch when
/// the shard made it and nothing on it would be lost. Returns what became
/// of the branch, and notes on what else was left in place. Does not touch
/// the ledger. Sets `touched` before it deletes anything.
fn remove(repo: &Repo, row: &ShardRow, touched: &Cell<bool>) -> Result<(BranchFate, Vec<String>)> {
    let mut notes = Vec::new();
    touched.set(true);
    if row.state == ShardState::Creating {
        // A create killed while git was adding the worktree: its path was
        // free before, so what git left there unfinished is the create's.
        repo.remove_unfinished(&row.path, &Default::default(), false)?;
    }
    if let Some(left) = remove_worktree(repo, row)? {
        notes.push(format!(
            "left {} in place: it is not this shard's git worktree",
            left.display()
        ));
    }
    if !row.made_branch {
        return Ok((BranchFate::Kept(Retained::Predates), notes));
    }
    if !repo.branch_exists(&row.branch) {
        return Ok((BranchFate::Gone, notes));
    }
    let fate = match repo.delete_branch_if_merged(&row.branch)? {
        None => BranchFate::Deleted,
        Some(why) => BranchFate::Kept(Retained::Unmerged(why)),
    };
    Ok((fate, notes))
}

/// Removes the shard's worktree and git's record of it
/// (`Repo::remove_worktree`), trying again a few times when a file
/// appeared meanwhile: a racing destroy's `git status` writes the index
/// (`index.lock`, then `index`) into the record while it is removed.
fn remove_worktree(repo: &Repo, row: &ShardRow) -> Result<Option<std::path::PathBuf>> {
    let mut tries = 0;
    loop {
        match repo.remove_worktree(&row.wt_name, &row.path) {
            Err(Error::Io { err, .. })
                if err.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 10 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            done => return done,
        }
    }
}

/// How many times a row that changes between its read and its claim is
/// judged again before the claim gives up.
const CLAIM_TRIES: usize = 5;

/// Reads row `id`, asks `decide` whether it may be claimed, and claims it
/// as it was judged ([`crate::ledger::Ledger::claim`]); a row that changed
/// in between is judged again. Returns the row as it was before the claim,
/// `None` when it is gone or `decide` said no; a row that keeps changing
/// is busy ([`lookup::busy`]).
fn claim(
    site: &mut Site<'_>,
    id: i64,
    found_clean: bool,
    decide: impl Fn(&ShardRow) -> Result<bool>,
) -> Result<Option<ShardRow>> {
    let pid = host::current_process();
    let Some(mut seen) = site.ledger.shard(id)? else {
        return Ok(None);
    };
    for _ in 0..CLAIM_TRIES {
        if !decide(&seen)? {
            return Ok(None);
        }
        match site.ledger.claim(&seen, pid, found_clean)? {
            Claim::Claimed(row) => return Ok(Some(row)),
            Claim::Changed(now) => seen = now,
            Claim::Gone => return Ok(None),
        }
    }
    Err(lookup::busy(&seen))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::alloc::Pool;
    use crate::ledger::NewShard;
    use crate::template::WorktreePlace;

    /// A pid no process has (above the kernel's largest), started at 1.
    const DEAD: (i64, i64) = (i32::MAX as i64, 1);

    /// An active shard `x` in an in-memory ledger.
    fn active_x() -> (Ledger, ShardRow) {
        let mut l = Ledger::open_in_memory().unwrap();
        let pool = Pool::new(3000, 3099, 100).unwrap();
        let place = WorktreePlace::Fixed(PathBuf::from("/wt/app/x"));
        let new = NewShard {
            git_dir: Path::new("/src/app/.git"),
            root: Path::new("/src/app"),
            dir_name: "app",
            name: "x",
            branch: "x",
            place: &place,
            wt_name: "x",
            made_branch: true,
            owner_uid: 1000,
            pid: DEAD,
            now: 0,
            services: crate::ledger::services::Configured::none(),
            spare: None,
        };
        let id = l.reserve(&new, &pool, |_| false).unwrap().id;
        l.set_state(id, ShardState::Active, None).unwrap();
        let row = l.shard(id).unwrap().unwrap();
        (l, row)
    }

    #[test]
    fn a_row_still_active_is_no_race() {
        let (l, row) = active_x();
        assert!(raced(&l, &row).unwrap().is_none());
    }

    /// A destroy or prune that claimed the row after it was read, began
    /// deleting the worktree and failed or died (so the owner is dead): the
    /// worktree the check saw half gone is that, not work (issue 18).
    #[test]
    fn a_row_claimed_since_it_was_read_by_a_process_now_dead_is_a_race() {
        let (mut l, row) = active_x();
        assert!(matches!(
            l.claim(&row, DEAD, true).unwrap(),
            Claim::Claimed(_)
        ));
        let fresh = l.shard(row.id).unwrap().unwrap();
        assert!(claimed_since(&row, &fresh));
        assert!(!claimed_since(&fresh, &fresh));
        let err = raced(&l, &row).unwrap().expect("a race");
        assert!(matches!(err, Error::Busy { .. }), "{err}");
    }
}
