//! `shards destroy`: refuse worktrees with work in them unless forced,
//! remove worktree and (when nothing is lost) branch, free the block.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::shard::{self, PortsView, ShardView};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::ShardRow;
use crate::model::ShardState;
use crate::output::{Render, Style};
use crate::worktree::{self, Repo};

/// Arguments of `shards destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Shards to destroy
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,

    /// Destroy even when the worktree has uncommitted or untracked changes
    #[arg(long, short)]
    pub force: bool,
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
}

/// What `shards destroy` removed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DestroyReport {
    /// Destroyed shards, in the order given.
    pub destroyed: Vec<Destroyed>,
}

fn check(repo: &Repo, row: &ShardRow, force: bool) -> Result<()> {
    if row.state != ShardState::Active && shard::owner_alive(row) {
        return Err(shard::busy(row));
    }
    if fs_exists(&row.path) && !repo.owns_folder(&row.wt_name, &row.path) {
        return Err(Error::io(
            &row.path,
            std::io::Error::other(
                "is not this shard's git worktree any more, so shards leaves it alone; move it away by hand, then destroy again",
            ),
        ));
    }
    if force || !row.path.exists() {
        return Ok(());
    }
    let summary = match worktree::dirty_summary(&row.path) {
        Ok(None) => return Ok(()),
        Ok(Some(summary)) => summary,
        Err(e) => format!("its git status cannot be read: {e}"),
    };
    Err(Error::WorktreeDirty {
        name: row.name.clone(),
        path: row.path.clone(),
        summary,
    })
}

fn fs_exists(path: &std::path::Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Destroys shards.
pub fn run(ctx: &Ctx, args: &DestroyArgs) -> Result<DestroyReport> {
    let repo = ctx.repo()?;
    let mut names: Vec<&String> = Vec::new();
    for name in &args.names {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut rows = Vec::new();
    for name in names {
        let row = shard::follow_move(ctx, shard::require_shard(ctx, name)?)?;
        check(repo, &row, args.force)?;
        rows.push(row);
    }
    let mut destroyed: Vec<Destroyed> = Vec::new();
    let me = host::current_process();
    for row in rows {
        match destroy_one(ctx, repo, row, me) {
            Ok(d) => destroyed.push(d),
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

/// Claims one shard and takes it apart; the ledger row goes last.
fn destroy_one(ctx: &Ctx, repo: &Repo, row: ShardRow, me: (i64, i64)) -> Result<Destroyed> {
    // Claim it in one transaction: a racing destroy or prune that read
    // the row earlier cannot take it apart a second time.
    let claimed = ctx.ledger()?.claim(row.id, me, |fresh| {
        if fresh.state != ShardState::Active && shard::owner_alive(fresh) {
            return Err(shard::busy(fresh));
        }
        Ok(true)
    })?;
    let Some(row) = claimed else {
        return Err(Error::ShardNotFound {
            name: row.name,
            repo: repo.root.clone(),
        });
    };
    ctx.crash_point("destroy:marked");
    let teardown = match shard::take_apart(repo, &row) {
        Ok(teardown) => teardown,
        Err(e) => {
            // Nothing was removed that matters (the folder is not ours or
            // could not be read): hand the shard back as it was.
            let _ = ctx.ledger()?.set_state(row.id, row.state, row.pid);
            return Err(e);
        }
    };
    ctx.crash_point("destroy:removed");
    ctx.ledger()?.remove(row.id)?;
    let view = ShardView::of(&row);
    Ok(Destroyed {
        name: row.name,
        path: row.path,
        ports: view.ports,
        branch_deleted: teardown.branch_deleted,
        notes: teardown.notes,
    })
}

impl Render for DestroyReport {
    fn render(&self, _: &mut dyn Write, _: Style) -> io::Result<()> {
        Ok(())
    }

    fn notes(&self) -> Vec<String> {
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
