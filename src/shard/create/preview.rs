//! Previewing a create (`create --dry-run`): the branch, base, folder and
//! block a create would use now, and whether it would claim a spare, found
//! by the checks and the pick [`super::create`] and [`super::take_spare`]
//! make, with nothing written. The ledger is only read (the preview holds
//! it as `&Ledger`, which cannot write), the host's register only glanced
//! at ([`holds::glance`], no lock, no entry), and no git, file or hook runs.
//!
//! Lifecycle layer: uses the ledger, register, worktree and host adapters.

use std::path::PathBuf;

use crate::config::Config;
use crate::config::hooks::Hooks;
use crate::error::Result;
use crate::ledger::services::{Configured, ServicePort};
use crate::model::PortBlock;
use crate::worktree::{CommitId, Repo};

use super::super::{Site, holds, lookup};
use super::take::{Choice, choose};
use super::{Cold, CreatePlan, path_free};

/// What a create would make now.
pub struct Preview {
    /// The shard's name.
    pub name: String,
    /// Its branch.
    pub branch: String,
    /// Whether the create would make the branch (else it exists).
    pub new_branch: bool,
    /// What the branch starts at, as given (`HEAD`, `--base`, the
    /// remote-tracking branch, or the existing branch).
    pub base_ref: String,
    /// The commit that is now.
    pub base: CommitId,
    /// The worktree folder.
    pub path: PathBuf,
    /// The port block.
    pub block: PortBlock,
    /// The named ports it would hold.
    pub services: Vec<ServicePort>,
    /// Claimed from a spare, or made cold.
    pub source: Source,
    /// The hooks that would run (`setup`, `start`), in order.
    pub hooks: Vec<&'static str>,
    /// What the create would warn of (an ignored `--base`, a lost
    /// ledger's blocks held).
    pub warnings: Vec<String>,
}

/// Where a previewed shard would come from.
pub enum Source {
    /// The spare of this name would be claimed, keeping its block.
    Spare(String),
    /// It would be made cold; with spares on, for this reason.
    Cold(Option<Cold>),
}

/// Returns what [`super::create`] (or, with `spares`, [`super::take_spare`]
/// first) would make of `plan` now, failing as it would fail: the name,
/// branch and folder checked in the ledger, the block picked as a
/// reservation picks it (the lowest free one that nothing on this host
/// listens on or holds), the folder found free. Writes nothing.
pub fn preview(
    site: &Site<'_>,
    repo: &Repo,
    plan: CreatePlan,
    config: &Config,
    hooks: &Hooks,
    spares: bool,
) -> Result<Preview> {
    let ledger = &*site.ledger;
    let new = plan.spec.new_shard(repo, config);
    let mut warnings = plan.warnings.clone();
    // The spare a claim would take, or why none (`None`: spares are off).
    let spare = match spares {
        true => match choose(ledger, repo, &plan, config)? {
            Ok(Choice { fit, .. }) => ledger
                .spare_to_take(&new, &fit)?
                .ok_or(Some(Cold::NoneFits)),
            Err(why) => Err(Some(why)),
        },
        false => Err(None),
    };
    let (path, block, services, source) = match spare {
        Ok((path, spare)) => {
            let services = ledger.services(spare.id)?;
            (path, spare.block, services, Source::Spare(spare.name))
        }
        Err(why) => {
            // As `Build::reserve` picks for a create: what other ledgers
            // hold, and what listens on this host.
            let elsewhere = holds::glance(site.register, ledger)?;
            let mut listening = lookup::host_busy();
            let (path, block) = ledger.would_reserve(&new, &config.pool, |b| {
                elsewhere.overlaps(b) || listening(b)
            })?;
            warnings.extend(holds::lost_warning(&elsewhere));
            let services = configured_in(config, block);
            (path, block, services, Source::Cold(why))
        }
    };
    // What `git worktree add` (or a claim's move) would refuse.
    path_free(&path)?;
    let base_ref = plan.source.start_ref(&plan.spec.branch);
    // A spare ran its setup when it was made; its start waits for a claim.
    let claimed = matches!(source, Source::Spare(_));
    let run = [
        ("setup", hooks.setup.is_some() && !claimed),
        ("start", hooks.start.is_some()),
    ];
    Ok(Preview {
        name: plan.spec.name.to_string(),
        branch: plan.spec.branch.clone(),
        new_branch: plan.spec.made_branch,
        base_ref,
        base: plan.base,
        path,
        block,
        services,
        source,
        hooks: run.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect(),
        warnings,
    })
}

/// Returns the configured services a new shard of `block` gets, at their
/// offsets, as a reservation allocates them ([`Configured::fitting`]).
fn configured_in(config: &Config, block: PortBlock) -> Vec<ServicePort> {
    let configured = Configured::of(config);
    let mut ports: Vec<ServicePort> = configured
        .fitting(block)
        .into_iter()
        .map(|name| ServicePort {
            port: block.start() + configured.offsets[&name],
            info: config.service_info.get(&name).cloned().unwrap_or_default(),
            service: name,
        })
        .collect();
    ports.sort_by_key(|s| s.port);
    ports
}
