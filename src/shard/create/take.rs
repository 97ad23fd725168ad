//! Creating a shard from a spare: [`take_spare`] turns a ready spare that
//! fits into the planned shard in one ledger transaction, then builds it
//! as a [`Taking`] (see `build`): `git worktree move` to the shard's folder
//! (the row's folder follows once git moved it), the branch made as a cold
//! create's `git worktree add -b` makes it (`git branch NAME START` where
//! shards was run: the same start and upstream), and `git switch NAME` in
//! the spare (git writes only the files that differ and runs
//! `post-checkout`); the env file follows the new name, the block stays,
//! and the `start` hook runs as after any create. Its undo hands the spare
//! back: HEAD detached at the spare's base again (when git switched, even
//! if it then failed: a failing `post-checkout` is git's exit status), the
//! branch deleted, the worktree moved back, the env file naming the spare,
//! the row a spare again.
//!
//! Lifecycle layer: uses the ledger, worktree and host adapters.

use crate::config::Config;
use crate::config::hooks::Hooks;
use crate::error::{Error, Result};
use crate::ledger::{Ledger, ShardRow};
use crate::worktree::{CommitId, Repo};

use super::super::build::{Build, Made, Spec, StartHook, Undone, establish, halt};
use super::super::hooks::{self, Say};
use super::super::{Site, env, holds, spare};
use super::CreatePlan;
use super::plan::BranchSource;

/// Why a create made its shard cold rather than from a spare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cold {
    /// The branch exists already: a spare only takes a new branch.
    BranchExists,
    /// No spare of this repository is ready (none made, or being made).
    NoneReady,
    /// The spares were made for other settings, sparse patterns or key
    /// files than a create would use now.
    NoneFits,
    /// Taking one failed (git refused the move or the switch, say); it was
    /// handed back.
    Failed(String),
}

/// What became of a create that may take a spare.
pub enum Taken {
    /// The shard was made from a spare.
    Made(Box<Made>),
    /// No spare was taken, for this reason; nothing was changed.
    Cold(Cold, Box<CreatePlan>),
}

/// Makes the planned shard from a ready spare that fits, when there is one.
pub fn take_spare(
    site: &mut Site<'_>,
    repo: &Repo,
    plan: CreatePlan,
    config: &Config,
    hooks: &Hooks,
    say: Say<'_>,
) -> Result<Taken> {
    let Choice { start, fit } = match choose(site.ledger, repo, &plan, config)? {
        Ok(choice) => choice,
        Err(why) => return Ok(Taken::Cold(why, Box::new(plan))),
    };
    // A new branch: the take makes it, as the plan says.
    let new = plan.spec.new_shard(repo, config);
    let Some((was, row)) = site.ledger.take_spare(&new, &fit)? else {
        return Ok(Taken::Cold(Cold::NoneFits, Box::new(plan)));
    };
    let cold = plan.clone();
    let mut taking = Taking {
        repo,
        config,
        hooks,
        say,
        spec: plan.spec,
        start,
        was,
        row: Some(row),
        reached: Reached::Taken,
        branched: None,
    };
    let id = taking.was.id;
    match establish(site, &mut taking) {
        Ok(made) => Ok(Taken::Made(Box::new(made))),
        // Ctrl-C stops the create; the spare was handed back.
        Err(e @ Error::Interrupted { .. }) => Err(e),
        // Handed back: a cold create goes on. Not handed back (its undo
        // failed too), the row still holds the name, and the cause is
        // the create's error; `prune` reclaims the rest.
        Err(e) => match site.ledger.shard(id)? {
            Some(row) if row.spare.is_some() => Ok(Taken::Cold(
                Cold::Failed(crate::quote::clip(&e.to_string()).into_owned()),
                Box::new(cold),
            )),
            _ => Err(e),
        },
    }
}

/// What a create that may take a spare looks for.
pub(super) struct Choice {
    /// What the branch starts at, as `git worktree add -b NAME PATH
    /// [BASE]` would get it (`HEAD` without a `--base`).
    pub(super) start: String,
    /// What the spare must have been made to fit ([`spare::fit`]).
    pub(super) fit: String,
}

/// Decides whether the planned create may take a spare, before the
/// ledger is asked for one: the fit to take it by, or why it is made
/// cold. Reads only: shared by [`take_spare`] and the preview.
pub(super) fn choose(
    ledger: &Ledger,
    repo: &Repo,
    plan: &CreatePlan,
    config: &Config,
) -> Result<std::result::Result<Choice, Cold>> {
    if !matches!(plan.source, BranchSource::New { .. }) {
        return Ok(Err(Cold::BranchExists));
    }
    let start = plan.source.start_ref(&plan.spec.branch);
    let fit = spare::fit(repo, config, &plan.base)?;
    let spares = spare::of(ledger, repo)?;
    if !spares
        .iter()
        .any(|s| s.state == crate::model::ShardState::Spare)
    {
        return Ok(Err(Cold::NoneReady));
    }
    Ok(Ok(Choice { start, fit }))
}

/// A create from a spare as a build.
struct Taking<'a, 's> {
    repo: &'a Repo,
    config: &'a Config,
    hooks: &'a Hooks,
    say: Say<'s>,
    spec: Spec,
    /// What the branch starts at, as `git worktree add -b` would get it
    /// (`HEAD` without a `--base`).
    start: String,
    /// The spare as it was.
    was: ShardRow,
    /// The row the take made, until `reserve` hands it over.
    row: Option<ShardRow>,
    /// How far the claim got.
    reached: Reached,
    /// git made the branch, at this commit.
    branched: Option<CommitId>,
}

/// How far a claim got, in the order it goes: what its undo takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    /// The ledger turned the spare into the shard's row.
    Taken,
    /// git moved the worktree to the shard's folder.
    Moved,
    /// git was asked to switch to the branch (it may have, and failed).
    Switching,
    /// git switched to the branch.
    Switched,
}

impl Build for Taking<'_, '_> {
    const OP: &'static str = "create";

    fn parts(&self) -> (&Repo, &Config, &Spec) {
        (self.repo, self.config, &self.spec)
    }

    fn reserve(&mut self, site: &mut Site<'_>) -> Result<(ShardRow, Option<String>)> {
        let row = self
            .row
            .take()
            .ok_or(Error::ShardGone { id: self.was.id })?;
        // The block's entry in the host's register follows the worktree.
        holds::follow(site, &row);
        Ok((row, None))
    }

    fn build(&mut self, site: &mut Site<'_>, made: &mut Made) -> Result<()> {
        let (repo, row) = (self.repo, &made.row);
        halt(row)?;
        let _lock = super::super::worktree_lock(site.held_lock, &row.repo.git_dir, &|| halt(row))?;
        super::path_free(&row.path)?;
        crate::fsutil::create_worktree_parent(site.home, &row.path)?;
        repo.move_worktree(&self.was.path, &row.path)?;
        self.reached = Reached::Moved;
        // The row kept the spare's folder until now: killed before the
        // move, `prune` finds the worktree where the row says.
        site.ledger.set_path(row.id, &row.path)?;
        site.crash_point("create:spare-moved");
        halt(row)?;
        let said = repo.make_branch(&row.branch, &self.start)?;
        self.branched = Some(repo.resolve_base(Some(&format!("refs/heads/{}", row.branch)))?);
        made.warnings
            .extend(said.iter().map(|l| format!("git: {l}")));
        self.reached = Reached::Switching;
        repo.switch_branch(&row.path, &row.branch)?;
        self.reached = Reached::Switched;
        site.crash_point("create:spare-switched");
        halt(row)
    }

    fn undo(&mut self, site: &Site<'_>, row: &ShardRow) -> Undone {
        let repo = self.repo;
        let base = self
            .was
            .spare
            .as_ref()
            .map(|s| s.base.clone())
            .unwrap_or_default();
        let back = (|| -> Result<()> {
            let on_branch = |repo: &Repo| -> Result<bool> {
                Ok(repo.head_branch(&row.path)?.as_deref() == Some(row.branch.as_str()))
            };
            // git may have switched and still failed: a `post-checkout`
            // hook's failure is git's exit status.
            if self.reached >= Reached::Switching && on_branch(repo)? {
                let detached = repo.switch_detached(&row.path, &base);
                if on_branch(repo)? {
                    detached?;
                }
            }
            if let Some(at) = self.branched {
                repo.delete_branch_if_at(&row.branch, at)?;
            }
            if self.reached >= Reached::Moved {
                let _lock =
                    super::super::worktree_lock(site.held_lock, &row.repo.git_dir, &|| Ok(()))?;
                repo.move_worktree(&row.path, &self.was.path)?;
            }
            if self.reached == Reached::Switched {
                // The env file may name the shard by now: it names the
                // spare again. Not an error of the undo (the row would stay
                // at the shard's folder, the worktree being back in the
                // spare's): a claim writes the file again anyway.
                let _ = env::sync(site.ledger, site.home, &self.was, self.config);
            }
            Ok(())
        })();
        match back {
            Ok(()) => {
                // The block's entry in the host's register follows the
                // worktree back.
                holds::follow(site, &self.was);
                Undone::HandedBack(Box::new(self.was.clone()))
            }
            // Left `creating`: prune reclaims it once this process is gone.
            Err(_) => Undone::FolderLeft,
        }
    }

    fn started(&mut self, site: &mut Site<'_>, made: &mut Made) {
        let Some(hook) = &self.hooks.start else {
            return;
        };
        made.start = match hooks::vars(site.ledger, &made.row, self.config)
            .and_then(|vars| hooks::start(site, hook, &made.row, &vars, self.say))
        {
            Ok(record) => StartHook::Running(record),
            Err(e) => StartHook::Failed(e),
        };
    }
}
