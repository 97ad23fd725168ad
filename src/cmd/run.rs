//! `shards run`: run a command in a shard's worktree with its variables set,
//! and exit with the command's status.

use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
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

/// A command that exited with status 0.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// Always 0: other statuses become the process's exit code.
    pub exit_code: i32,
}

/// Runs the command and waits for it.
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
    let status = Command::new(program)
        .args(rest)
        .current_dir(&row.path)
        .envs(vars)
        .env("SHARD_PATH", &row.path)
        .status()
        .map_err(|e| Error::io(program, e))?;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    if code != 0 {
        return Err(Error::Child { code });
    }
    Ok(RunReport { exit_code: 0 })
}

impl Render for RunReport {
    fn render(&self, _: &mut dyn Write, _: Style) -> io::Result<()> {
        Ok(())
    }
}
