//! Making a shard: reserve → build → activate, with one undo path.
//!
//! A way of making a shard is a [`Build`]: a value that owns what it has
//! made so far, with a step that makes it and a step that undoes it.
//! `create` ([`super::create`]) checks out a branch and copies files in;
//! `adopt` ([`super::adopt`]) makes nothing on disk. [`establish`] runs
//! every build the same way: the row and block in one transaction, the
//! build, the env file, the setup, then `active`. If any step fails, the
//! build's own undo runs and the row goes, so a failed create leaves what
//! was there before, and so does one that SIGINT or SIGTERM stops ([`halt`],
//! between steps); a killed one leaves a `creating` row that `prune`
//! reclaims. Once the shard is active, the build's last step
//! ([`Build::started`]) runs outside the undo.
//!
//! Lifecycle layer: uses the ledger, worktree and host adapters.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::hooks::StartRecord;
use crate::ledger::{NewShard, ShardRow};
use crate::model::{ShardName, ShardState};
use crate::template::WorktreePlace;
use crate::worktree::Repo;

use super::copy::Copied;
use super::{Site, env, holds, lookup, now};

/// A shard that was made.
pub struct Made {
    /// Its row as the ledger holds it, `active` once made.
    pub row: ShardRow,
    /// Warnings about the env file, the branch or optional hook steps.
    pub warnings: Vec<String>,
    /// What was brought over from the main worktree (`.worktreeinclude`).
    pub copied: Copied,
    /// What became of the `start` hook.
    pub start: StartHook,
}

/// What became of a new shard's `start` hook, which runs once the shard is
/// made: one that cannot start does not undo the shard.
pub enum StartHook {
    /// There is none to run (or none may run).
    None,
    /// It runs in the background.
    Running(StartRecord),
    /// It did not start, for this reason.
    Failed(Error),
}

/// What a shard will be, whatever builds it: what its row records.
#[derive(Clone)]
pub(super) struct Spec {
    pub(super) name: ShardName,
    pub(super) branch: String,
    /// git's name for its worktree.
    pub(super) wt_name: String,
    /// Where its worktree is.
    pub(super) place: WorktreePlace,
    /// Whether this shard makes (and so may delete) its branch.
    pub(super) made_branch: bool,
    /// What a spare is made to fit; `None` for a shard. A spare's build
    /// ends in the state `spare`, not `active`.
    pub(super) spare: Option<crate::ledger::SpareOf>,
}

impl Spec {
    /// Returns the shard as a reservation asks for it, made by this
    /// process now.
    pub(super) fn new_shard<'a>(&'a self, repo: &'a Repo, config: &'a Config) -> NewShard<'a> {
        NewShard {
            git_dir: &repo.git_dir,
            root: &repo.root,
            dir_name: &repo.name,
            name: self.name.as_str(),
            branch: &self.branch,
            place: &self.place,
            wt_name: &self.wt_name,
            made_branch: self.made_branch,
            owner_uid: host::current_uid(),
            pid: host::current_process(),
            now: now(),
            services: crate::ledger::services::Configured::of(config),
            spare: self.spare.as_ref(),
        }
    }
}

/// What an undo left behind.
pub(super) enum Undone {
    /// Everything the build made is gone: the row goes too.
    All,
    /// The shard's own worktree folder could not be removed: the row stays
    /// `creating`, for `prune` to retry.
    FolderLeft,
    /// The shard was a spare, and is one again as it was: the row goes
    /// back to this.
    HandedBack(Box<ShardRow>),
}

/// One way of making a shard, run by [`establish`].
pub(super) trait Build {
    /// The operation, which names its crash points (`create:reserved`, …).
    const OP: &'static str;

    /// Returns the repository, the configuration and what the shard will be.
    fn parts(&self) -> (&Repo, &Config, &Spec);

    /// Reserves the shard's row and block: one ledger transaction, under
    /// the host register's lock, with the block's entry written before the
    /// lock goes. Also returns a warning when shards of this home's lost
    /// ledger still hold blocks.
    fn reserve(&mut self, site: &mut Site<'_>) -> Result<(ShardRow, Option<String>)> {
        let (repo, config, spec) = self.parts();
        let new = spec.new_shard(repo, config);
        // Under the register's lock, no shards process of any home on this
        // host picks a block between this survey and this block's entry.
        let locked = site.register.lock(site.timeout)?;
        let mut elsewhere = holds::survey(&locked, site.ledger)?;
        // A worktree of this home's lost ledger comes back with its own
        // block, whatever listens in it (its own servers, most likely).
        let kept = match &spec.place {
            WorktreePlace::Fixed(path) => elsewhere.take_lost(path),
            WorktreePlace::Template { .. } => None,
        };
        let pool = kept
            .as_ref()
            .and_then(holds::Held::pool)
            .unwrap_or(config.pool);
        let mut listening = lookup::host_busy();
        let row = site.ledger.reserve(&new, &pool, |b| {
            elsewhere.overlaps(b) || (kept.is_none() && listening(b))
        })?;
        let entered = site
            .ledger
            .id()
            .and_then(|id| holds::enter(&locked, &id, site.ledger.path(), &row));
        if let Err(e) = entered {
            // No entry, no block: another home could hand it out.
            let _ = site.ledger.remove(row.id);
            return Err(e);
        }
        if let Some(held) = kept {
            let _ = locked.remove(held.block, &held.ledger_id);
        }
        Ok((row, holds::lost_warning(&elsewhere)))
    }

    /// Makes what the shard holds before its env file is written.
    fn build(&mut self, site: &mut Site<'_>, made: &mut Made) -> Result<()>;

    /// Sets the shard up once its env file is written (the `setup` hook).
    fn set_up(&mut self, _site: &mut Site<'_>, _made: &mut Made) -> Result<()> {
        Ok(())
    }

    /// Undoes what [`Build::build`] and [`Build::set_up`] made, as far as
    /// they got.
    fn undo(&mut self, site: &Site<'_>, row: &ShardRow) -> Undone;

    /// Runs once the shard is active, outside the undo (the `start` hook).
    fn started(&mut self, _site: &mut Site<'_>, _made: &mut Made) {}
}

/// Makes a shard by `build`: reserves its row and block, builds, writes the
/// env file, sets up and marks it `active`, then runs the build's last
/// step. On any failure before `active`, undoes the build and removes the
/// row (unless the undo left the worktree folder).
pub(super) fn establish<B: Build>(site: &mut Site<'_>, build: &mut B) -> Result<Made> {
    let (row, lost) = build.reserve(site)?;
    site.crash_point(&format!("{}:reserved", B::OP));
    let mut made = Made {
        row,
        warnings: lost.into_iter().collect(),
        copied: Copied::default(),
        start: StartHook::None,
    };
    match activate(site, build, &mut made) {
        Ok(()) => {
            build.started(site, &mut made);
            Ok(made)
        }
        Err(cause) => {
            // Errors of the undo are ignored on purpose: the first cause is
            // the one to report, and anything left is still `creating`,
            // which `prune` reclaims.
            match build.undo(site, &made.row) {
                Undone::All => {
                    if site.ledger.remove(made.row.id).is_ok() {
                        holds::erase(site.register, site.ledger, made.row.block, site.timeout);
                    }
                }
                Undone::HandedBack(spare) => {
                    let _ = site.ledger.hand_back(&spare);
                }
                Undone::FolderLeft => {}
            }
            Err(cause)
        }
    }
}

/// The steps between the reservation and `active`.
fn activate<B: Build>(site: &mut Site<'_>, build: &mut B, made: &mut Made) -> Result<()> {
    build.build(site, made)?;
    site.crash_point(&format!("{}:worktree", B::OP));
    let (_, config, _) = build.parts();
    let warnings = env::sync(site.ledger, site.home, &made.row, config)?;
    made.warnings.extend(warnings);
    site.crash_point(&format!("{}:env", B::OP));
    halt(&made.row)?;
    build.set_up(site, made)?;
    halt(&made.row)?;
    let done = match made.row.spare {
        Some(_) => ShardState::Spare,
        None => ShardState::Active,
    };
    site.ledger.set_state(made.row.id, done, None)?;
    made.row.state = done;
    made.row.pid = None;
    Ok(())
}

/// Fails with [`Error::Interrupted`] once SIGINT or SIGTERM came while
/// they are caught (`host::interrupt`), so the undo runs.
pub(super) fn halt(row: &ShardRow) -> Result<()> {
    match host::interrupt::caught() {
        Some(signal) => Err(Error::Interrupted {
            signal,
            name: row.name.clone(),
        }),
        None => Ok(()),
    }
}

/// Returns the error for a shard or branch name that cannot be used.
pub(super) fn invalid(name: &str, reason: String) -> Error {
    Error::InvalidName {
        name: name.to_string(),
        reason,
    }
}
