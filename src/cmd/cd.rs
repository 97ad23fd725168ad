//! `shards cd`: the program's half of the shell function's `shards cd
//! NAME`: prints the worktree path for the function to change to, or,
//! run without the function, says how to load it.
//!
//! Command layer: reads the shard through `cmd::path`; the marker that the
//! function runs it comes from `paths::Env`.

use clap::Args;

use crate::cmd::path::{self, PathArgs, PathReport};
use crate::context::Ctx;
use crate::error::{Error, Result};

/// Change to a shard's worktree (shell function)
///
/// Changes the shell's working directory to the shard's worktree. Needs the
/// shell function of `shards init` (a program cannot change its shell's
/// directory): add `eval "$(shards init bash)"` to ~/.bashrc (zsh: the same
/// with zsh, in ~/.zshrc; fish: `shards init fish | source` in
/// config.fish). Without it, this command changes nothing and exits with
/// code 2; `cd "$(shards path NAME)"` does the same by hand.
#[derive(Debug, Args)]
pub struct CdArgs {
    /// Shard name
    pub name: String,
}

/// Finds the shard's worktree for the shell function, which changes to it.
pub fn run(ctx: &Ctx, args: &CdArgs) -> Result<PathReport> {
    if !ctx.env.shell_function {
        return Err(Error::NoShellFunction {
            name: args.name.clone(),
        });
    }
    path::run(
        ctx,
        &PathArgs {
            name: args.name.clone(),
        },
    )
}
