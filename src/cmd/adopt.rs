//! `shards adopt`: register an existing linked worktree of this repository
//! as a shard, give it a block and write its env file.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::shard::{self, ShardView};
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::NewShard;
use crate::model::{ShardName, ShardState};
use crate::output::{Render, Style};
use crate::worktree;

/// Arguments of `shards adopt`.
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
    let cannot = |reason: &str| Error::CannotAdopt {
        path: target.clone(),
        reason: reason.to_string(),
    };
    let target = std::fs::canonicalize(&target).map_err(|e| Error::io(&target, e))?;
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
    let raw_name = match &args.name {
        Some(n) => n.clone(),
        None => target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string(),
    };
    let name = ShardName::parse(&raw_name).map_err(|reason| Error::InvalidName {
        name: raw_name.clone(),
        reason: if args.name.is_none() {
            format!("{reason} (name the shard with --name)")
        } else {
            reason
        },
    })?;
    let config = ctx.config(&Overrides::default())?;
    let already = ctx
        .ledger()?
        .list(Some(&repo.git_dir))?
        .into_iter()
        .find(|r| {
            r.wt_name == wt_name || std::fs::canonicalize(&r.path).is_ok_and(|p| p == target)
        });
    if let Some(existing) = already {
        return Err(cannot(&format!("it is already shard `{}`", existing.name)));
    }
    let new = NewShard {
        git_dir: &repo.git_dir,
        root: &repo.root,
        dir_name: &repo.name,
        name: name.as_str(),
        branch: &branch,
        path: &target,
        wt_name: &wt_name,
        made_branch: false,
        pid: host::current_process(),
        now: shard::now(),
        services: &config.services,
    };
    let mut row = ctx
        .ledger()?
        .reserve(&new, &config.pool, shard::host_busy())?;
    let warnings = match shard::sync_env(ctx, &row, &config) {
        Ok(w) => w,
        Err(e) => {
            // The worktree was the user's before: only the row is ours to undo.
            let _ = ctx.ledger()?.remove(row.id);
            return Err(e);
        }
    };
    ctx.ledger()?.set_state(row.id, ShardState::Active, None)?;
    row.state = ShardState::Active;
    Ok(AdoptReport {
        shard: ShardView::of(&row),
        warnings,
    })
}

impl Render for AdoptReport {
    fn render(&self, w: &mut dyn Write, _: Style) -> io::Result<()> {
        writeln!(w, "{}", self.shard.path.display())
    }

    fn notes(&self) -> Vec<String> {
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
