//! `shards destroy`: check every named shard (work in it, a live owner),
//! then claim → take apart → release each through `shard::teardown`.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::PortsView;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::output::{self, Render, RenderCtx};
use crate::shard::{hooks, lookup, teardown};

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
/// The `teardown` hook runs first, in the worktree with the shard's
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

    /// Run no teardown hook
    #[arg(long)]
    pub no_hooks: bool,
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
    /// What was kept and why (a branch with commits found nowhere else, …).
    pub notes: Vec<String>,
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
    let mut rows = Vec::new();
    for name in names {
        let mut ledger = ctx.ledger()?;
        let row = lookup::require(&ledger, repo, name)?;
        let row = lookup::follow_move(&mut ledger, row)?;
        teardown::check_unlocked(repo, &row, args.force >= 2)?;
        let checked = teardown::check_destroy(repo, &row, &config, args.force > 0)?;
        rows.push((row, checked));
    }
    let (hook, skipped) =
        hooks::teardown_allowed(&*ctx.ledger()?, &repo.git_dir, &config.hooks, args.no_hooks)?;
    let say = |line: &str| {
        if !ctx.global.quiet {
            output::note(line);
        }
    };
    let teardown_hook = teardown::TeardownHook {
        hook,
        config: &config,
        strict: args.force == 0,
        say: &say,
    };
    let mut destroyed: Vec<Destroyed> = Vec::new();
    for (row, checked) in rows {
        match ctx.with_site(|site| teardown::destroy(site, repo, &row, checked, &teardown_hook)) {
            Ok(t) => destroyed.push(Destroyed {
                ports: PortsView::of(t.row.block),
                name: t.row.name,
                path: t.row.path,
                branch_deleted: t.branch_deleted,
                notes: t.notes,
                warnings: skipped.iter().cloned().chain(t.warnings).collect(),
            }),
            Err(e) if destroyed.is_empty() => return Err(e),
            // Say what was already destroyed: the error alone would hide it.
            Err(e) => {
                let done: Vec<String> = destroyed.iter().map(|d| format!("`{}`", d.name)).collect();
                return Err(Error::PartlyDone {
                    done: done.join(", "),
                    cause: Box::new(e),
                });
            }
        }
    }
    Ok(DestroyReport { destroyed })
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
                format!(
                    "Destroyed shard `{}`: removed {}, freed ports {}-{}, {branch}.",
                    d.name,
                    d.path.display(),
                    d.ports.start,
                    d.ports.end
                )
            })
            .collect()
    }
}
