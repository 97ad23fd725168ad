//! shards: git worktrees with their own blocks of ports, for running many
//! coding agents on one machine.
//!
//! The library holds everything; the `shards` binary only parses the
//! command line and calls [`run`]. Layers, from the bottom: the pure core
//! (`model`, `alloc`, `envfile`, `template`, `quote`, `config::parse`), the
//! adapters (`ledger`, `worktree`, `host`, `fsutil`, `paths`), the
//! lifecycle (`shard`), the command layer (`cmd`, `context`, `output`,
//! `progress`), and the entry (`cli`). ARCHITECTURE.md maps them.

pub mod alloc;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod context;
pub mod envfile;
pub mod error;
pub mod fsutil;
pub mod host;
pub mod ledger;
pub mod model;
pub mod output;
pub mod paths;
pub mod probe;
pub mod progress;
pub mod proxy;
pub mod quote;
pub mod register;
pub mod route;
pub mod shard;
pub mod template;
pub mod worktree;

use clap::CommandFactory;

pub use cli::Cli;
pub use error::{Error, Result};

/// Runs a parsed command line: resolves the context, runs the command and
/// prints its report. Errors are returned for `main` to print.
pub fn run(cli: &Cli) -> Result<()> {
    let ctx = context::Ctx::new(cli.global.clone(), paths::Env::from_process()?)?;
    cmd::dispatch(&ctx, &cli.command, Cli::command)
}

/// Renders the man pages (`shards.1` and one per subcommand) from the clap
/// definition, as `(file name, roff)` pairs.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let root = Cli::command();
    let mut pages = Vec::new();
    let mut render = |name: String, cmd: clap::Command| {
        let mut buf = Vec::new();
        if clap_mangen::Man::new(cmd).render(&mut buf).is_ok() {
            pages.push((format!("{name}.1"), buf));
        }
    };
    render("shards".to_string(), root.clone());
    for sub in root.get_subcommands() {
        let name = format!("shards-{}", sub.get_name());
        render(
            name.clone(),
            sub.clone()
                .name(name)
                .version(root.get_version().unwrap_or_default().to_string()),
        );
    }
    pages
}
