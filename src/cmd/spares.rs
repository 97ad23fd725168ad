//! `shards spares`: list, fill or drop this repository's spares (shards
//! made ahead of their names, `shard::spare`).

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cmd::view::{self, PortsView, ShardView};
use crate::config::Config;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host;
use crate::model::ShardState;
use crate::output::{Render, RenderCtx, Table};
use crate::shard::reclaim::TeardownHook;
use crate::shard::spare::{self, Readiness};
use crate::shard::{filler, hooks, lookup};
use crate::worktree::Repo;

/// List, fill or drop this repository's spares
///
/// A spare is a shard made ahead of its name: a worktree detached at the
/// base (`[spares] base`, else the default branch) under the home, with its
/// own block, env file, `.worktreeinclude` copies and `setup` hook done
/// (run with `SHARD_SPARE=1`; `SHARD_NAME` is then the spare's own name).
/// `[spares] count` says how many to keep. Without a subcommand, lists
/// them: ready, filling, or stale (made for other settings or key files).
/// `create` takes a ready spare that fits (`--no-spare` makes it cold),
/// then starts a background filler (idle CPU and I/O priority, one per
/// repository, logged under the home's logs/) that makes spares up to the
/// count again; `create` does not wait for it.
#[derive(Debug, Args)]
pub struct SparesArgs {
    #[command(subcommand)]
    pub action: Option<SparesAction>,
}

/// Subcommands of `shards spares`.
#[derive(Debug, Subcommand)]
pub enum SparesAction {
    /// Make spares up to `[spares] count` in the foreground, and remove
    /// stale ones
    ///
    /// While a background filler is at work, says so and changes nothing,
    /// unless --wait.
    Fill(FillArgs),
    /// Remove this repository's spares and free their blocks
    Drop,
    /// The background filler that `create` starts (not for people)
    #[command(hide = true)]
    Filler,
}

/// Flags of `shards spares fill`.
#[derive(Debug, Args)]
pub struct FillArgs {
    /// Wait for a background filler at work, then make what is still missing
    #[arg(long)]
    pub wait: bool,
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
    /// Whether a background filler was at work (`fill` without `--wait`
    /// then changes nothing; a listing says so too).
    pub filler_at_work: bool,
    /// The background filler's log.
    pub filler_log: std::path::PathBuf,
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
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// Lists, fills or drops spares.
pub fn run(ctx: &Ctx, args: &SparesArgs) -> Result<SparesReport> {
    let repo = ctx.repo()?;
    let config = ctx.config(&Overrides::default())?;
    let say = |line: &str| ctx.say(line);
    let (mut made, mut dropped) = (0, 0);
    let lanes = filler::lanes(&ctx.env.home, repo)?;
    let stop = || match host::interrupt::caught() {
        Some(signal) => Err(Error::WaitInterrupted { signal }),
        None => Ok(()),
    };
    // Fills and drops take the filler's turn, so two never make spares of
    // one repository at once.
    let mut at_work = false;
    let turn = match &args.action {
        // Listing only asks whether a filler is at work.
        None => {
            at_work = lanes.try_turn()?.is_none();
            None
        }
        Some(SparesAction::Filler) => {
            let Some(turn) = lanes.queue(&stop)? else {
                say("Another filler waits for its turn and will make what is missing.");
                return report(ctx, repo, &config, &lanes, (0, 0), false);
            };
            say(&format!(
                "Filler (pid {}) at work, {}.",
                std::process::id(),
                humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            ));
            Some(turn)
        }
        Some(SparesAction::Fill(FillArgs { wait: true })) | Some(SparesAction::Drop) => {
            Some(match lanes.try_turn()? {
                Some(turn) => turn,
                None => {
                    say("Waiting for the background filler to finish.");
                    lanes.wait_turn(&stop)?
                }
            })
        }
        Some(SparesAction::Fill(FillArgs { wait: false })) => match lanes.try_turn()? {
            Some(turn) => Some(turn),
            None => return report(ctx, repo, &config, &lanes, (0, 0), true),
        },
    };
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
    let filling = matches!(
        args.action,
        Some(SparesAction::Fill(_)) | Some(SparesAction::Filler)
    );
    let drop_which = |row: &crate::ledger::ShardRow| match args.action {
        Some(SparesAction::Drop) => row.state == ShardState::Spare || !lookup::owner_alive(row),
        _ if filling => spare::readiness(row, &fit) == Readiness::Stale,
        _ => false,
    };
    let doomed: Vec<_> = spare::of(&*ctx.ledger()?, repo)?
        .into_iter()
        .filter(|r| drop_which(r))
        .collect();
    for row in doomed {
        ctx.with_site(|site| spare::drop_spare(site, repo, &row, &teardown))?;
        dropped += 1;
    }
    if filling {
        let hooks = hooks::allowed(&*ctx.ledger()?, &repo.git_dir, &config.hooks, false)?;
        let progress = std::cell::RefCell::new(ctx.progress("Checking out a spare"));
        let say = |line: &str| {
            progress.borrow_mut().finish();
            ctx.say(line);
        };
        let mut checkout = |done, total| progress.borrow_mut().update(done, total);
        made = ctx
            .with_site(|site| spare::fill(site, repo, &config, &hooks, &say, &mut checkout))?
            .len();
        progress.borrow_mut().finish();
    }
    drop(turn);
    report(ctx, repo, &config, &lanes, (made, dropped), at_work)
}

/// Starts a background filler for the repository, unless switched off
/// (`SHARDS_TEST_NO_FILLER`); returns a warning when it cannot start.
pub fn start_filler(ctx: &Ctx, repo: &Repo) -> Option<String> {
    if ctx.env.no_filler {
        return None;
    }
    let started = match &ctx.env.exe {
        Some(exe) => filler::lanes(&ctx.env.home, repo)
            .and_then(|lanes| filler::start(exe, &ctx.cwd, &ctx.env.home, &lanes)),
        None => Err(Error::io(
            "this program",
            std::io::Error::other("cannot be found to start again"),
        )),
    };
    started.err().map(|e| {
        format!(
            "the background spare filler did not start: {}; `shards spares fill` makes spares",
            crate::output::error_text(&e)
        )
    })
}

/// Returns the report of the repository's spares as they are now.
fn report(
    ctx: &Ctx,
    repo: &Repo,
    config: &Config,
    lanes: &filler::Lanes,
    (made, dropped): (usize, usize),
    filler_at_work: bool,
) -> Result<SparesReport> {
    let base = spare::base(repo, config)?;
    let fit = spare::fit(repo, config, &base)?;
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
            created_at: ShardView::of(row).created_at,
        })
        .collect();
    Ok(SparesReport {
        count: config.spares.count,
        spares,
        made,
        dropped,
        filler_at_work,
        filler_log: lanes.log.clone(),
    })
}

impl Render for SparesReport {
    fn render(&self, w: &mut dyn Write, ctx: &RenderCtx<'_>) -> io::Result<()> {
        if self.spares.is_empty() {
            return Ok(());
        }
        let now = std::time::SystemTime::now();
        let mut table = Table::new(vec!["NAME", "STATE", "BASE", "PORTS", "AGE", "PATH"]);
        for s in &self.spares {
            table.row(vec![
                s.name.clone(),
                s.state.as_str().to_string(),
                s.base.chars().take(10).collect(),
                format!("{}-{}", s.ports.start, s.ports.end),
                view::age(view::secs_since(&s.created_at, now)),
                ctx.path(&s.path),
            ]);
        }
        table.write(w, ctx.style)
    }

    fn notes(&self, ctx: &RenderCtx<'_>) -> Vec<String> {
        let mut notes = Vec::new();
        if self.filler_at_work {
            notes.push(format!(
                "A background filler is at work (its log: {}); `shards spares fill --wait` waits for it.",
                ctx.path(&self.filler_log)
            ));
        }
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
