//! Creating a shard: [`plan_create`] (`plan.rs`) checks the name, branch,
//! base and path against the repository and the ledger, writing nothing; [`create`]
//! makes the planned shard as a [`Checkout`] build (see `build`): the
//! user's `git worktree add`, then the ignored files `.worktreeinclude`
//! names, then (after the env file) the `setup` hook, and once the shard is
//! active, the `start` hook. Its undo removes only what this create made.
//! [`preview`] (`preview.rs`) finds what a create would make now, by the
//! same checks and pick, writing nothing (`create --dry-run`).
//!
//! Lifecycle layer: uses the ledger, worktree and host adapters.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::config::hooks::Hooks;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::ShardRow;
use crate::worktree::{CommitId, Outcome, Repo};

mod plan;
mod preview;
mod take;

pub use plan::{CreatePlan, CreateRequest, Names, plan_create, plan_spare};
pub use preview::{Preview, Source, preview};
pub use take::{Cold, Taken, take_spare};

use super::build::{Build, Made, Spec, StartHook, Undone, establish, halt};
use super::copy::bring_over;
use super::hooks::{self, Say};
use super::{Site, env, reap};

/// Where a create says how it goes.
pub struct Tell<'a> {
    /// Hears the hook steps' announcements.
    pub say: Say<'a>,
    /// Hears (done, total) as the checkout goes.
    pub checkout: &'a mut dyn FnMut(usize, usize),
    /// Hears (done, total) as the copy goes.
    pub copying: &'a mut dyn FnMut(usize, usize),
}

/// Creates a planned shard: block, then branch and worktree by the user's
/// `git worktree add`, then the gitignored files `.worktreeinclude` names
/// (`shard::copy`), then the env file, then the `setup` hook of `hooks`
/// (those [`super::hooks::allowed`] let run; its steps announced through
/// `tell.say`), then, once it is active, the `start` hook.
pub fn create(
    site: &mut Site<'_>,
    repo: &Repo,
    plan: CreatePlan,
    config: &Config,
    hooks: &Hooks,
    tell: Tell<'_>,
) -> Result<Made> {
    let mut checkout = Checkout {
        repo,
        config,
        hooks,
        tell,
        plan,
        before: None,
    };
    establish(site, &mut checkout)
}

/// A create as a build: what it was asked, and what it has made so far.
struct Checkout<'a, 't> {
    repo: &'a Repo,
    config: &'a Config,
    hooks: &'a Hooks,
    tell: Tell<'t>,
    plan: CreatePlan,
    /// What was there before git ran, noted under the repository's
    /// worktree lock once the path was found free. Until then, nothing at
    /// the path is this create's, and the undo leaves it alone.
    before: Option<Before>,
}

/// What was there before this create's git ran, so that its undo removes
/// only what git added.
struct Before {
    /// git's worktree records.
    records: HashSet<String>,
    /// The commit at which the undo deletes the branch: set when git makes
    /// the branch now, and the undo deletes it only while it is still there.
    branch_made_at: Option<CommitId>,
    /// When this was noted: a branch lock file git left since is this
    /// create's (see `Repo::remove_branch_lock`).
    at: std::time::SystemTime,
}

impl Build for Checkout<'_, '_> {
    const OP: &'static str = "create";

    fn parts(&self) -> (&Repo, &Config, &Spec) {
        (self.repo, self.config, &self.plan.spec)
    }

    fn build(&mut self, site: &mut Site<'_>, made: &mut Made) -> Result<()> {
        made.warnings.append(&mut self.plan.warnings);
        self.check_out(site, made)?;
        self.bring_over(site, made)
    }

    fn set_up(&mut self, site: &mut Site<'_>, made: &mut Made) -> Result<()> {
        // The setup hook runs in the checked-out worktree with its env
        // file; a failing step (or a signal) fails the create.
        if let Some(hook) = &self.hooks.setup {
            let row = &made.row;
            let vars = hooks::vars(site.ledger, row, self.config)?;
            let say = self.tell.say;
            let warnings = hooks::run("setup", hook, row, &vars, say, &|| halt(row), true)?;
            made.warnings.extend(warnings);
        }
        // A spare is ready once a claim's switch would be fast: its index
        // newer than its files (see `worktree::settle`).
        if made.row.spare.is_some() {
            let row = &made.row;
            self.repo
                .settle_index(&row.path, &row.wt_name, &|| halt(row))?;
        }
        Ok(())
    }

    fn undo(&mut self, site: &Site<'_>, row: &ShardRow) -> Undone {
        let Some(before) = self.before.take() else {
            return Undone::All;
        };
        let repo = self.repo;
        // The path was free when this create began: what runs from it now
        // was started by the create (its setup hook's daemons, out of the
        // steps' process groups). It goes with the folder, or it would
        // hold the freed block's ports.
        stop_leftovers(row);
        let _lock = super::worktree_lock(site.held_lock, &row.repo.git_dir, &|| Ok(()));
        // git's name for the record, which may differ from the one planned.
        let ours = repo
            .worktree_name_at(&row.path)
            .filter(|name| !before.records.contains(name));
        // Each step is tried on its own, so one that fails does not keep
        // the others from undoing their part.
        let folder = match &ours {
            Some(name) => repo.remove_worktree(name, &row.path).map(|_| ()),
            None => Ok(()),
        };
        // git killed part-way can leave a record and a folder holding only
        // an unfinished `.git` file, which no `.git` link names yet.
        let _ = repo.remove_unfinished(&row.path, &before.records, true);
        if let Some(at) = before.branch_made_at {
            let _ = repo.remove_branch_lock(&row.branch, before.at);
            let _ = repo.delete_branch_if_at(&row.branch, at);
        }
        match folder.is_err() && ours.is_some_and(|name| repo.owns_folder(&name, &row.path)) {
            true => Undone::FolderLeft,
            false => Undone::All,
        }
    }

    fn started(&mut self, site: &mut Site<'_>, made: &mut Made) {
        // A spare's start hook runs when a create claims it.
        let Some(hook) = self
            .hooks
            .start
            .as_ref()
            .filter(|_| made.row.spare.is_none())
        else {
            return;
        };
        let say = self.tell.say;
        made.start = match hooks::vars(site.ledger, &made.row, self.config)
            .and_then(|vars| hooks::start(site, hook, &made.row, &vars, say))
        {
            Ok(record) => StartHook::Running(record),
            Err(e) => StartHook::Failed(e),
        };
    }
}

impl Checkout<'_, '_> {
    /// Checks the path free and runs `git worktree add`, under the
    /// repository's worktree lock; the row takes the name git gave the
    /// worktree's record.
    fn check_out(&mut self, site: &mut Site<'_>, made: &mut Made) -> Result<()> {
        let (repo, row) = (self.repo, &made.row);
        halt(row)?;
        // Taken before the path and branch are checked, so no other shards
        // process adds a worktree there between the check and git's run;
        // a Ctrl-C while another create holds it ends the wait.
        let lock = super::worktree_lock(site.held_lock, &row.repo.git_dir, &|| halt(row))?;
        path_free(&row.path)?;
        let makes_branch = row.made_branch && !repo.branch_exists(&row.branch);
        self.before = Some(Before {
            records: repo.worktree_records(),
            branch_made_at: makes_branch.then_some(self.plan.base),
            // A second early: a file system's times may be coarser than ours.
            at: std::time::SystemTime::now() - Duration::from_secs(1),
        });
        site.crash_point("create:branch");
        halt(row)?;
        crate::fsutil::create_worktree_parent(site.home, &row.path)?;
        // A crash point mid-checkout kills git first, as a power cut would.
        let crash = site.crash_at == Some("create:checkout");
        let mut checking = false;
        // A shards that git's hooks start must not wait for this lock.
        let held = lock.as_ref().map(|(_, path)| path.as_os_str());
        let env: Vec<_> = held
            .map(|p| (crate::paths::SHARDS_HELD_REPO_LOCK, p))
            .into_iter()
            .collect();
        let progress = &mut self.tell.checkout;
        let start = self.plan.source.start();
        let outcome = repo.add_worktree(&row.path, &row.branch, start, &env, &mut |p| {
            if let Some((done, total)) = p {
                checking = true;
                progress(done, total);
            }
            !(crash && checking) && host::interrupt::caught().is_none()
        });
        drop(lock);
        let outcome = outcome?;
        site.crash_point("create:checkout");
        halt(row)?;
        let Outcome::Added(added) = outcome else {
            return Err(Error::GitFailed {
                command: "git worktree add".into(),
                code: None,
                output: "it was stopped".into(),
            });
        };
        if added.wt_name != made.row.wt_name {
            site.ledger.set_wt_name(made.row.id, &added.wt_name)?;
            made.row.wt_name = added.wt_name;
        }
        made.warnings
            .extend(added.said.iter().map(|l| format!("git: {l}")));
        Ok(())
    }

    /// Copies in what `.worktreeinclude` names, before the env file is
    /// written, so its section lands in a copied env file, whose lines
    /// setting the shard's keys are disowned.
    fn bring_over(&mut self, site: &mut Site<'_>, made: &mut Made) -> Result<()> {
        let vars = env::current_vars(site.ledger, &made.row, self.config)?;
        let keys: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        let stop = || host::interrupt::caught().is_some();
        let (path, copying) = (&made.row.path, &mut self.tell.copying);
        let brought =
            bring_over(self.repo, path, self.config, &keys, &stop, copying)?.unwrap_or_default();
        if let Some(bytes) = &brought.env_copied {
            site.ledger.set_env_copied(made.row.id, bytes)?;
            made.row.env_copied = Some(bytes.clone());
        }
        made.copied = brought;
        site.crash_point("create:copied");
        halt(&made.row)
    }
}

/// Fails with [`Error::PathTaken`] when anything is at `path` (a file, a
/// folder, a dangling link): a new shard's worktree folder must be free.
fn path_free(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(Error::PathTaken {
            path: path.to_path_buf(),
        }),
        Err(_) => Ok(()),
    }
}

/// How long a process left running by an undone create gets before SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// Stops what still runs from an undone create's worktree (see
/// `reap::find`, which spares shards and its ancestors); a process that
/// cannot be stopped is left, as the undo goes on.
fn stop_leftovers(row: &ShardRow) {
    let found = reap::find(&[row], &[None]);
    let procs: Vec<&[reap::Running]> = found.iter().map(|f| f.procs.as_slice()).collect();
    if procs.iter().any(|p| !p.is_empty()) {
        let _ = reap::stop(&procs, LEFTOVER_GRACE);
    }
}
