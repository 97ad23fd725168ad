//! `shards run`: run a command in a shard's worktree with its variables set,
//! and exit with the command's status.

use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;

use clap::Args;
use serde::Serialize;

use crate::cmd::shard;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::output::{Render, Style};

/// Arguments of `shards run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The shard
    pub name: String,

    /// The command and its arguments (after `--`)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Never built: on success `run` becomes the command (exec).
#[derive(Debug, Serialize)]
pub struct RunReport {}

/// Runs the command in place of this process; returns only on failure.
pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<RunReport> {
    let row = shard::require_shard(ctx, &args.name)?;
    let config = ctx.config(&Overrides::default())?;
    let services = ctx.ledger()?.services(row.id)?;
    let vars = shard::env_vars(&row, &config, &services);
    if !row.path.is_dir() {
        return Err(Error::io(
            &row.path,
            io::Error::other("the shard's worktree is missing; `shards prune` reclaims it"),
        ));
    }
    let (program, rest) = args.command.split_first().ok_or(Error::Child { code: 2 })?;
    // Replace this process with the command: signals (Ctrl-C, SIGTERM from
    // `timeout` or an agent) reach it directly, and its exit status is ours.
    let err = Command::new(program)
        .args(rest)
        .current_dir(&row.path)
        .envs(vars)
        .env("SHARD_PATH", &row.path)
        .exec();
    Err(Error::CannotRun {
        program: program.clone(),
        err,
    })
}

impl Render for RunReport {
    fn render(&self, _: &mut dyn Write, _: Style) -> io::Result<()> {
        Ok(())
    }
}
