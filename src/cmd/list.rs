//! `shards list`: the shards of this repository (or all), read from the
//! ledger; the only things checked on disk are whether each worktree exists
//! and is still the shard's.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use crate::cmd::view::ShardView;
use crate::context::Ctx;
use crate::error::Result;
use crate::model::ShardStatus;
use crate::output::{Render, RenderCtx, Table};

/// List shards with their ports and state
///
/// Reads the ledger and checks only that each worktree folder exists and is
/// still the shard's git worktree, so it stays instant with hundreds of
/// shards. STATUS is active, missing (the worktree folder is gone),
/// replaced (the folder is no longer the shard's git worktree; `shards
/// prune` frees its block and leaves the folder), creating or destroying.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List the shards of every repository, not just this one
    #[arg(long)]
    pub all: bool,
}

/// The listed shards.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListReport {
    /// Shards, by repository then port.
    pub shards: Vec<ShardView>,
}

fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Lists shards.
pub fn run(ctx: &Ctx, args: &ListArgs) -> Result<ListReport> {
    let git_dir = if args.all {
        None
    } else {
        Some(ctx.repo()?.git_dir.clone())
    };
    let rows = ctx.ledger()?.list(git_dir.as_deref())?;
    Ok(ListReport {
        shards: rows.iter().map(ShardView::of).collect(),
    })
}

/// Renders with a REPO column when `opts` (`--all`) is set.
impl Render<bool> for ListReport {
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_, bool>) -> io::Result<()> {
        let all = cx.opts;
        let mut headers = vec!["NAME", "BRANCH", "PORTS", "STATUS", "AGE", "PATH"];
        if all {
            headers.insert(0, "REPO");
        }
        let now = std::time::SystemTime::now();
        let mut table = Table::new(headers);
        for s in &self.shards {
            let status = match s.status {
                ShardStatus::Active => s.status.to_string(),
                other => cx.style.paint("33", other.as_str()),
            };
            let mut row = vec![
                s.name.clone(),
                s.branch.clone(),
                format!("{}-{}", s.ports.start, s.ports.end),
                status,
                age(s.age_secs(now)),
                cx.path(&s.path),
            ];
            if all {
                row.insert(0, cx.path(&s.repo));
            }
            table.row(row);
        }
        table.write(w, cx.style)
    }

    fn notes(&self, _: &RenderCtx<'_, bool>) -> Vec<String> {
        let missing = self
            .shards
            .iter()
            .filter(|s| s.status != ShardStatus::Active)
            .count();
        let mut notes = Vec::new();
        if self.shards.is_empty() {
            notes.push("No shards yet: `shards create NAME` makes one.".to_string());
        } else if missing > 0 {
            notes.push(format!(
                "{missing} shard(s) are not active; `shards prune` reclaims those whose worktree or creator is gone, or whose folder was replaced."
            ));
        }
        notes
    }
}
