//! `shards destroy`: check every named shard (`shard::check`: a lock, work
//! in it, a live owner), refuse or stop its processes (`shard::reap`), then
//! reclaim each (`shard::reclaim`: claim → teardown hook → remove →
//! release).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::{BranchView, PortsView};
use crate::cmd::wording;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::ShardRow;
use crate::output::{Render, RenderCtx};
use crate::shard::check::{self, Force, WorkCheck};
use crate::shard::reclaim::{self, TeardownHook};
use crate::shard::{hooks, lookup, reap};

/// Destroy shards and free their ports
///
/// Refuses a worktree locked with `git worktree lock` (naming its reason)
/// unless --force is given twice, as git does. Refuses a worktree holding
/// work unless --force: uncommitted or untracked
/// changes, lines of the env file or .envrc that shards did not write,
/// commits of its submodules found nowhere else, a detached HEAD no branch
/// contains. Removes the worktree, deletes the branch only when this shard
/// made it and every commit on it is on another branch or tag (otherwise
/// keeps it and says so), and frees the port block. All names are checked
/// before anything is removed. A destroy killed after its check passed is
/// finished by `prune` or by destroying again.
///
/// Refuses while processes run from the worktree (working directory or
/// executable inside it), listing them; --force does not change that.
/// --reap stops them first: SIGTERM, then SIGKILL to what is left after
/// --grace seconds. Listeners in the block that run from elsewhere, and
/// shards' own ancestors (the shell it was typed in), are never touched.
/// A `start` hook's server is such a process: stop it, or use --reap.
///
/// The `teardown` hook then runs, before anything is removed, in the worktree with the shard's
/// variables, while its ports are still held; if it fails, nothing is
/// removed (--force goes on with a warning). A repository's teardown hook
/// that is not trusted as it is now (`shards trust`) is skipped with a warning.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Shards to destroy
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,

    /// Destroy even when the worktree has uncommitted or untracked changes;
    /// twice (`-f -f`, as git) also a worktree locked with `git worktree lock`;
    /// a failing teardown hook is then a warning
    #[arg(long, short, action = clap::ArgAction::Count)]
    pub force: u8,

    /// Stop the shard's processes first: SIGTERM, then SIGKILL after --grace
    #[arg(long)]
    pub reap: bool,

    /// Seconds --reap waits after SIGTERM before SIGKILL
    #[arg(long, value_name = "SECS", requires = "reap", default_value_t = reap::DEFAULT_GRACE_SECS)]
    pub grace: u64,

    /// Run no teardown hook
    #[arg(long)]
    pub no_hooks: bool,

    /// True on the command line: SIGINT and SIGTERM are caught while shards
    /// are reclaimed (see `run`). False under `mcp`, whose server must end
    /// on them as it always does.
    #[arg(skip = true)]
    pub catch_signals: bool,
}

/// One destroyed shard.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Destroyed {
    /// Shard name.
    pub name: String,
    /// Worktree that was removed.
    pub path: PathBuf,
    /// Ports given back.
    pub ports: PortsView,
    /// Whether the branch was deleted.
    pub branch_deleted: bool,
    /// What became of the branch, and why.
    pub branch: BranchView,
    /// What was kept and why (a branch with commits found nowhere else, …).
    pub notes: Vec<String>,
    /// Processes `--reap` stopped, and how.
    pub reaped: Vec<reap::Stopped>,
    /// A teardown hook that failed under --force, or was skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What `shards destroy` removed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DestroyReport {
    /// Destroyed shards, in the order given.
    pub destroyed: Vec<Destroyed>,
}

/// Destroys shards.
pub fn run(ctx: &Ctx, args: &DestroyArgs) -> Result<DestroyReport> {
    let repo = ctx.repo()?;
    let config = ctx.config(&Overrides::default())?;
    let mut names: Vec<&String> = Vec::new();
    for name in &args.names {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let force = Force::from_count(args.force);
    let mut rows = Vec::new();
    for name in names {
        let mut ledger = ctx.ledger()?;
        let row = lookup::require(&ledger, repo, name)?;
        let row = lookup::follow_move(&mut ledger, row)?;
        check::unlocked(repo, &row, force)?;
        // A worktree another destroy is deleting looks changed: say that
        // the shard is going, not that it holds work.
        let (row, work) = match check::work(repo, &row, &config, force) {
            Ok(work) => (row, work),
            Err(e) => match ledger.shard(row.id) {
                // Claimed meanwhile by a destroy or prune that died or
                // failed while it deleted the worktree: finish it.
                Ok(Some(fresh))
                    if reclaim::claimed_since(&row, &fresh) && !lookup::owner_alive(&fresh) =>
                {
                    let work = check::work(repo, &fresh, &config, force)?;
                    (fresh, work)
                }
                // A ledger that cannot be read now keeps the check's own error.
                _ => return Err(reclaim::raced(&ledger, &row).ok().flatten().unwrap_or(e)),
            },
        };
        rows.push((row, work));
    }
    let (hook, skipped) =
        hooks::teardown_allowed(&*ctx.ledger()?, &repo.git_dir, &config.hooks, args.no_hooks)?;
    let say = |line: &str| ctx.say(line);
    let teardown_hook = TeardownHook {
        hook,
        config: &config,
        failure_stops: force.hook_failure_stops(),
        say: &say,
    };
    let mut reaped = stop_processes(ctx, &rows, args)?.into_iter();
    let mut destroyed: Vec<Destroyed> = Vec::new();
    // From here Ctrl-C stops the destroy between shards, and a teardown
    // hook's steps with their process groups (the shard is handed back),
    // rather than killing shards and leaving the hook's children running.
    let _interrupts = args.catch_signals.then(host::interrupt::catch);
    for (row, work) in rows {
        let (stopped, mut notes) = reaped.next().unwrap_or_default();
        let done = match host::interrupt::caught() {
            Some(signal) => Err(Error::DestroyInterrupted {
                signal,
                name: row.name.clone(),
            }),
            None => ctx.with_site(|site| reclaim::destroy(site, repo, &row, work, &teardown_hook)),
        };
        match done {
            Ok(t) => destroyed.push(Destroyed {
                ports: PortsView::of(t.row.block),
                name: t.row.name,
                path: t.row.path,
                branch_deleted: t.branch.deleted(),
                branch: BranchView::of(&t.branch),
                notes: {
                    notes.extend(t.notes);
                    notes.extend(wording::branch(&t.row.branch, &t.branch));
                    notes
                },
                reaped: stopped,
                warnings: skipped.iter().cloned().chain(t.warnings).collect(),
            }),
            Err(e) if destroyed.is_empty() => return Err(e),
            // Say what was already destroyed: the error alone would hide it.
            Err(e) => {
                return Err(Error::PartlyDone {
                    done: destroyed.into_iter().map(|d| d.name).collect(),
                    cause: Box::new(e),
                });
            }
        }
    }
    Ok(DestroyReport { destroyed })
}

/// Refuses shards whose processes still run, unless `--reap`, which stops
/// them (all shards' at once, one grace period); returns, per shard, what
/// was stopped and notes on listeners left alone.
fn stop_processes(
    ctx: &Ctx,
    rows: &[(ShardRow, WorkCheck)],
    args: &DestroyArgs,
) -> Result<Vec<(Vec<reap::Stopped>, Vec<String>)>> {
    let rows: Vec<&ShardRow> = rows.iter().map(|(r, _)| r).collect();
    let starts = reap::starts(&*ctx.ledger()?, &rows)?;
    let found = reap::find(&rows, &starts);
    if !args.reap {
        let named: Vec<(&str, &[reap::Running])> = rows
            .iter()
            .zip(&found)
            .map(|(r, f)| (r.name.as_str(), f.procs.as_slice()))
            .collect();
        refuse(&named)?;
    }
    let stopped = reap::stop_all(&rows, &starts, &found, Duration::from_secs(args.grace))?;
    Ok(stopped
        .into_iter()
        .zip(found)
        .map(|(s, f)| (s, f.spared.iter().map(wording::spared).collect()))
        .collect())
}

/// Refuses shards (name and what runs there) that still have processes,
/// naming every shard of the command in the hint.
fn refuse(found: &[(&str, &[reap::Running])]) -> Result<()> {
    let busy: Vec<_> = found.iter().filter(|(_, p)| !p.is_empty()).collect();
    if busy.is_empty() {
        return Ok(());
    }
    Err(Error::ProcessesRunning {
        // The hint repeats every name, so the same command with --reap works.
        names: found.iter().map(|(n, _)| n.to_string()).collect(),
        list: busy
            .iter()
            .map(|(n, p)| format!("`{n}`: {}", wording::procs(p)))
            .collect(),
    })
}

impl Render for DestroyReport {
    fn render(&self, _: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        self.destroyed
            .iter()
            .flat_map(|d| d.warnings.clone())
            .collect()
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        self.destroyed
            .iter()
            .map(|d| {
                let mut parts = d.notes.clone();
                if d.branch_deleted {
                    parts.insert(0, "deleted its branch".to_string());
                }
                let branch = parts.join(", ");
                let stopped: Vec<String> = d.reaped.iter().map(wording::stopped).collect();
                let reaped = match stopped.len() {
                    0 => String::new(),
                    _ => format!("stopped {}, ", stopped.join(", ")),
                };
                format!(
                    "Destroyed shard `{}`: {reaped}removed {}, freed ports {}-{}, {branch}.",
                    d.name,
                    d.path.display(),
                    d.ports.start,
                    d.ports.end
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_shards_with_processes() {
        let none: Vec<reap::Running> = Vec::new();
        let some = vec![reap::Running::example(7)];
        assert!(refuse(&[("a", &none)]).is_ok());
        let err = refuse(&[("a", &none), ("b", &some)]).unwrap_err();
        assert!(err.to_string().contains("`b`: pid 7 `cmd7`"), "{err}");
        assert!(err.hint().unwrap().contains("shards destroy --reap a b"));
    }
}
