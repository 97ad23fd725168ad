//! Spares: shards made ahead of their names (`[spares] count`), each a
//! worktree detached at the base under the home, with its block, env file,
//! `.worktreeinclude` copies and `setup` hook done (`SHARD_SPARE=1`).
//!
//! A spare is made by the same build as a create ([`super::create`]'s
//! `Checkout`, planned by `plan_spare`), so it is undone, or reclaimed by
//! `prune` when its maker was killed, like any shard; it ends in the state
//! `spare` rather than `active`, and its `start` hook waits for a claim.
//! What it was made to fit ([`fit`]: the settings that shape a shard, the
//! sparse patterns, the `key` files' content at the base) is recorded, so a
//! claim takes only a spare that is what a cold create would make.
//!
//! Lifecycle layer: uses the ledger, worktree and host adapters.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::config::hooks::Hooks;
use crate::error::{Error, Result};
use crate::ledger::{Ledger, ShardRow};
use crate::model::{ShardName, ShardState};
use crate::worktree::{CommitId, Repo};

use super::build::Made;
use super::create::{self, Tell, plan_spare};
use super::hooks::Say;
use super::reclaim::{self, Reclaimed, TeardownHook};
use super::{Site, check};

/// Returns the base spares of `repo` track: `[spares] base`, else the
/// default branch (as `list --full` finds it), as a commit.
pub fn base(repo: &Repo, config: &Config) -> Result<CommitId> {
    match &config.spares.base {
        Some(spec) => repo.resolve_base(Some(spec)),
        None => match crate::worktree::default_branch(&repo.git_dir)? {
            Some(default) => repo.resolve_base(Some(&default.refname)),
            None => repo.resolve_base(None),
        },
    }
}

/// Returns what a spare made now at `base` fits: a hash of the settings
/// that shape a shard (hooks, copy and env settings, block size and named
/// ports), the main worktree's sparse patterns and `.worktreeinclude`
/// list, and the `key` files' content at `base`. Two spares with the same
/// fit are interchangeable. The included files themselves are as they were
/// at the fill (hashing them would cost a walk of the main worktree).
pub fn fit(repo: &Repo, config: &Config, base: &CommitId) -> Result<String> {
    let mut hash = Sha256::new();
    let shape = format!(
        "hooks {:?}\ncopy {:?}\nenv {} {} {}\nblock {}\nservices {:?}{}\n",
        config.hooks,
        config.copy_symlink,
        config.env_file,
        config.direnv,
        config.compose,
        config.pool.block_size(),
        config.services,
        // Spares filled before services could say more keep their fit.
        match config.service_info.is_empty() {
            true => String::new(),
            false => format!(" {:?}", config.service_info),
        },
    );
    hash.update(shape.as_bytes());
    // What git checks out (sparse patterns) and what is copied in (the
    // main worktree's include list) shape the spare as the settings do.
    let sparse = repo.git_dir.join("info/sparse-checkout");
    let include = repo.root.join(super::copy::INCLUDE_FILE);
    for file in [&sparse, &include] {
        hash.update(file.as_os_str().as_encoded_bytes());
        match std::fs::read(file) {
            Ok(bytes) => hash.update(Sha256::digest(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => hash.update(b"\x00"),
            Err(e) => return Err(Error::io(file, e)),
        }
    }
    for key in &config.spares.key {
        hash.update(key.as_bytes());
        match repo.file_at(base, key)? {
            Some(bytes) => {
                hash.update(b"\x01");
                hash.update(Sha256::digest(&bytes));
            }
            None => hash.update(b"\x00"),
        }
    }
    Ok(hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Returns the spares of `repo` (made and being made).
pub fn of(ledger: &Ledger, repo: &Repo) -> Result<Vec<ShardRow>> {
    Ok(ledger
        .list(Some(&repo.git_dir))?
        .into_iter()
        .filter(|r| r.spare.is_some())
        .collect())
}

/// Whether a spare is ready to claim, still being made, or made to fit
/// something else than what a create would make now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Made, and it fits.
    Ready,
    /// Its maker is at work (or was killed: then `prune` reclaims it).
    Filling,
    /// Made for other settings, sparse patterns or key files.
    Stale,
}

impl Readiness {
    /// Returns the word shown in tables and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::Filling => "filling",
            Readiness::Stale => "stale",
        }
    }
}

/// Returns how `spare` stands against `fit`, what a spare made now fits.
pub fn readiness(spare: &ShardRow, fit: &str) -> Readiness {
    match (&spare.state, &spare.spare) {
        (ShardState::Spare, Some(of)) if of.fit == fit => Readiness::Ready,
        (ShardState::Spare, _) => Readiness::Stale,
        _ => Readiness::Filling,
    }
}

/// Makes spares until `repo` has `config.spares.count` that fit, one at a
/// time (each a build of its own: a failed one is undone and stops the
/// fill); returns those made. `checkout` hears (done, total) as each
/// spare's checkout goes; `say` hears each spare made.
pub fn fill(
    site: &mut Site<'_>,
    repo: &Repo,
    config: &Config,
    hooks: &Hooks,
    say: Say<'_>,
    checkout: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Made>> {
    let base = base(repo, config)?;
    let fit = fit(repo, config, &base)?;
    let have = of(site.ledger, repo)?
        .iter()
        .filter(|s| readiness(s, &fit) != Readiness::Stale)
        .count();
    let mut made = Vec::new();
    for _ in have..usize::from(config.spares.count) {
        let name = spare_name()?;
        let template = format!("{}/spares/{{repo}}/{{name}}", site.home.display());
        let plan = plan_spare(site.ledger, repo, name, template, base, fit.clone())?;
        let mut copying = |_, _| {};
        let tell = Tell {
            say,
            checkout: &mut *checkout,
            copying: &mut copying,
        };
        let spare = create::create(site, repo, plan, config, hooks, tell)?;
        say(&format!(
            "Made spare `{}` (ports {}-{}).",
            spare.row.name,
            spare.row.block.start(),
            spare.row.block.end()
        ));
        made.push(spare);
    }
    Ok(made)
}

/// Removes a spare: its teardown hook (when one may run), its worktree,
/// its row and block. Whatever its worktree holds goes with it: a spare is
/// shards' own, never the user's work.
pub fn drop_spare(
    site: &mut Site<'_>,
    repo: &Repo,
    spare: &ShardRow,
    hook: &TeardownHook<'_>,
) -> Result<Reclaimed> {
    let work = check::work(repo, spare, hook.config, check::Force::Work)?;
    reclaim::destroy(site, repo, spare, work, hook)
}

/// Returns a fresh spare name, `spare-` and 8 hex digits.
fn spare_name() -> Result<ShardName> {
    let mut bytes = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| Error::io(Path::new("/dev/urandom"), e))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    ShardName::parse(&format!("spare-{hex}"))
        .map_err(|reason| Error::InvalidName { name: hex, reason })
}
