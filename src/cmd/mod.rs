//! The command layer: the command list, one module per subcommand (its
//! arguments and help text sit on its `<Name>Args`), and the dispatch that
//! runs one and hands its report to the renderer.
//!
//! A command parses, calls the lifecycle in `shard` (or reads the ledger
//! and host for reports), and returns a report; only `output` writes stdout.

pub mod adopt;
pub mod agent_hook;
pub mod cd;
pub mod completions;
pub mod create;
pub mod destroy;
pub mod env;
pub mod init;
pub mod list;
pub mod mcp;
pub mod path;
pub mod port;
pub mod proxy;
pub mod prune;
pub mod recover;
pub mod run;
pub mod spares;
pub mod status;
pub mod trust;
pub mod view;
pub mod who;
pub mod wording;

use clap::Subcommand;

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host;
use crate::output::{self, Format, Render};

// The help of each command is the doc comment of its Args struct, next to
// the code; a doc comment on a variant here would replace it. A variant is
// named as the command is spelled (`Hook` is `shards hook`, the agent hooks).
/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    Create(create::CreateArgs),
    List(list::ListArgs),
    Destroy(destroy::DestroyArgs),
    Prune(prune::PruneArgs),
    Port(port::PortArgs),
    Status(status::StatusArgs),
    Env(env::EnvArgs),
    Run(run::RunArgs),
    Path(path::PathArgs),
    Cd(cd::CdArgs),
    Adopt(adopt::AdoptArgs),
    Recover(recover::RecoverArgs),
    Spares(spares::SparesArgs),
    Proxy(proxy::ProxyArgs),
    Trust(trust::TrustArgs),
    Init(init::InitArgs),
    Hook(agent_hook::AgentHookArgs),
    Mcp(mcp::McpArgs),
    Completions(completions::CompletionsArgs),
}

fn emit<O, R: Render<O>>(ctx: &Ctx, report: &R, format: Format, opts: O) -> Result<()> {
    output::emit(report, format, ctx.global.quiet, &ctx.render_ctx(opts))
        .map_err(|e| Error::io("<stdout>", e))
}

/// Runs one command and prints its report. `root` builds the whole clap
/// command, for completions.
pub fn dispatch(ctx: &Ctx, command: &Command, root: fn() -> clap::Command) -> Result<()> {
    let format = ctx.format();
    match command {
        Command::Create(args) if args.dry_run => {
            emit(ctx, &create::preview::run(ctx, args)?, format, ())
        }
        Command::Create(args) => {
            // Caught only around the create, so it undoes itself on Ctrl-C;
            // dropped before the exec (see `host::interrupt`).
            let interrupts = host::interrupt::catch();
            emit(ctx, &create::run(ctx, args)?, format, ())?;
            drop(interrupts);
            match args.command.is_empty() {
                true => Ok(()),
                false => Err(run::exec_in_shard(ctx, &args.name, &args.command)),
            }
        }
        Command::List(args) => emit(ctx, &list::run(ctx, args)?, format, args.all),
        Command::Destroy(args) => emit(ctx, &destroy::run(ctx, args)?, format, ()),
        Command::Prune(args) => emit(ctx, &prune::run(ctx, args)?, format, ()),
        Command::Port(args) => match &args.action {
            Some(port::PortAction::Who { port }) => emit(ctx, &who::who(ctx, *port)?, format, ()),
            None => emit(ctx, &port::run(ctx, args)?, format, ()),
        },
        Command::Status(args) => emit(ctx, &status::run(ctx, args)?, format, ()),
        Command::Env(args) => {
            let format = match args.format {
                env::Shell::Json => Format::Json,
                _ => format,
            };
            emit(ctx, &env::run(ctx, args)?, format, args.format)
        }
        Command::Run(args) => run::run(ctx, args),
        Command::Path(args) => emit(ctx, &path::run(ctx, args)?, format, ()),
        Command::Cd(args) => emit(ctx, &cd::run(ctx, args)?, format, ()),
        Command::Init(args) => emit(ctx, &init::run(args)?, format, ()),
        Command::Hook(args) => emit(ctx, &agent_hook::run(ctx, args)?, format, ()),
        Command::Adopt(args) => emit(ctx, &adopt::run(ctx, args)?, format, ()),
        Command::Recover(args) => emit(ctx, &recover::run(ctx, args)?, format, ()),
        Command::Spares(args) => {
            // A fill stopped by Ctrl-C or SIGTERM undoes the spare it was
            // making, as a create does.
            let interrupts = host::interrupt::catch();
            let report = spares::run(ctx, args)?;
            drop(interrupts);
            emit(ctx, &report, format, ())
        }
        Command::Proxy(args) => emit(ctx, &proxy::run(ctx, args)?, format, ()),
        Command::Trust(_) => emit(ctx, &trust::run(ctx)?, format, ()),
        // stdout is the protocol channel: nothing else is printed there.
        Command::Mcp(args) => mcp::run(args),
        Command::Completions(args) => emit(ctx, &completions::run(args, root())?, format, ()),
    }
}
