//! `shards create`: parse the flags, then reserve → build → activate
//! through the lifecycle (`shard::build`), and report the new shard.

use std::cell::RefCell;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::ShardView;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{self, Render, RenderCtx};
use crate::shard::build::{self, CreateRequest, Names};
use crate::shard::hooks;

/// Create a shard: worktree, branch, port block and .env
///
/// Makes a git worktree for NAME on its own branch (NAME unless --branch),
/// reserves the lowest free block of ports that no shard holds and nothing on
/// this host listens on, and writes the block into the worktree's env file.
/// Prints the worktree path on stdout. If any step fails, or Ctrl-C
/// (SIGINT) or SIGTERM comes before the shard is ready, everything this
/// create made is undone (exit 130 or 143). With `-- CMD...`, then runs CMD
/// in the new shard as `shards run` does.
///
/// Hooks (`[hooks]` in your config or the repository's .shards.toml): the
/// `setup` steps run in the new worktree with its variables before the
/// shard is ready (a failing step undoes the create), then `start` runs in
/// the background, logged to a file named on stderr. A repository's hooks
/// run only once you approved them as they are (`shards trust`).
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

    /// Run no hooks (setup, start), neither yours nor the repository's
    #[arg(long)]
    pub no_hooks: bool,

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
    /// Warnings about the env file, the branch or optional hook steps.
    pub warnings: Vec<String>,
    /// The `start` hook's background process, when one was started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<StartView>,
}

/// A `start` hook's background process.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StartView {
    /// Its process id (the leader of its own session).
    pub pid: i64,
    /// The file its stdout and stderr are appended to.
    pub log: PathBuf,
}

impl Render for CreateReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        writeln!(w, "{}", self.shard.path.display())
    }

    fn notes(&self, cx: &RenderCtx<'_>) -> Vec<String> {
        let s = &self.shard;
        let mut notes = vec![format!(
            "Created shard `{}` on branch `{}` at {} (ports {}-{}).",
            s.name,
            s.branch,
            cx.path(&s.path),
            s.ports.start,
            s.ports.end
        )];
        if let Some(start) = &self.start {
            notes.push(format!(
                "Started its start hook in the background (pid {}); its output goes to {}",
                start.pid,
                cx.path(&start.log)
            ));
        }
        notes
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
    // Untrusted hooks stop the create here, before anything is written.
    let hooks = hooks::allowed(&*ctx.ledger()?, &repo.git_dir, &config.hooks, args.no_hooks)?;
    let plan = build::plan_create(&*ctx.ledger()?, repo, names, &request)?;
    let branch_created = plan.makes_branch();
    let progress = RefCell::new(ctx.progress("Checking out"));
    let say = |line: &str| {
        progress.borrow_mut().finish();
        if !ctx.global.quiet {
            output::note(line);
        }
    };
    let (made, start) = ctx.with_site(|site| {
        let mut made = build::create(
            site,
            repo,
            plan,
            &config,
            &hooks,
            &say,
            &mut |done, total| progress.borrow_mut().update(done, total),
        )?;
        // A start hook that cannot start is a warning: the shard is made.
        let start = match &hooks.start {
            Some(hook) => match hooks::vars(site.ledger, &made.row, &config)
                .and_then(|vars| hooks::start(site, hook, &made.row, &vars, &say))
            {
                Ok(rec) => Some(StartView {
                    pid: rec.pid.0,
                    log: rec.log,
                }),
                Err(e) => {
                    made.warnings.push(format!(
                        "the start hook did not start: {}",
                        output::error_text(&e)
                    ));
                    None
                }
            },
            None => None,
        };
        Ok((made, start))
    })?;
    progress.borrow_mut().finish();
    Ok(CreateReport {
        shard: ShardView::of(&made.row),
        branch_created,
        env_file: made.row.path.join(&config.env_file),
        warnings: made.warnings,
        start,
    })
}
