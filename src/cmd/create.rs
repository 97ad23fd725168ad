//! `shards create`: parse the flags, then plan and make the shard through
//! the lifecycle (`shard::create`), and report the new shard; with
//! `--dry-run`, report what it would make instead (`create/preview.rs`).

use std::cell::RefCell;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cmd::view::{CopiedView, ShardView};
use crate::config::Config;
use crate::config::Overrides;
use crate::config::hooks::Hooks;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::output::{self, Render, RenderCtx};
use crate::shard::build::StartHook;
use crate::shard::create::{self, Cold, CreatePlan, CreateRequest, Names, Taken, Tell};
use crate::shard::hooks;
use crate::worktree::Repo;

pub mod preview;

/// Create a shard: worktree, branch, port block and .env
///
/// Makes a git worktree for NAME on its own branch (NAME unless --branch),
/// reserves the lowest free block of ports that no shard holds and nothing on
/// this host listens on, and writes the block into the worktree's env file.
/// Prints the worktree path on stdout. If any step fails, or Ctrl-C
/// (SIGINT) or SIGTERM comes before the shard is ready, everything this
/// create made is undone (exit 130 or 143). With `-- CMD...`, then runs CMD
/// in the new shard as `shards run` does. With --cd, the shell function
/// of `shards init` then changes to it; without the function, the shard is
/// made and a warning says how to load it.
///
/// Gitignored files that the main worktree's .worktreeinclude names
/// (gitignore patterns: node_modules/, .venv/, .env.local) are copied in
/// after the checkout, copy-on-write where the file system can; `copy.symlink`
/// links them instead. A copied env file keeps its keys, but the shard's own
/// (PORT, PORT_RANGE_*, …) win.
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

    /// Make the shard cold, even when a spare is ready (`[spares] count`)
    #[arg(long)]
    pub no_spare: bool,

    /// Print what the create would make, and make nothing
    ///
    /// Prints the branch, base, folder, ports, named ports, whether a spare
    /// would be claimed and which hooks would run. Fails as the create
    /// would (a taken or invalid name, a missing --base, a branch checked
    /// out elsewhere, a folder in the way, no free block), with the same
    /// error and exit code, but writes nothing: no ledger row, branch,
    /// folder, env file or register entry, and no hook runs.
    #[arg(long, conflicts_with_all = ["cd", "command"])]
    pub dry_run: bool,

    /// Then change the shell's directory to the new shard (needs the shell
    /// function of `shards init`)
    // `--json` is checked in `run`: a subcommand alone (its man page) has
    // no global `--json` for clap to name here.
    #[arg(long, conflicts_with = "command")]
    pub cd: bool,

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
    /// Whether the shard was made from a spare (see `shards spares`).
    pub from_spare: bool,
    /// With spares on, why this one was made cold rather than from a spare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold: Option<String>,
    /// The env file written (absolute).
    pub env_file: PathBuf,
    /// Warnings about the env file, the branch or optional hook steps.
    pub warnings: Vec<String>,
    /// The `start` hook's background process, when one was started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<StartView>,
    /// What `.worktreeinclude` and `copy.symlink` brought over from the
    /// main worktree; absent when neither is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied: Option<CopiedView>,
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
            "Created shard `{}` on branch `{}` at {} (ports {}-{}){}.",
            s.name,
            s.branch,
            cx.path(&s.path),
            s.ports.start,
            s.ports.end,
            if self.from_spare {
                ", from a spare"
            } else {
                ""
            }
        )];
        if let Some(why) = &self.cold {
            notes.push(format!("Made cold, not from a spare: {why}."));
        }
        if let Some(start) = &self.start {
            notes.push(format!(
                "Started its start hook in the background (pid {}); its output goes to {}",
                start.pid,
                cx.path(&start.log)
            ));
        }
        if let Some(copied) = &self.copied {
            let env_file = self.env_file.file_name().unwrap_or_default();
            notes.extend(copied.note(&env_file.to_string_lossy()));
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

/// Says why a create with spares on made its shard cold.
fn cold_reason(why: &Cold) -> String {
    match why {
        Cold::BranchExists => "the branch exists, and a spare only takes a new one".into(),
        Cold::NoneReady => "no spare is ready (`shards spares fill` makes them)".into(),
        Cold::NoneFits => "the spares were made for other settings, sparse patterns or key files (`shards spares fill` replaces them)".into(),
        Cold::Failed(e) => format!("taking a spare failed, so it was handed back ({e})"),
    }
}

/// A create checked and planned, before anything is made: what both the
/// create and its preview (`--dry-run`) start from.
struct Planned<'c> {
    repo: &'c Repo,
    config: Config,
    /// The hooks that may run.
    hooks: Hooks,
    plan: CreatePlan,
    /// Whether the create looks for a spare first.
    use_spares: bool,
}

/// Checks the flags, the name, the configuration, the hooks' trust and
/// the plan; writes nothing.
fn prepare<'c>(ctx: &'c Ctx, args: &CreateArgs) -> Result<Planned<'c>> {
    if args.cd && ctx.global.json {
        return Err(Error::Usage {
            message: "`--cd` cannot be used with `--json`".into(),
            hint: "the shell function reads the path that create prints; use one or the other"
                .into(),
        });
    }
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
    let plan = create::plan_create(&*ctx.ledger()?, repo, names, &request)?;
    let use_spares = config.spares.count > 0 && !args.no_spare && !args.no_hooks;
    Ok(Planned {
        repo,
        config,
        hooks,
        plan,
        use_spares,
    })
}

/// Creates a shard.
pub fn run(ctx: &Ctx, args: &CreateArgs) -> Result<CreateReport> {
    let Planned {
        repo,
        config,
        hooks,
        plan,
        use_spares,
    } = prepare(ctx, args)?;
    let progress = RefCell::new(ctx.progress("Checking out"));
    let copying = RefCell::new(ctx.progress("Copying ignored files"));
    let say = |line: &str| {
        progress.borrow_mut().finish();
        copying.borrow_mut().finish();
        ctx.say(line);
    };
    let tell = Tell {
        say: &say,
        checkout: &mut |done, total| progress.borrow_mut().update(done, total),
        copying: &mut |done, total| {
            // The checkout's bar is done once the copy starts.
            progress.borrow_mut().finish();
            copying.borrow_mut().update(done, total)
        },
    };
    let (made, from_spare, cold) = ctx.with_site(|site| {
        if !use_spares {
            return Ok((
                create::create(site, repo, plan, &config, &hooks, tell)?,
                false,
                None,
            ));
        }
        match create::take_spare(site, repo, plan, &config, &hooks, &say)? {
            Taken::Made(made) => Ok((*made, true, None)),
            Taken::Cold(why, plan) => {
                let made = create::create(site, repo, *plan, &config, &hooks, tell)?;
                Ok((made, false, Some(cold_reason(&why))))
            }
        }
    })?;
    progress.borrow_mut().finish();
    copying.borrow_mut().finish();
    let mut warnings = made.warnings;
    // A start hook that cannot start is a warning: the shard is made.
    let start = match made.start {
        StartHook::None => None,
        StartHook::Running(record) => Some(StartView {
            pid: record.pid.0,
            log: record.log,
        }),
        StartHook::Failed(e) => {
            warnings.push(format!(
                "the start hook did not start: {}",
                output::error_text(&e)
            ));
            None
        }
    };
    // The filler makes spares up to the count again, after this create
    // took one or found none; this create does not wait for it. It starts
    // once the ledger's WAL is synced, so it does not compete with that
    // sync (which Ledger's drop would otherwise do at the end).
    if use_spares {
        if let Err(e) = ctx.sync_ledger() {
            warnings.push(format!(
                "the ledger's log could not be synced to disk ({e}); the shard is made, but a power cut now could lose its row"
            ));
        }
        warnings.extend(super::spares::start_filler(ctx, repo));
    }
    if args.cd && !ctx.env.shell_function {
        warnings.push(format!(
            "could not change the directory: that takes the shell function, not loaded in this shell; add `eval \"$(shards init bash)\"` to ~/.bashrc (zsh: `eval \"$(shards init zsh)\"` in ~/.zshrc; fish: `shards init fish | source` in config.fish), or now: cd {}",
            crate::envfile::sh_quote(&made.row.path.to_string_lossy())
        ));
    }
    Ok(CreateReport {
        shard: ShardView::of(&made.row),
        branch_created: made.row.made_branch,
        from_spare,
        cold,
        env_file: made.row.path.join(&config.env_file),
        warnings,
        start,
        copied: CopiedView::of(&made.copied),
    })
}
