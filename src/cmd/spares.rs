//! `shards spares`: list, fill or drop this repository's spares (shards
//! made ahead of their names, `shard::spare`).

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cmd::view::{PortsView, ShardView};
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::model::ShardState;
use crate::output::{Render, RenderCtx, Table};
use crate::shard::reclaim::TeardownHook;
use crate::shard::spare::{self, Readiness};
use crate::shard::{hooks, lookup};

/// List, fill or drop this repository's spares
///
/// A spare is a shard made ahead of its name: a worktree detached at the
/// base (`[spares] base`, else the default branch) under the home, with its
/// own block, env file, `.worktreeinclude` copies and `setup` hook done
/// (run with `SHARD_SPARE=1`; `SHARD_NAME` is then the spare's own name).
/// `[spares] count` says how many to keep. Without a subcommand, lists
/// them: ready, filling, or stale (made for other settings or key files).
/// `create` takes a ready spare that fits (`--no-spare` makes it cold);
/// nothing refills them in the background yet.
#[derive(Debug, Args)]
pub struct SparesArgs {
    #[command(subcommand)]
    pub action: Option<SparesAction>,
}

/// Subcommands of `shards spares`.
#[derive(Debug, Subcommand)]
pub enum SparesAction {
    /// Make spares up to `[spares] count`, in the foreground, and remove
    /// stale ones
    Fill,
    /// Remove this repository's spares and free their blocks
    Drop,
}

/// The spares of the repository, after any fill or drop.
#[derive(Debug, Serialize)]
pub struct SparesReport {
    /// `[spares] count`.
    pub count: u16,
    /// The spares, oldest first.
    pub spares: Vec<SpareView>,
    /// How many this run made (`fill`).
    pub made: usize,
    /// How many this run removed (`drop`, and `fill` of stale ones).
    pub dropped: usize,
}

/// One spare.
#[derive(Debug, Serialize)]
pub struct SpareView {
    /// The spare's own name.
    pub name: String,
    /// `ready`, `filling` or `stale`.
    pub state: Readiness,
    /// The commit its worktree is detached at.
    pub base: String,
    /// Its block.
    pub ports: PortsView,
    /// Its worktree.
    pub path: std::path::PathBuf,
    /// When it was made (Unix seconds).
    pub created_at: i64,
}

/// Lists, fills or drops spares.
pub fn run(ctx: &Ctx, args: &SparesArgs) -> Result<SparesReport> {
    let repo = ctx.repo()?;
    let config = ctx.config(&Overrides::default())?;
    let say = |line: &str| ctx.say(line);
    let (mut made, mut dropped) = (0, 0);
    let base = spare::base(repo, &config)?;
    let fit = spare::fit(repo, &config, &base)?;
    let (hook, _) = hooks::teardown_allowed(&*ctx.ledger()?, &repo.git_dir, &config.hooks, false)?;
    let teardown = TeardownHook {
        hook,
        config: &config,
        failure_stops: false,
        say: &say,
    };
    // `fill` replaces stale spares; `drop` removes them all. One being
    // made is its maker's (or prune's, once the maker is gone).
    let drop_which = |row: &crate::ledger::ShardRow| match args.action {
        Some(SparesAction::Drop) => row.state == ShardState::Spare || !lookup::owner_alive(row),
        Some(SparesAction::Fill) => spare::readiness(row, &fit) == Readiness::Stale,
        None => false,
    };
    let doomed: Vec<_> = spare::of(&*ctx.ledger()?, repo)?
        .into_iter()
        .filter(|r| drop_which(r))
        .collect();
    for row in doomed {
        ctx.with_site(|site| spare::drop_spare(site, repo, &row, &teardown))?;
        dropped += 1;
    }
    if let Some(SparesAction::Fill) = args.action {
        let hooks = hooks::allowed(&*ctx.ledger()?, &repo.git_dir, &config.hooks, false)?;
        made = ctx
            .with_site(|site| spare::fill(site, repo, &config, &hooks, &say))?
            .len();
    }
    let spares = spare::of(&*ctx.ledger()?, repo)?
        .iter()
        .map(|row| SpareView {
            name: row.name.clone(),
            state: spare::readiness(row, &fit),
            base: row
                .spare
                .as_ref()
                .map(|s| s.base.clone())
                .unwrap_or_default(),
            ports: PortsView::of(row.block),
            path: ShardView::of(row).path,
            created_at: row.created_at,
        })
        .collect();
    Ok(SparesReport {
        count: config.spares.count,
        spares,
        made,
        dropped,
    })
}

impl Render for SparesReport {
    fn render(&self, w: &mut dyn Write, ctx: &RenderCtx<'_>) -> io::Result<()> {
        if self.spares.is_empty() {
            return Ok(());
        }
        let mut table = Table::new(vec!["NAME", "STATE", "BASE", "PORTS", "PATH"]);
        for s in &self.spares {
            table.row(vec![
                s.name.clone(),
                s.state.as_str().to_string(),
                s.base.chars().take(10).collect(),
                format!("{}-{}", s.ports.start, s.ports.end),
                ctx.path(&s.path),
            ]);
        }
        table.write(w, ctx.style)
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        let mut notes = Vec::new();
        if self.made > 0 {
            notes.push(format!("Made {} spare{}.", self.made, plural(self.made)));
        }
        if self.dropped > 0 {
            notes.push(format!(
                "Dropped {} spare{}; their blocks are free.",
                self.dropped,
                plural(self.dropped)
            ));
        }
        let ready = self
            .spares
            .iter()
            .filter(|s| s.state == Readiness::Ready)
            .count();
        notes.push(format!(
            "{ready} of {} spare{} ready ([spares] count = {}).",
            self.count,
            plural(usize::from(self.count)),
            self.count
        ));
        notes
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
