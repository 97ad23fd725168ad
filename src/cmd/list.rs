//! `shards list`: the shards of this repository (or all), read from the
//! ledger; the only thing checked on disk is whether each worktree exists.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use crate::cmd::shard::{self, ShardView};
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, Style, Table};

/// Arguments of `shards list`.
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
    #[serde(skip)]
    rows: Vec<Vec<String>>,
    #[serde(skip)]
    all: bool,
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
    let now = shard::now();
    let mut shards = Vec::with_capacity(rows.len());
    let mut cells = Vec::with_capacity(rows.len());
    for row in &rows {
        let view = ShardView::of(row);
        let mut line = vec![
            view.name.clone(),
            view.branch.clone(),
            format!("{}-{}", view.ports.start, view.ports.end),
            view.status.clone(),
            age(now - row.created_at),
            ctx.display_path(&view.path),
        ];
        if args.all {
            line.insert(0, ctx.display_path(&view.repo));
        }
        cells.push(line);
        shards.push(view);
    }
    Ok(ListReport {
        shards,
        rows: cells,
        all: args.all,
    })
}

impl Render for ListReport {
    fn render(&self, w: &mut dyn Write, style: Style) -> io::Result<()> {
        let mut headers = vec!["NAME", "BRANCH", "PORTS", "STATUS", "AGE", "PATH"];
        if self.all {
            headers.insert(0, "REPO");
        }
        let mut table = Table::new(headers);
        for row in &self.rows {
            let mut row = row.clone();
            let status = &mut row[if self.all { 4 } else { 3 }];
            if *status != "active" {
                *status = style.paint("33", status);
            }
            table.row(row);
        }
        table.write(w, style)
    }

    fn notes(&self) -> Vec<String> {
        let missing = self.shards.iter().filter(|s| s.status != "active").count();
        let mut notes = Vec::new();
        if self.shards.is_empty() {
            notes.push("No shards yet: `shards create NAME` makes one.".to_string());
        } else if missing > 0 {
            notes.push(format!(
                "{missing} shard(s) are not active; `shards prune` reclaims those whose worktree or creator is gone."
            ));
        }
        notes
    }
}
