//! `shards create`: parse the flags, then reserve → build → activate
//! through the lifecycle (`shard::build`), and report the new shard.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::ShardView;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, RenderCtx};
use crate::shard::build::{self, CreateRequest, Names};

/// Create a shard: worktree, branch, port block and .env
///
/// Makes a git worktree for NAME on its own branch (NAME unless --branch),
/// reserves the lowest free block of ports that no shard holds and nothing on
/// this host listens on, and writes the block into the worktree's env file.
/// Prints the worktree path on stdout. If any step fails, or Ctrl-C
/// (SIGINT) or SIGTERM comes before the shard is ready, everything this
/// create made is undone (exit 130 or 143). With `-- CMD...`, then runs CMD
/// in the new shard as `shards run` does.
#[derive(Debug, Args)]
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
}

impl Render for CreateReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        writeln!(w, "{}", self.shard.path.display())
    }

    fn notes(&self, cx: &RenderCtx<'_>) -> Vec<String> {
        let s = &self.shard;
        vec![format!(
            "Created shard `{}` on branch `{}` at {} (ports {}-{}).",
            s.name,
            s.branch,
            cx.path(&s.path),
            s.ports.start,
            s.ports.end
        )]
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// Returns the configuration overrides this create's flags make.
fn flags(args: &CreateArgs) -> Overrides {
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
    flags
}

/// Creates a shard.
pub fn run(ctx: &Ctx, args: &CreateArgs) -> Result<CreateReport> {
    let repo = ctx.repo()?;
    let names = Names::parse(&args.name, args.branch.as_deref())?;
    let config = ctx.config(&flags(args))?;
    let request = CreateRequest {
        base: args.base.as_deref(),
        root_template: config
            .worktree_root
            .clone()
            .unwrap_or_else(|| ctx.env.default_worktree_root()),
        user_home: ctx.env.user_home.as_deref(),
    };
    let plan = build::plan_create(&*ctx.ledger()?, repo, names, &request)?;
    let branch_created = plan.makes_branch();
    let mut progress = ctx.progress("Checking out");
    let made = ctx.with_site(|site| {
        build::create(site, repo, plan, &config, &mut |done, total| {
            progress.update(done, total)
        })
    })?;
    progress.finish();
    Ok(CreateReport {
        shard: ShardView::of(&made.row),
        branch_created,
        env_file: made.row.path.join(&config.env_file),
        warnings: made.warnings,
    })
}
