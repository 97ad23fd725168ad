//! The command layer: one module per subcommand, and the dispatch that runs
//! one and hands its report to the renderer.

pub mod adopt;
pub mod completions;
pub mod create;
pub mod destroy;
pub mod env;
pub mod list;
pub mod mcp;
pub mod path;
pub mod port;
pub mod prune;
pub mod run;
pub mod shard;
pub mod status;

use crate::cli::Command;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::output::{self, Format, Render};

fn emit<R: Render>(ctx: &Ctx, report: &R) -> Result<()> {
    emit_as(ctx, report, ctx.format())
}

fn emit_as<R: Render>(ctx: &Ctx, report: &R, format: Format) -> Result<()> {
    output::emit(report, format, ctx.global.quiet, ctx.style())
        .map_err(|e| Error::io("<stdout>", e))
}

/// Runs one command and prints its report.
pub fn dispatch(ctx: &Ctx, command: &Command) -> Result<()> {
    match command {
        Command::Create(args) => {
            emit(ctx, &create::run(ctx, args)?)?;
            match args.command.is_empty() {
                true => Ok(()),
                false => Err(run::exec_in_shard(ctx, &args.name, &args.command)),
            }
        }
        Command::List(args) => emit(ctx, &list::run(ctx, args)?),
        Command::Destroy(args) => emit(ctx, &destroy::run(ctx, args)?),
        Command::Prune(args) => emit(ctx, &prune::run(ctx, args)?),
        Command::Port(args) => match &args.action {
            Some(port::PortAction::Who { port }) => emit(ctx, &port::who(ctx, *port)?),
            None => emit(ctx, &port::run(ctx, args)?),
        },
        Command::Status(args) => emit(ctx, &status::run(ctx, args)?),
        Command::Env(args) => {
            let format = if args.format == env::Shell::Json {
                Format::Json
            } else {
                ctx.format()
            };
            emit_as(ctx, &env::run(ctx, args)?, format)
        }
        Command::Run(args) => run::run(ctx, args),
        Command::Path(args) => emit(ctx, &path::run(ctx, args)?),
        Command::Adopt(args) => emit(ctx, &adopt::run(ctx, args)?),
        // stdout is the protocol channel: nothing else is printed there.
        Command::Mcp(args) => mcp::run(args),
        Command::Completions(args) => emit(ctx, &completions::run(args)?),
    }
}
