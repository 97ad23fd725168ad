//! Adopting a worktree made by hand: [`plan_adopt`] checks that it is a
//! linked worktree of the repository on a branch, [`adopt`] gives it a block
//! and an env file as an [`Adoption`] build (see `build`), which makes
//! nothing on disk and whose undo removes only the row (its files and
//! branch were the user's before).
//!
//! Lifecycle layer: uses the ledger and worktree adapters.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::ShardName;
use crate::worktree::{self, Repo};

use super::Site;
use crate::ledger::ShardRow;
use crate::template::WorktreePlace;

use super::build::{Build, Made, Spec, Undone, establish, invalid};

/// An existing worktree checked to become a shard.
pub struct AdoptPlan {
    /// The path as given, for messages.
    given: PathBuf,
    /// The worktree's canonical folder.
    target: PathBuf,
    spec: Spec,
}

/// Checks that `target` is a linked worktree of `repo` on a branch, and
/// names it (`name`, else the folder's name).
pub fn plan_adopt(repo: &Repo, target: &Path, name: Option<&str>) -> Result<AdoptPlan> {
    let given = target;
    let cannot = |reason: &str| Error::CannotAdopt {
        path: given.to_path_buf(),
        reason: reason.to_string(),
    };
    let target = std::fs::canonicalize(target).map_err(|e| Error::io(target, e))?;
    let info = worktree::inspect(&target).map_err(|_| cannot("it is not a git worktree"))?;
    if info.git_dir != repo.git_dir {
        return Err(cannot("it belongs to another repository"));
    }
    if info.root.as_deref() != Some(target.as_path()) {
        return Err(cannot("it is not the top folder of a worktree"));
    }
    let (true, Some(wt_name)) = (info.linked, info.wt_name) else {
        return Err(cannot(
            "it is the repository's main worktree, not a linked one",
        ));
    };
    let branch = info
        .branch
        .ok_or_else(|| cannot("its HEAD is detached; check out a branch first"))?;
    let raw = match name {
        Some(n) => n.to_string(),
        None => target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string(),
    };
    let name_given = name.is_some();
    let name = ShardName::parse(&raw).map_err(|reason| {
        let reason = match name_given {
            true => reason,
            false => format!("{reason} (name the shard with --name)"),
        };
        invalid(&raw, reason)
    })?;
    Ok(AdoptPlan {
        given: given.to_path_buf(),
        target: target.clone(),
        spec: Spec {
            name,
            branch,
            wt_name,
            place: WorktreePlace::Fixed(target.clone()),
            made_branch: false,
            spare: None,
        },
    })
}

/// Registers a checked worktree that is not a shard yet: block and env
/// file. Its files and branch were the user's before, so an undo removes
/// only the row.
pub fn adopt(site: &mut Site<'_>, repo: &Repo, plan: AdoptPlan, config: &Config) -> Result<Made> {
    let target = &plan.target;
    let already = site
        .ledger
        .list(Some(&repo.git_dir))?
        .into_iter()
        .find(|r| {
            r.wt_name == plan.spec.wt_name
                || std::fs::canonicalize(&r.path).is_ok_and(|p| &p == target)
        });
    if let Some(existing) = already {
        return Err(Error::CannotAdopt {
            path: plan.given,
            reason: format!("it is already shard `{}`", existing.name),
        });
    }
    establish(
        site,
        &mut Adoption {
            repo,
            config,
            spec: plan.spec,
        },
    )
}

/// An adopt as a build: the worktree is there already, and set up (an
/// adopt runs no hooks), so it builds nothing and undoes nothing.
struct Adoption<'a> {
    repo: &'a Repo,
    config: &'a Config,
    spec: Spec,
}

impl Build for Adoption<'_> {
    const OP: &'static str = "adopt";

    fn parts(&self) -> (&Repo, &Config, &Spec) {
        (self.repo, self.config, &self.spec)
    }

    fn build(&mut self, _site: &mut Site<'_>, _made: &mut Made) -> Result<()> {
        Ok(())
    }

    fn undo(&mut self, _site: &Site<'_>, _row: &ShardRow) -> Undone {
        Undone::All
    }
}
