//! `shards prune`: reclaim shards whose worktree or repository is gone and
//! half-made or half-destroyed shards whose process died. Never removes a
//! worktree that still holds work.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::shard::{self, PortsView, ShardView};
use crate::context::Ctx;
use crate::error::Result;
use crate::host;
use crate::ledger::ShardRow;
use crate::model::ShardState;
use crate::output::{Render, Style, Table};
use crate::worktree::{self, Repo};

/// Arguments of `shards prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Show what would be reclaimed without changing anything
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Prune every repository, not just this one
    #[arg(long)]
    pub all: bool,
}

/// One shard prune looked at.
#[derive(Debug, Serialize)]
pub struct Pruned {
    /// Shard name.
    pub name: String,
    /// Repository root.
    pub repo: PathBuf,
    /// Worktree folder.
    pub path: PathBuf,
    /// Its ports.
    pub ports: PortsView,
    /// Why it was (or would be) reclaimed, or why it was kept.
    pub reason: String,
    /// True when reclaimed (or, with --dry-run, when it would be).
    pub reclaimed: bool,
    /// What was kept or left in place, and why.
    pub notes: Vec<String>,
}

/// What `shards prune` did.
#[derive(Debug, Serialize)]
pub struct PruneReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Shards reclaimed or skipped, with reasons.
    pub shards: Vec<Pruned>,
}

/// Why a row is debris, or `None` when it is healthy or still in progress.
fn diagnose(row: &ShardRow) -> Option<(String, bool)> {
    let repo_gone = !row.repo.git_dir.exists();
    let wt_gone = !row.path.exists();
    match row.state {
        ShardState::Active if repo_gone => Some(("its repository is gone".into(), true)),
        ShardState::Active
            if wt_gone
                && worktree::moved_to(&row.repo.git_dir, &row.wt_name, &row.path).is_some() =>
        {
            None
        }
        ShardState::Active if wt_gone => Some(("its worktree is gone".into(), true)),
        ShardState::Active => None,
        _ if shard::owner_alive(row) => None,
        ShardState::Creating => Some(("its create was interrupted".into(), true)),
        ShardState::Destroying => {
            if !wt_gone
                && !repo_gone
                && let Ok(Some(summary)) = worktree::dirty_summary(&row.path)
            {
                return Some((
                    format!(
                        "its destroy was interrupted but the worktree holds work ({summary}); run `shards destroy --force {}` to discard it",
                        row.name
                    ),
                    false,
                ));
            }
            Some(("its destroy was interrupted".into(), true))
        }
    }
}

/// Reclaims one row: what is left on disk and in git, then the row.
/// Returns notes on what was left in place.
fn reclaim(ctx: &Ctx, row: &ShardRow) -> Result<Vec<String>> {
    let notes = if !row.repo.git_dir.exists() {
        let mut notes = Vec::new();
        if row.path.exists() {
            notes.push(format!(
                "left {} in place: its repository is gone",
                row.path.display()
            ));
        }
        notes
    } else {
        let repo = Repo::discover(&row.repo.git_dir)?;
        shard::take_apart(&repo, row)?.notes
    };
    ctx.ledger()?.remove(row.id)?;
    Ok(notes)
}

/// Prunes shards.
pub fn run(ctx: &Ctx, args: &PruneArgs) -> Result<PruneReport> {
    let scope = if args.all {
        None
    } else {
        ctx.repo_if_any()?.map(|r| r.git_dir.clone())
    };
    let rows = ctx.ledger()?.list(scope.as_deref())?;
    let mut shards = Vec::new();
    for row in &rows {
        // A worktree moved with `git worktree move` is followed, not reclaimed.
        if row.state == ShardState::Active
            && !row.path.exists()
            && row.repo.git_dir.exists()
            && let Some(new) = worktree::moved_to(&row.repo.git_dir, &row.wt_name, &row.path)
        {
            if !args.dry_run {
                ctx.ledger()?.set_path(row.id, &new)?;
            }
            shards.push(Pruned {
                name: row.name.clone(),
                repo: row.repo.root.clone(),
                path: new.clone(),
                ports: ShardView::of(row).ports,
                reason: format!(
                    "its worktree was moved to {}; the ledger follows it",
                    new.display()
                ),
                reclaimed: false,
                notes: Vec::new(),
            });
            continue;
        }
        let Some((mut reason, mut reclaimable)) = diagnose(row) else {
            continue;
        };
        let mut notes = Vec::new();
        if reclaimable && !args.dry_run {
            // Claim it in one transaction that re-checks it is still debris,
            // so a racing prune or destroy never takes it apart twice.
            let claimed = ctx
                .ledger()?
                .claim(row.id, host::current_process(), |fresh| {
                    Ok(matches!(diagnose(fresh), Some((_, true))))
                });
            match claimed.and_then(|c| c.map(|prior| reclaim(ctx, &prior)).transpose()) {
                Ok(None) => continue,
                Ok(Some(n)) => notes = n,
                // One shard that cannot be taken apart must not stop the others.
                Err(e) => {
                    reason = format!("{reason}, but reclaiming it failed: {e}");
                    reclaimable = false;
                }
            }
        }
        shards.push(Pruned {
            name: row.name.clone(),
            repo: row.repo.root.clone(),
            path: row.path.clone(),
            ports: ShardView::of(row).ports,
            reason,
            reclaimed: reclaimable,
            notes,
        });
    }
    Ok(PruneReport {
        dry_run: args.dry_run,
        shards,
    })
}

impl Render for PruneReport {
    fn render(&self, w: &mut dyn Write, style: Style) -> io::Result<()> {
        if self.shards.is_empty() {
            return Ok(());
        }
        let mut table = Table::new(vec!["NAME", "PORTS", "ACTION", "REASON"]);
        for p in &self.shards {
            let action = match (p.reclaimed, self.dry_run) {
                (true, true) => "would reclaim",
                (true, false) => "reclaimed",
                (false, _) => "kept",
            };
            table.row(vec![
                p.name.clone(),
                format!("{}-{}", p.ports.start, p.ports.end),
                action.to_string(),
                p.reason.clone(),
            ]);
        }
        table.write(w, style)
    }

    fn notes(&self) -> Vec<String> {
        let n = self.shards.iter().filter(|p| p.reclaimed).count();
        let mut notes: Vec<String> = self.shards.iter().flat_map(|p| p.notes.clone()).collect();
        let kept = self.shards.len() - n;
        notes.push(match (n, self.dry_run) {
            (0, _) if kept == 0 => "Nothing to prune.".to_string(),
            (0, _) => format!("Reclaimed nothing; {kept} shard(s) kept, see the table."),
            (n, true) => format!("Would reclaim {n} shard(s); run without --dry-run to do it."),
            (n, false) => format!("Reclaimed {n} shard(s)."),
        });
        notes
    }
}
