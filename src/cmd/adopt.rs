//! `shards adopt`: register an existing linked worktree of this repository
//! as a shard, give it a block and write its env file (`shard::adopt`).

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::ShardView;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, RenderCtx};
use crate::shard::adopt;

/// Register an existing worktree as a shard
///
/// PATH must be a linked worktree of this repository (see `git worktree
/// list`) on a branch, and not a shard yet. It gets a block and an env
/// file; its files and branch stay as they are.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The worktree folder (a linked worktree of this repository)
    pub path: PathBuf,

    /// Shard name (default: the folder's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// The adopted shard.
#[derive(Debug, Serialize)]
pub struct AdoptReport {
    /// The shard.
    pub shard: ShardView,
    /// Warnings from writing the env file.
    pub warnings: Vec<String>,
}

/// Adopts a worktree.
pub fn run(ctx: &Ctx, args: &AdoptArgs) -> Result<AdoptReport> {
    let repo = ctx.repo()?;
    let target = ctx.cwd.join(&args.path);
    let plan = adopt::plan_adopt(repo, &target, args.name.as_deref())?;
    let config = ctx.config(&Overrides::default())?;
    let made = ctx.with_site(|site| adopt::adopt(site, repo, plan, &config))?;
    Ok(AdoptReport {
        shard: ShardView::of(&made.row),
        warnings: made.warnings,
    })
}

impl Render for AdoptReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        writeln!(w, "{}", self.shard.path.display())
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        let s = &self.shard;
        vec![format!(
            "Adopted {} as shard `{}` on branch `{}` (ports {}-{}).",
            s.path.display(),
            s.name,
            s.branch,
            s.ports.start,
            s.ports.end
        )]
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
