//! The command line: the clap root, global flags, and the command list.
//!
//! Each command's own arguments live in its `cmd/<name>.rs`; this module
//! only assembles them. With `paths`, the only reader of the process's
//! inputs (argv here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd::{
    adopt::AdoptArgs, completions::CompletionsArgs, create::CreateArgs, destroy::DestroyArgs,
    env::EnvArgs, list::ListArgs, mcp::McpArgs, path::PathArgs, port::PortArgs, prune::PruneArgs,
    run::RunArgs, status::StatusArgs,
};

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
name taken, git or file error); 2 usage error or invalid configuration;
3 ledger unusable (corrupt, newer schema, locked past the timeout, or on a
disk that refuses writes). `shards run` and `create -- CMD` become the
command, so its exit code is the result; 127 when it is not found, 126 when
it cannot run.";

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

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print data as JSON on stdout (errors too)
    #[arg(long, global = true)]
    pub json: bool,

    /// Print nothing on stderr but warnings and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Run as if shards was started in PATH
    #[arg(short = 'C', value_name = "PATH", global = true)]
    pub dir: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a shard: worktree, branch, port block and .env
    ///
    /// Makes a git worktree for NAME on its own branch (NAME unless --branch),
    /// reserves the lowest free block of ports that no shard holds and nothing on
    /// this host listens on, and writes the block into the worktree's env file.
    /// Prints the worktree path on stdout. If any step fails, everything this
    /// create made is undone. With `-- CMD...`, then runs CMD in the new shard
    /// as `shards run` does.
    Create(CreateArgs),
    /// List shards with their ports and state
    ///
    /// Reads the ledger and checks only that each worktree folder exists, so it
    /// stays instant with hundreds of shards. STATUS is active, missing (the
    /// worktree folder is gone), creating or destroying.
    List(ListArgs),
    /// Destroy shards and free their ports
    ///
    /// Refuses a worktree with uncommitted or untracked changes unless --force.
    /// Removes the worktree, deletes the branch only when this shard made it and
    /// every commit on it is on another branch or tag (otherwise keeps it and
    /// says so), and frees the port block. All names are checked before anything
    /// is removed.
    Destroy(DestroyArgs),
    /// Reclaim shards whose worktree or creator is gone
    ///
    /// Frees the block of every shard whose worktree folder or repository was
    /// deleted, and finishes shards whose create or destroy was killed half-way
    /// (their process is gone). A worktree that still holds uncommitted or
    /// untracked work is never removed. Acts on this repository; --all (or
    /// running outside any repository) acts on every repository in the ledger.
    Prune(PruneArgs),
    /// Get or allocate named ports in a shard's block
    ///
    /// `shards port web api db` gives each service a stable port inside the
    /// shard's block and adds WEB_PORT, API_PORT and DB_PORT to its env file.
    /// Services in [ports.services] sit at their configured offset in every
    /// shard; any other name gets the lowest free offset and keeps it until
    /// `--release`. Several names are allocated all or nothing.
    /// `shards port who PORT` tells which shard and service own a port and
    /// which process listens on it.
    Port(PortArgs),
    /// Audit ports: who listens where, per shard
    ///
    /// Reads the host's TCP and UDP tables (IPv4 and IPv6) and maps sockets to
    /// processes where this user may see them. For each shard: sockets inside
    /// its block and their processes (`foreign` when the process does not run
    /// inside the shard's worktree), the shard's processes listening outside
    /// its block, and named ports nothing listens on. Then the pool's figures.
    Status(StatusArgs),
    /// Print a shard's variables for a shell
    ///
    /// `eval "$(shards env)"` inside a shard's worktree, or `shards env NAME
    /// --format fish | source`. The values come from the ledger and match the
    /// env file.
    Env(EnvArgs),
    /// Run a command in a shard with its variables
    ///
    /// Runs CMD in the shard's worktree with its variables (and SHARD_PATH)
    /// set, and exits with CMD's exit status.
    Run(RunArgs),
    /// Print a shard's worktree path
    ///
    /// For `cd "$(shards path NAME)"`.
    Path(PathArgs),
    /// Register an existing worktree as a shard
    ///
    /// PATH must be a linked worktree of this repository (see `git worktree
    /// list`) on a branch, and not a shard yet. It gets a block and an env
    /// file; its files and branch stay as they are.
    Adopt(AdoptArgs),
    /// Serve shards to coding agents over MCP (stdio)
    ///
    /// Speaks the Model Context Protocol on stdin/stdout, for agents to create
    /// their own shard, get ports and audit listeners. Tools: create_shard,
    /// list_shards, destroy_shard, get_port, release_port, port_status,
    /// shard_env. Same ledger and rules as the command line.
    Mcp(McpArgs),
    /// Print shell completions
    ///
    /// For example `shards completions zsh > ~/.zfunc/_shards`.
    Completions(CompletionsArgs),
}
