//! `shards recover`: bring the shards of this home's lost ledger back into
//! the ledger, each with its own block (`shard::holds::lost`, then
//! `shard::adopt` of each worktree).

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::{PortsView, ShardView};
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, RenderCtx, Table, error_text};
use crate::register::Register;
use crate::shard::{adopt, holds};
use crate::worktree::Repo;

/// Bring back the shards of a lost ledger
///
/// When this home's ledger was deleted or moved aside and made anew, its
/// shards' blocks stay held in the host's block register (so no new shard
/// gets them) while their worktrees are there. `recover` adopts each such
/// worktree again with its own block and name; a worktree that cannot be
/// adopted (moved, detached, no longer a worktree) is reported and keeps
/// its block out of use until it is gone.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Show what would come back, changing nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// What `recover` brought back and what it could not.
#[derive(Debug, Serialize)]
pub struct RecoverReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The shards back in the ledger (or that would be, in a dry run).
    pub recovered: Vec<Recovered>,
    /// The lost shards that could not come back, and why.
    pub skipped: Vec<Skipped>,
}

/// A shard brought back.
#[derive(Debug, Serialize)]
pub struct Recovered {
    /// Its name.
    pub name: String,
    /// Its worktree.
    pub path: PathBuf,
    /// Its block, the one it held before.
    pub ports: PortsView,
    /// The shard as the ledger now holds it (absent in a dry run).
    pub shard: Option<ShardView>,
}

/// A lost shard that could not come back.
#[derive(Debug, Serialize)]
pub struct Skipped {
    /// Its name.
    pub name: String,
    /// Its worktree.
    pub path: PathBuf,
    /// Its block, still held.
    pub ports: PortsView,
    /// Why it could not be adopted.
    pub reason: String,
}

/// Brings back every shard of this home's lost ledger.
pub fn run(ctx: &Ctx, args: &RecoverArgs) -> Result<RecoverReport> {
    let lost = {
        let ledger = ctx.ledger()?;
        holds::lost(
            &Register::new(ctx.env.register.clone()),
            &ledger,
            ctx.timeout(),
        )?
    };
    let mut report = RecoverReport {
        dry_run: args.dry_run,
        recovered: Vec::new(),
        skipped: Vec::new(),
    };
    for shard in lost {
        let ports = PortsView::of(shard.block);
        match bring_back(ctx, &shard, args.dry_run) {
            Ok(view) => report.recovered.push(Recovered {
                name: shard.name,
                path: shard.worktree,
                ports,
                shard: view,
            }),
            Err(e) => report.skipped.push(Skipped {
                name: shard.name,
                path: shard.worktree,
                ports,
                reason: error_text(&e),
            }),
        }
    }
    Ok(report)
}

/// Adopts one lost shard's worktree again (checks only, in a dry run).
fn bring_back(ctx: &Ctx, shard: &holds::Lost, dry_run: bool) -> Result<Option<ShardView>> {
    let repo = Repo::discover(&shard.worktree)?;
    let plan = adopt::plan_adopt(&repo, &shard.worktree, Some(&shard.name))?;
    if dry_run {
        return Ok(None);
    }
    let config = ctx.config_in(repo.workdir.as_deref(), &Overrides::default())?;
    let made = ctx.with_site(|site| adopt::adopt(site, &repo, plan, &config))?;
    Ok(Some(ShardView::of(&made.row)))
}

impl Render for RecoverReport {
    fn render(&self, w: &mut dyn Write, ctx: &RenderCtx<'_>) -> io::Result<()> {
        if self.recovered.is_empty() {
            return Ok(());
        }
        let mut table = Table::new(vec!["NAME", "PORTS", "PATH"]);
        for r in &self.recovered {
            table.row(vec![
                r.name.clone(),
                format!("{}-{}", r.ports.start, r.ports.end),
                ctx.path(&r.path),
            ]);
        }
        table.write(w, ctx.style)
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        let verb = if self.dry_run {
            "Would recover"
        } else {
            "Recovered"
        };
        let mut notes = vec![match self.recovered.len() {
            0 => {
                format!("{verb} no shard: this home's ledger has lost none that still hold blocks.")
            }
            1 => format!("{verb} 1 shard with the block it held."),
            n => format!("{verb} {n} shards, each with the block it held."),
        }];
        for s in &self.skipped {
            notes.push(format!(
                "Could not recover `{}` at {} (ports {}-{} stay held while it is there): {}",
                s.name,
                s.path.display(),
                s.ports.start,
                s.ports.end,
                s.reason
            ));
        }
        notes
    }
}
