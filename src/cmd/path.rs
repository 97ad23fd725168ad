//! `shards path`: print a shard's worktree folder, for `cd "$(shards path x)"`.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, RenderCtx};
use crate::shard::lookup;

/// Print a shard's worktree path
///
/// For `cd "$(shards path NAME)"`.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// Shard name
    pub name: String,
}

/// A shard's worktree folder.
#[derive(Debug, Serialize)]
pub struct PathReport {
    /// Shard name.
    pub name: String,
    /// Worktree folder (absolute).
    pub path: PathBuf,
}

/// Finds a shard's worktree folder.
pub fn run(ctx: &Ctx, args: &PathArgs) -> Result<PathReport> {
    let repo = ctx.repo()?;
    let row = lookup::require(&*ctx.ledger()?, repo, &args.name)?;
    Ok(PathReport {
        name: row.name,
        path: row.path,
    })
}

impl Render for PathReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        writeln!(w, "{}", self.path.display())
    }

    fn warnings(&self) -> Vec<String> {
        if self.path.exists() {
            Vec::new()
        } else {
            vec![format!(
                "the worktree {} is missing; `shards prune` reclaims its ports",
                self.path.display()
            )]
        }
    }
}
