//! The command line: the clap root, global flags, and the command list.
//!
//! The command list and each command's arguments and help live in `cmd`
//! (`cmd::Command`, `cmd/<name>.rs`); the global flags in `context`. This
//! module only assembles them. With `paths`, the only reader of the
//! process's inputs (argv here). Entry layer: nothing imports it but
//! `main`, `lib` and the completions generator.

use clap::Parser;

pub use crate::cmd::Command;
pub use crate::context::GlobalArgs;

const ABOUT: &str = "Give each coding agent its own git worktree and block of ports";

const LONG_ABOUT: &str = "\
Give each coding agent its own git worktree and block of ports

A shard is a git worktree on its own branch, a block of ports (100 by
default) that no other shard on this machine holds, and a managed section in
the worktree's .env file (PORT_RANGE_START, PORT_RANGE_END, PORT_COUNT, PORT,
SHARD_NAME, COMPOSE_PROJECT_NAME, <SERVICE>_PORT) so that direnv, docker
compose and dev servers pick the ports up. Blocks are recorded in a SQLite
ledger shared by every repository of this user.";

const AFTER_LONG_HELP: &str = "\
Configuration (later wins): built-in defaults, the user file
($SHARDS_CONFIG, else $XDG_CONFIG_HOME/shards/config.toml), the project file
.shards.toml at the worktree root, SHARDS_* variables, flags. Keys:
  ports.base (3000), ports.max (port before the OS ephemeral range),
  ports.block_size (100), ports.services.<name> = <offset>,
  worktree.root (\"<home>/worktrees/{repo}/{name}\"), env.file (\".env\"),
  env.direnv (false), env.compose (true)
Variables: SHARDS_PORTS_BASE, SHARDS_PORTS_MAX, SHARDS_PORTS_BLOCK_SIZE,
  SHARDS_WORKTREE_ROOT, SHARDS_ENV_FILE, SHARDS_ENV_DIRENV, SHARDS_ENV_COMPOSE.
Home: $SHARDS_HOME, else $XDG_DATA_HOME/shards, else ~/.local/share/shards.

Exit codes: 0 success; 1 failure (not found, dirty worktree, no free block,
name taken, git or file error); 2 usage error or invalid configuration
(also `shards cd` run without the shell function of `shards init`);
3 ledger unusable (corrupt, newer schema, locked past the timeout, or on a
disk that refuses writes); 130 (SIGINT, Ctrl-C) or 143 (SIGTERM): a create
was interrupted and undid what it had made. `shards run` and `create -- CMD`
become the command, so its exit code is the result; 127 when it is not
found, 126 when it cannot run.";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "shards",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}
