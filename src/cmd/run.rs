//! `shards run`: run a command in a shard's worktree with its variables set,
//! and exit with the command's status.

use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;

use clap::Args;

use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::shard::{env, lookup};

/// Run a command in a shard with its variables
///
/// Runs CMD in the shard's worktree with its variables (and SHARD_PATH)
/// set, and exits with CMD's exit status.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The shard
    pub name: String,

    /// The command and its arguments (after `--`)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs the command in place of this process: it never returns on success.
///
/// Replacing this process (exec) means signals (Ctrl-C, SIGTERM from
/// `timeout` or an agent) reach the command directly and its exit status is
/// the result. Returns the reason when the command cannot be started.
pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<()> {
    Err(exec_in_shard(ctx, &args.name, &args.command))
}

/// Replaces this process with `command` in shard `name`'s worktree, with
/// the shard's variables and `SHARD_PATH` set; returns only on failure.
pub fn exec_in_shard(ctx: &Ctx, name: &str, command: &[String]) -> Error {
    let prepare = || -> Result<(Command, String)> {
        let repo = ctx.repo()?;
        let ledger = ctx.ledger()?;
        let row = lookup::require(&ledger, repo, name)?;
        let config = ctx.config(&Overrides::default())?;
        let vars = env::current_vars(&ledger, &row, &config)?;
        if !row.path.is_dir() {
            return Err(Error::io(
                &row.path,
                io::Error::other("the shard's worktree is missing; `shards prune` reclaims it"),
            ));
        }
        let (program, rest) = command.split_first().ok_or(Error::Child { code: 2 })?;
        let mut cmd = Command::new(program);
        cmd.args(rest)
            .current_dir(&row.path)
            .envs(vars)
            .env("SHARD_PATH", &row.path);
        Ok((cmd, program.clone()))
    };
    match prepare() {
        Ok((mut cmd, program)) => {
            // Output already written must reach its reader before exec,
            // and what this process committed must reach the disk: exec
            // drops nothing, so the ledger's own sync would never run.
            let _ = io::stdout().flush();
            if let Err(err) = ctx.sync_ledger() {
                return Error::io(ctx.env.ledger_path(), err);
            }
            Error::CannotRun {
                program,
                err: cmd.exec(),
            }
        }
        Err(e) => e,
    }
}
