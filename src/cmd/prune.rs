//! `shards prune`: reclaim shards whose worktree or repository is gone and
//! half-made or half-destroyed shards whose process died
//! (`shard::debris`), and with --merged clean shards whose branch is
//! merged (`shard::merged`), each through `shard::reclaim`. Never removes a
//! worktree that still holds work.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::{self, BranchView, PortsView};
use crate::cmd::wording;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::ShardRow;
use crate::model::ShardState;
use crate::output::{Render, RenderCtx, Table};
use crate::shard::debris::{self, Diagnosis};
use crate::shard::merged::{self, Verdict};
use crate::shard::reclaim::{self, Reclaimed, TeardownHook};
use crate::shard::{Site, hooks, reap};

/// Reclaim shards whose worktree or creator is gone
///
/// Frees the block of every shard whose worktree folder or repository was
/// deleted, or whose folder was replaced by one that is not its git
/// worktree (the folder stays), and finishes shards whose create or destroy
/// was killed half-way (their process is gone). A worktree that still holds
/// uncommitted or untracked work is never removed; a folder that is a live
/// worktree, and a repository or folder that cannot be read, keep their
/// block. A shard with processes still running from its worktree is kept:
/// prune never stops processes (`shards destroy --reap` does). A repository moved
/// with `mv` keeps its shards. Acts on this repository; --all (or
/// running outside any repository) acts on every repository in the ledger.
///
/// With --merged, also reclaims active shards whose branch is merged into
/// the repository's default branch (origin/HEAD, else main, else master,
/// else the main worktree's HEAD): its tip is in the default branch's
/// history, or merging it would change nothing (a squash merge, a rebase,
/// cherry-picks). Only a shard whose worktree is clean (the env file holding
/// nothing but shards' lines), with no process running from it, not locked,
/// and older than --min-age; a branch that never had a commit is kept, and
/// so is one whose commits the default branch does not hold and that
/// change nothing together (empty commits, a change added then reverted). A
/// squash-merged branch is deleted too (its changes are in the default
/// branch; the note names the commit it was at).
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Show what would be reclaimed without changing anything
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Prune every repository, not just this one
    #[arg(long)]
    pub all: bool,

    /// Also reclaim clean shards whose branch is merged (squash included)
    #[arg(long)]
    pub merged: bool,

    /// With --merged, keep shards younger than this (30m, 2h, 1d)
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = humantime::parse_duration, requires = "merged")]
    pub min_age: Duration,
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
    /// With --merged, what was decided for an active shard: `merged` or
    /// `squashed` (reclaimed), else kept as `young`, `untouched`, `open`,
    /// `no_net_change`, `held` (clean, lock, processes), `absent`,
    /// `is_default`, `no_default_branch` or `unreadable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'static str>,
    /// True when reclaimed (or, with --dry-run, when it would be).
    pub reclaimed: bool,
    /// What was kept or left in place, and why.
    pub notes: Vec<String>,
    /// What became of its branch, once reclaimed (not on a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchView>,
}

/// What `shards prune` did.
#[derive(Debug, Serialize)]
pub struct PruneReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Shards reclaimed or skipped, with reasons.
    pub shards: Vec<Pruned>,
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
    // Ctrl-C stops prune between shards, and a teardown hook's steps with
    // their process groups (the shard is kept as it was, for a later prune).
    let _interrupts = host::interrupt::catch();
    for row in &rows {
        if let Some(signal) = host::interrupt::caught() {
            return Err(Error::DestroyInterrupted {
                signal,
                name: row.name.clone(),
            });
        }
        let pruned = |path: PathBuf, reason: String, reclaimed: bool, done: Option<Done>| {
            let (notes, branch) = done.map_or((Vec::new(), None), |d| (d.notes, Some(d.branch)));
            Pruned {
                name: row.name.clone(),
                repo: row.repo.root.clone(),
                path,
                ports: PortsView::of(row.block),
                reason,
                verdict: None,
                reclaimed,
                notes,
                branch,
            }
        };
        let (reason, reclaimable) = match debris::diagnose(row) {
            Diagnosis::Healthy if args.merged && row.state == ShardState::Active => {
                let verdict = judge(ctx, row, args.min_age);
                let name = verdict.as_ref().map_or("unreadable", view::verdict);
                let (reason, merge) = match verdict {
                    Ok(Verdict::Reclaim(merge)) => {
                        (wording::merged(row, merge.how, &merge.base), Some(merge))
                    }
                    Ok(Verdict::Keep(keep)) => (wording::kept(row, keep), None),
                    Err(e) => (format!("its merge state cannot be read: {e}"), None),
                };
                let judged = |p: Pruned| Pruned {
                    verdict: Some(name),
                    ..p
                };
                let reclaimable = merge.is_some();
                let Some(merge) = merge.filter(|_| !args.dry_run) else {
                    shards.push(judged(pruned(row.path.clone(), reason, reclaimable, None)));
                    continue;
                };
                let done = reclaim(ctx, row, |site, hook| {
                    reclaim::merged(site, row, &merge, hook)
                });
                match done {
                    Ok(None) => {}
                    Ok(Some(done)) => {
                        shards.push(judged(pruned(row.path.clone(), reason, true, Some(done))))
                    }
                    Err(e) => {
                        let reason = format!("{reason}, but reclaiming it failed: {e}");
                        shards.push(judged(pruned(row.path.clone(), reason, false, None)));
                    }
                }
                continue;
            }
            Diagnosis::Healthy => continue,
            // A worktree moved with `git worktree move` is followed, not reclaimed.
            Diagnosis::Moved(new) => {
                if !args.dry_run {
                    ctx.ledger()?.set_path(row.id, &new)?;
                }
                let reason = format!(
                    "its worktree was moved to {}; the ledger follows it",
                    new.display()
                );
                shards.push(pruned(new, reason, false, None));
                continue;
            }
            Diagnosis::Debris {
                reason,
                reclaimable,
            } if reclaimable => match running(ctx, row)? {
                Some(procs) => (wording::still_running(row, &reason, &procs), false),
                None => (reason, true),
            },
            Diagnosis::Debris { reason, .. } => (reason, false),
        };
        if !reclaimable || args.dry_run {
            shards.push(pruned(row.path.clone(), reason, reclaimable, None));
            continue;
        }
        match reclaim(ctx, row, |site, hook| reclaim::debris(site, row, hook)) {
            Ok(None) => {}
            Ok(Some(done)) => shards.push(pruned(row.path.clone(), reason, true, Some(done))),
            Err(e @ Error::DestroyInterrupted { .. }) => return Err(e),
            // One shard that cannot be reclaimed must not stop the others.
            Err(e) => {
                let reason = format!("{reason}, but reclaiming it failed: {e}");
                shards.push(pruned(row.path.clone(), reason, false, None));
            }
        }
    }
    Ok(PruneReport {
        dry_run: args.dry_run,
        shards,
    })
}

/// The processes still running from a shard's worktree, if any (prune
/// never stops them).
fn running(ctx: &Ctx, row: &ShardRow) -> Result<Option<Vec<reap::Running>>> {
    let starts = reap::starts(&*ctx.ledger()?, &[row])?;
    let found = reap::find(&[row], &starts).pop();
    Ok(found.map(|f| f.procs).filter(|p| !p.is_empty()))
}

/// Asks `shard::merged` whether `prune --merged` reclaims `row`, with its
/// repository's configuration.
fn judge(ctx: &Ctx, row: &ShardRow, min_age: Duration) -> Result<Verdict> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let root = row.repo.root.is_dir().then_some(row.repo.root.as_path());
    let ledger = ctx.ledger()?;
    merged::judge(&ledger, row, min_age, now, || {
        ctx.config_in(root, &Overrides::default())
    })
}

/// Reclaims one shard with `act` (`reclaim::debris` or `reclaim::merged`),
/// running its repository's teardown hook (a failure is a warning: prune
/// goes on); returns what it did, `None` when another process got to it
/// first.
fn reclaim(
    ctx: &Ctx,
    row: &ShardRow,
    act: impl FnOnce(&mut Site<'_>, &TeardownHook<'_>) -> Result<Option<Reclaimed>>,
) -> Result<Option<Done>> {
    let root = row.repo.root.is_dir().then_some(row.repo.root.as_path());
    // A repository file that no longer loads must not keep its debris:
    // prune goes on with the user's config and says so.
    let (config, unread) = match ctx.config_in(root, &Overrides::default()) {
        Ok(config) => (config, None),
        Err(e) => (
            ctx.config_in(None, &Overrides::default())?,
            Some(format!("its repository's hooks were not run: {e}")),
        ),
    };
    let (hook, skipped) =
        hooks::teardown_allowed(&*ctx.ledger()?, &row.repo.git_dir, &config.hooks, false)?;
    let skipped = unread.into_iter().chain(skipped);
    let say = |line: &str| ctx.say(line);
    let hook = TeardownHook {
        hook,
        config: &config,
        failure_stops: false,
        say: &say,
    };
    let done = ctx.with_site(|site| act(site, &hook))?;
    Ok(done.map(|t| {
        let warn = skipped.into_iter().chain(t.warnings);
        let branch = wording::pruned_branch(&t.row.branch, &t.branch);
        Done {
            notes: warn
                .map(|w| format!("warning: {w}"))
                .chain(t.notes)
                .chain(branch)
                .collect(),
            branch: BranchView::of(&t.branch),
        }
    }))
}

/// What reclaiming one shard did, for its row of the report.
struct Done {
    notes: Vec<String>,
    branch: BranchView,
}

impl Render for PruneReport {
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_>) -> io::Result<()> {
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
        table.write(w, cx.style)
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        let n = self.shards.iter().filter(|p| p.reclaimed).count();
        let mut notes: Vec<String> = self.shards.iter().flat_map(|p| p.notes.clone()).collect();
        let kept = self.shards.len() - n;
        notes.push(match (n, self.dry_run) {
            (0, _) if kept == 0 => "Nothing to prune.".to_string(),
            (0, true) => format!("Would reclaim nothing; {kept} shard(s) kept, see the table."),
            (0, false) => format!("Reclaimed nothing; {kept} shard(s) kept, see the table."),
            (n, true) => format!("Would reclaim {n} shard(s); run without --dry-run to do it."),
            (n, false) => format!("Reclaimed {n} shard(s)."),
        });
        notes
    }
}
