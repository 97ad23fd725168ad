//! `shards create`: reserve a block, add the worktree and branch, write the
//! env file, and undo exactly what was made if any step fails.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::shard::{self, ShardView};
use crate::config::{Config, Overrides};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::{NewShard, ShardRow};
use crate::model::{ShardName, ShardState};
use crate::output::{Render, Style};
use crate::template;
use crate::worktree::{CommitId, Repo};

/// Arguments of `shards create`.
#[derive(Debug, Args)]
#[command(
    long_about = "Create a shard: worktree, branch, port block and .env\n\n\
Makes a git worktree for NAME on its own branch (NAME unless --branch), reserves the lowest \
free block of ports that no shard holds and nothing on this host listens on, and writes the \
block into the worktree's env file. If any step fails, everything this create made is undone."
)]
pub struct CreateArgs {
    /// Shard name: letters, digits, `.`, `_`, `-`, `/` (like a branch name)
    pub name: String,

    /// Start a new branch from REF (branch, tag or commit) instead of HEAD
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,

    /// Use branch BR instead of NAME; an existing branch is checked out as it is
    #[arg(long, value_name = "BR")]
    pub branch: Option<String>,

    /// Ports per shard for this create (overrides ports.block_size)
    #[arg(long, value_name = "N")]
    pub block_size: Option<String>,

    /// Also write an .envrc that loads the env file (as env.direnv = true)
    #[arg(long)]
    pub direnv: bool,

    /// Then run this command in the new shard, as `shards run` does (after `--`)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// What `shards create` made.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreateReport {
    /// The new shard.
    pub shard: ShardView,
    /// Whether the branch was made by this create.
    pub branch_created: bool,
    /// The env file written (absolute).
    pub env_file: PathBuf,
    /// Warnings about the env file or the branch.
    pub warnings: Vec<String>,
    #[serde(skip)]
    display_path: String,
}

impl Render for CreateReport {
    fn render(&self, w: &mut dyn Write, _: Style) -> io::Result<()> {
        writeln!(w, "{}", self.shard.path.display())
    }

    fn notes(&self) -> Vec<String> {
        let s = &self.shard;
        vec![format!(
            "Created shard `{}` on branch `{}` at {} (ports {}-{}).",
            s.name, s.branch, self.display_path, s.ports.start, s.ports.end
        )]
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// A validated create, before anything is written.
struct Plan {
    name: ShardName,
    branch: String,
    base: CommitId,
    make_branch: bool,
    wt_name: String,
    path: PathBuf,
    config: Config,
    warnings: Vec<String>,
}

fn plan(ctx: &Ctx, args: &CreateArgs, repo: &Repo) -> Result<Plan> {
    let invalid = |name: &str, reason: String| Error::InvalidName {
        name: name.to_string(),
        reason,
    };
    let name = ShardName::parse(&args.name).map_err(|r| invalid(&args.name, r))?;
    let branch = match &args.branch {
        Some(b) => ShardName::parse(b)
            .map_err(|r| invalid(b, r))?
            .as_str()
            .to_string(),
        None => name.as_str().to_string(),
    };
    let mut flags = Overrides::default();
    if let Some(n) = &args.block_size {
        flags
            .values
            .push(("--block-size".into(), "ports.block_size", n.clone()));
    }
    if args.direnv {
        flags
            .values
            .push(("--direnv".into(), "env.direnv", "true".into()));
    }
    let config = ctx.config(&flags)?;
    if let Some(existing) = ctx.ledger()?.find(&repo.git_dir, name.as_str())? {
        return Err(Error::NameTaken {
            name: name.to_string(),
            repo: repo.root.clone(),
            state: existing.state,
        });
    }
    let mut warnings = Vec::new();
    let make_branch = !repo.branch_exists(&branch);
    if make_branch && repo.is_remote_tracking(&branch) {
        let local = branch.split_once('/').map(|(_, b)| b).unwrap_or(&branch);
        return Err(Error::InvalidName {
            name: branch.clone(),
            reason: format!(
                "it names a remote-tracking branch; to work on it, use `--branch {local} --base {branch}`"
            ),
        });
    }
    let base = if make_branch {
        repo.resolve_base(args.base.as_deref())?
    } else {
        if let Some(at) = repo.checked_out_at(&branch)? {
            return Err(Error::BranchCheckedOut { branch, path: at });
        }
        if args.base.is_some() {
            warnings.push(format!(
                "branch `{branch}` exists, so it is checked out as it is and --base is ignored"
            ));
        }
        repo.resolve_base(Some(&format!("refs/heads/{branch}")))?
    };
    let template = config
        .worktree_root
        .clone()
        .unwrap_or_else(|| ctx.env.default_worktree_root());
    // `{repo}` is the folder name the ledger gave this repository.
    let registered = ctx
        .ledger()?
        .register_repo(&repo.git_dir, &repo.root, &repo.name)?;
    let path = template::worktree_path(
        &template,
        &registered.dir_name,
        &name.folder(),
        ctx.env.user_home.as_deref(),
        &repo.root,
    )?;
    Ok(Plan {
        wt_name: repo.free_worktree_name(&name.folder()),
        name,
        branch,
        base,
        make_branch,
        path,
        config,
        warnings,
    })
}

/// Creates a shard.
pub fn run(ctx: &Ctx, args: &CreateArgs) -> Result<CreateReport> {
    let repo = ctx.repo()?;
    let mut plan = plan(ctx, args, repo)?;
    let new = NewShard {
        git_dir: &repo.git_dir,
        root: &repo.root,
        dir_name: &repo.name,
        name: plan.name.as_str(),
        branch: &plan.branch,
        path: &plan.path,
        wt_name: &plan.wt_name,
        made_branch: plan.make_branch,
        pid: host::current_process(),
        now: shard::now(),
        services: &plan.config.services,
    };
    let row = ctx
        .ledger()?
        .reserve(&new, &plan.config.pool, shard::host_busy())?;
    ctx.crash_point("create:reserved");
    if std::fs::symlink_metadata(&row.path).is_ok() {
        ctx.ledger()?.remove(row.id)?;
        return Err(Error::PathTaken { path: row.path });
    }
    match build(ctx, repo, &plan, &row) {
        Ok(mut warnings) => {
            plan.warnings.append(&mut warnings);
            let mut active = row.clone();
            active.state = ShardState::Active;
            Ok(CreateReport {
                shard: ShardView::of(&active),
                branch_created: plan.make_branch,
                env_file: row.path.join(&plan.config.env_file),
                warnings: plan.warnings,
                display_path: ctx.display_path(&row.path),
            })
        }
        Err(cause) => {
            undo(ctx, repo, &plan, &row);
            Err(cause)
        }
    }
}

/// The steps after the reservation: worktree, env file, then `active`.
fn build(ctx: &Ctx, repo: &Repo, plan: &Plan, row: &ShardRow) -> Result<Vec<String>> {
    if plan.make_branch {
        repo.create_branch(&row.branch, plan.base)?;
    }
    ctx.crash_point("create:branch");
    let mut progress = ctx.progress("Checking out");
    let filters = repo.filters_may_apply(plan.base, &ctx.env.git_attribute_files)?;
    repo.add_worktree(
        &row.wt_name,
        &row.path,
        &row.branch,
        filters,
        &mut |done, total| {
            if done == 0 {
                ctx.crash_point("create:checkout");
            }
            progress.update(done, total)
        },
    )?;
    progress.finish();
    ctx.crash_point("create:worktree");
    let warnings = shard::sync_env(ctx, row, &plan.config)?;
    ctx.crash_point("create:env");
    ctx.ledger()?.set_state(row.id, ShardState::Active, None)?;
    Ok(warnings)
}

/// Undoes a failed create: the folder and git's record of it, the branch if
/// this create made it and nobody committed on it, then the row. Errors are
/// ignored here on purpose: the first cause is the one to report, and
/// anything left is still marked `creating`, which `prune` reclaims.
fn undo(ctx: &Ctx, repo: &Repo, plan: &Plan, row: &ShardRow) {
    // Each step is tried on its own, so one that fails does not keep the
    // others from undoing their part.
    let folder = repo.remove_worktree(&row.wt_name, &row.path);
    if plan.make_branch {
        let _ = repo.delete_branch_if_at(&row.branch, plan.base);
    }
    // Keep the row only if our own worktree folder could not be removed:
    // `prune` will retry it. Anything else at the path was never ours.
    let ours_left = folder.is_err() && repo.owns_folder(&row.wt_name, &row.path);
    if !ours_left && let Ok(mut ledger) = ctx.ledger() {
        let _ = ledger.remove(row.id);
    }
}
