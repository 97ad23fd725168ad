//! Taking a shard apart: claim → take apart → release.
//!
//! [`destroy`] and [`reclaim`] (prune) share [`dismantle`]: the row is
//! claimed in one transaction that re-checks it (so two processes never
//! take one shard apart twice), then the worktree, git's record and the
//! branch (when nothing on it would be lost) go, then the row, which frees
//! the block. If taking apart fails, the row is handed back as it was.
//! [`check_destroy`] and [`diagnose`] decide, before anything is touched,
//! whether a shard may go.
//!
//! Lifecycle layer: uses the ledger, worktree and host adapters.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::hooks::Hook;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::ShardRow;
use crate::model::ShardState;
use crate::worktree::{self, Repo};

use super::hooks::Say;
use super::{Site, env, hooks, lookup};

/// The `teardown` hook a destroy or prune runs after its claim, before the
/// worktree goes, and how a failure is taken.
pub struct TeardownHook<'a> {
    /// The hook, when one may run (see `hooks::teardown_allowed`).
    pub hook: Option<Hook>,
    /// The configuration the shard's variables are made with.
    pub config: &'a Config,
    /// True for a destroy without `--force`: a failing step stops it and
    /// the shard is handed back; otherwise it is a warning and it goes on.
    pub strict: bool,
    /// Where step announcements go.
    pub say: Say<'a>,
}

/// What taking a shard apart did.
pub struct Teardown {
    /// The row as it was before the claim.
    pub row: ShardRow,
    /// True when the shard's branch was deleted.
    pub branch_deleted: bool,
    /// What was kept or left in place, and why.
    pub notes: Vec<String>,
    /// A teardown hook that failed and was gone past, or was not run.
    pub warnings: Vec<String>,
}

/// Refuses to destroy a shard another live process is working on, a folder
/// that is not the shard's worktree any more, or (unless `force`) a
/// worktree holding uncommitted or untracked work, counting lines of its
/// env file and `.envrc` that shards did not write. Returns true when the
/// worktree is known to hold no work: it was checked and found clean, or
/// is gone, or an earlier destroy that found it clean was interrupted (what
/// that destroy deleted is its own doing, not work).
pub fn check_destroy(repo: &Repo, row: &ShardRow, config: &Config, force: bool) -> Result<bool> {
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
    if row.destroy_checked || !row.path.exists() {
        return Ok(true);
    }
    if !check_submodules(row, force)? {
        return Ok(false);
    }
    let summary = match worktree::dirty_summary(&row.path) {
        Ok(None) => env_work(row, &repo.root, config)?,
        Ok(Some(summary)) => Some(summary),
        Err(e) => Some(format!("its git status cannot be read: {e}")),
    };
    let Some(summary) = summary else {
        return Ok(true);
    };
    if force {
        return Ok(false);
    }
    Err(Error::WorktreeDirty {
        name: row.name.clone(),
        path: row.path.clone(),
        summary,
    })
}

/// Refuses a shard whose worktree is locked (`git worktree lock`), naming
/// the lock's reason, unless `unlock` (`--force` twice, as `git worktree
/// remove -f -f`).
pub fn check_unlocked(repo: &Repo, row: &ShardRow, unlock: bool) -> Result<()> {
    match repo.lock_reason(&row.wt_name) {
        Some(reason) if !unlock => Err(Error::WorktreeLocked {
            name: row.name.clone(),
            path: row.path.clone(),
            reason,
        }),
        _ => Ok(()),
    }
}

/// Describes the lines of the env file and `.envrc` that shards did not
/// write and that did not come from the main worktree (what create copied
/// into the env file, else the main worktree's same file), if any (git
/// status cannot see them: shards hides both files).
fn env_work(row: &ShardRow, main: &Path, config: &Config) -> Result<Option<String>> {
    let found = env::user_content(&row.path, main, row.env_copied.as_deref(), config)?;
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

/// Refuses (unless `force`) a worktree whose submodule clones, which go
/// with it, hold commits found nowhere else. Returns false when such work
/// is there and `force` discards it.
fn check_submodules(row: &ShardRow, force: bool) -> Result<bool> {
    let summary = match worktree::submodule_work(&row.path) {
        Ok(None) => return Ok(true),
        _ if force => return Ok(false),
        Ok(Some(summary)) => summary,
        Err(e) => format!("its submodules cannot be read: {e}"),
    };
    Err(Error::SubmoduleWork {
        name: row.name.clone(),
        path: row.path.clone(),
        summary,
    })
}

/// Destroys a checked shard (see [`check_destroy`], whose answer is
/// `checked`): claims it unless a live process got to it first, takes it
/// apart, frees its block.
pub fn destroy(
    site: &mut Site<'_>,
    repo: &Repo,
    row: &ShardRow,
    checked: bool,
    hook: &TeardownHook<'_>,
) -> Result<Teardown> {
    let decide = |fresh: &ShardRow| {
        if fresh.state != ShardState::Active && lookup::owner_alive(fresh) {
            return Err(lookup::busy(fresh));
        }
        Ok(true)
    };
    let (home, held) = (site.home, site.held_lock);
    dismantle(site, "destroy", row.id, checked, hook, decide, |row| {
        let _lock = super::worktree_lock(home, held, row.repo.id, &|| Ok(()))?;
        take_apart(repo, row)
    })?
    .ok_or_else(|| Error::ShardNotFound {
        name: row.name.clone(),
        repo: repo.root.clone(),
    })
}

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
        _ if lookup::owner_alive(row) => Diagnosis::Healthy,
        ShardState::Creating => debris("its create was interrupted"),
        // The destroy found no work before it began deleting: what is
        // missing now is its own doing, so finish it.
        ShardState::Destroying if row.destroy_checked => debris("its destroy was interrupted"),
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

/// Reclaims a shard [`diagnose`] called reclaimable debris, if it still is
/// when claimed; `Ok(None)` when another process got to it first or it
/// recovered.
pub fn reclaim(
    site: &mut Site<'_>,
    row: &ShardRow,
    hook: &TeardownHook<'_>,
) -> Result<Option<Teardown>> {
    let decide = |fresh: &ShardRow| {
        Ok(matches!(
            diagnose(fresh),
            Diagnosis::Debris {
                reclaimable: true,
                ..
            }
        ))
    };
    let (home, held) = (site.home, site.held_lock);
    dismantle(site, "prune", row.id, false, hook, decide, |row| {
        if row.repo.git_dir.exists() {
            let _lock = super::worktree_lock(home, held, row.repo.id, &|| Ok(()))?;
            return take_apart(&Repo::discover(&row.repo.git_dir)?, row);
        }
        let mut notes = Vec::new();
        if row.path.exists() {
            notes.push(format!(
                "left {} in place: its repository is gone",
                row.path.display()
            ));
        }
        Ok((false, notes))
    })
}

/// Takes apart an active shard whose branch `prune --merged` found merged
/// into `base` (and whose worktree [`check_destroy`] found clean), if it is
/// still active and clean once claimed. The branch goes when the shard
/// made it and, for a branch merged by its changes only (`squash`), while
/// it is still at `tip`, the commit found merged: its changes are in `base`,
/// and the note names the commit it was at. `Ok(None)` when another
/// process got to it first.
pub fn retire(
    site: &mut Site<'_>,
    row: &ShardRow,
    merged: (worktree::Merged, worktree::CommitId, &str),
    hook: &TeardownHook<'_>,
) -> Result<Option<Teardown>> {
    let decide = |fresh: &ShardRow| Ok(fresh.state == ShardState::Active);
    let (home, held) = (site.home, site.held_lock);
    dismantle(site, "prune", row.id, true, hook, decide, |row| {
        // Work written since the check stops it, and the shard is handed back.
        if let Some(summary) = worktree::dirty_summary(&row.path)? {
            return Err(Error::WorktreeDirty {
                name: row.name.clone(),
                path: row.path.clone(),
                summary,
            });
        }
        let _lock = super::worktree_lock(home, held, row.repo.id, &|| Ok(()))?;
        let repo = Repo::discover(&row.repo.git_dir)?;
        let (deleted, mut notes) = take_apart(&repo, row)?;
        let (how, tip, base) = merged;
        if deleted || !row.made_branch || how != worktree::Merged::Changes {
            return Ok((deleted, notes));
        }
        notes.retain(|n| !n.starts_with("kept branch"));
        let short = &tip.to_string()[..10];
        if repo.delete_branch_if_at(&row.branch, tip)? {
            notes.push(format!(
                "deleted branch `{}` (was {short}): its changes are in `{base}`; `git branch {} {short}` brings it back",
                row.branch, row.branch
            ));
            return Ok((true, notes));
        }
        notes.push(format!(
            "kept branch `{}`: it moved after it was found merged",
            row.branch
        ));
        Ok((false, notes))
    })
}

/// Claims row `id` for operation `op` (which names its crash points) if
/// `decide` agrees on the row as it is now, runs the teardown `hook` while
/// the block is still held, takes it apart with `apart` (which says
/// whether the branch went, and notes), then deletes the row. If the hook
/// fails (when strict) or is interrupted, or `apart` fails, the row is
/// handed back as it was.
fn dismantle(
    site: &mut Site<'_>,
    op: &str,
    id: i64,
    checked: bool,
    hook: &TeardownHook<'_>,
    decide: impl FnOnce(&ShardRow) -> Result<bool>,
    apart: impl FnOnce(&ShardRow) -> Result<(bool, Vec<String>)>,
) -> Result<Option<Teardown>> {
    let Some(row) = site
        .ledger
        .claim(id, host::current_process(), checked, decide)?
    else {
        return Ok(None);
    };
    site.crash_point(&format!("{op}:marked"));
    let mut warnings = Vec::new();
    if let Some(h) = &hook.hook {
        let ran = hooks::vars(site.ledger, &row, hook.config)
            .and_then(|vars| hooks::teardown(h, &row, &vars, hook.say));
        match ran {
            Ok(w) => warnings.extend(w),
            Err(e) if hook.strict || matches!(e, Error::DestroyInterrupted { .. }) => {
                // Nothing was removed: hand the shard back as it was.
                let _ = site.ledger.set_state(row.id, row.state, row.pid);
                return Err(e);
            }
            Err(e) => warnings.push(format!("{e}; went on without it")),
        }
    }
    let (branch_deleted, notes) = match apart(&row) {
        Ok(done) => done,
        Err(e) => {
            // Nothing was removed that matters (the folder is not ours or
            // could not be read): hand the shard back as it was.
            let _ = site.ledger.set_state(row.id, row.state, row.pid);
            return Err(e);
        }
    };
    site.crash_point(&format!("{op}:removed"));
    site.ledger.remove(row.id)?;
    Ok(Some(Teardown {
        row,
        branch_deleted,
        notes,
        warnings,
    }))
}

/// Removes a shard's worktree and git's record of it, then its branch when
/// the shard made it and nothing on it would be lost. Returns whether the
/// branch was deleted, and notes on what was kept. Does not touch the ledger.
fn take_apart(repo: &Repo, row: &ShardRow) -> Result<(bool, Vec<String>)> {
    let mut notes = Vec::new();
    if row.state == ShardState::Creating {
        // A create killed while git was adding the worktree: its path was
        // free before, so what git left there unfinished is the create's.
        repo.remove_unfinished(&row.path, &Default::default(), false)?;
    }
    if let Some(left) = repo.remove_worktree(&row.wt_name, &row.path)? {
        notes.push(format!(
            "left {} in place: it is not this shard's git worktree",
            left.display()
        ));
    }
    if row.made_branch && !repo.branch_exists(&row.branch) {
        notes.push(format!("its branch `{}` was already gone", row.branch));
        return Ok((false, notes));
    }
    let kept = if row.made_branch {
        repo.delete_branch_if_merged(&row.branch)?
    } else {
        Some("it existed before the shard".to_string())
    };
    if let Some(why) = &kept {
        notes.push(format!("kept branch `{}`: {why}", row.branch));
    }
    Ok((kept.is_none(), notes))
}
