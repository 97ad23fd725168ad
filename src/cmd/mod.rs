//! The command layer: one module per subcommand, and the dispatch that runs
//! one and hands its report to the renderer.

pub mod completions;
pub mod create;
pub mod destroy;
pub mod list;
pub mod path;
pub mod prune;
pub mod shard;

use crate::cli::Command;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::output::{self, Render};

fn emit<R: Render>(ctx: &Ctx, report: &R) -> Result<()> {
    output::emit(report, ctx.format(), ctx.global.quiet, ctx.style())
        .map_err(|e| Error::io("<stdout>", e))
}

/// Runs one command and prints its report.
pub fn dispatch(ctx: &Ctx, command: &Command) -> Result<()> {
    match command {
        Command::Create(args) => emit(ctx, &create::run(ctx, args)?),
        Command::List(args) => emit(ctx, &list::run(ctx, args)?),
        Command::Destroy(args) => emit(ctx, &destroy::run(ctx, args)?),
        Command::Prune(args) => emit(ctx, &prune::run(ctx, args)?),
        Command::Path(args) => emit(ctx, &path::run(ctx, args)?),
        Command::Completions(args) => emit(ctx, &completions::run(args)?),
    }
}
