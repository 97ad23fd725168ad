//! The command line: the clap root, global flags, and the command list.
//!
//! The command list and each command's arguments and help live in `cmd`
//! (`cmd::Command`, `cmd/<name>.rs`); the global flags in `context`. This
//! module only assembles them. With `paths`, the only reader of the
//! process's inputs (argv here). Entry layer: nothing imports it but
//! `main`, `lib` and the completions generator.

use std::ffi::OsString;

use clap::{CommandFactory, Parser};

pub use crate::cmd::Command;
pub use crate::context::GlobalArgs;
use crate::error::Error;

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

/// A command line clap did not turn into a [`Cli`]: a usage error, or
/// `--help` / `--version`, which clap answers itself.
#[derive(Debug)]
pub struct Refusal {
    /// Clap's own answer: `exit()` prints it (help and version on stdout,
    /// errors on stderr) and exits with its code.
    pub clap: clap::Error,
    /// Where a usage error's hint points: `shards port who --help`.
    path: String,
    /// `--json` was on the command line.
    json: bool,
}

impl Refusal {
    /// Returns the usage error to print as a JSON document: under `--json`,
    /// and never for `--help` or `--version`, which are answers.
    pub fn json_error(&self) -> Option<Error> {
        (self.json && self.clap.exit_code() != 0).then(|| usage_error(&self.clap, &self.path))
    }
}

/// Parses the process's command line. What clap refuses comes back with
/// whether `--json` was asked for, read from argv since clap gave no
/// [`GlobalArgs`]: any `--json` before a `--` (after it the words are a
/// child command's, as in `shards run x -- cmd --json`).
pub fn parse() -> Result<Cli, Refusal> {
    let args: Vec<OsString> = std::env::args_os().collect();
    Cli::try_parse_from(&args).map_err(|clap| {
        let ours = || args.iter().skip(1).take_while(|a| *a != "--");
        Refusal {
            json: ours().any(|a| a == "--json"),
            path: command_path(ours().filter_map(|a| a.to_str())),
            clap,
        }
    })
}

/// Returns the subcommands named in `words` as a command line
/// (`shards port who`), following clap's tree from the root.
fn command_path<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let mut cmd = Cli::command();
    let mut path = vec![cmd.get_name().to_string()];
    for word in words {
        let Some(sub) = cmd.find_subcommand(word).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_string());
        cmd = sub;
    }
    path.join(" ")
}

/// Turns clap's refusal into an [`Error::Usage`]: its first paragraph as
/// one line (the message); its tips, its usage line and `--help` of the
/// command as the hint.
fn usage_error(err: &clap::Error, path: &str) -> Error {
    let text = err.render().to_string();
    let mut paragraphs = text.split("\n\n").map(|p| {
        p.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let first = paragraphs.next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(&first).to_string();
    let mut hint = Vec::new();
    for p in paragraphs {
        if let Some(tip) = p.strip_prefix("tip: ") {
            hint.push(tip.to_string());
        } else if let Some(usage) = p.strip_prefix("Usage: ") {
            hint.push(format!("usage: {usage}"));
        }
    }
    hint.push(format!("see `{path} --help`"));
    Error::Usage {
        message,
        hint: hint.join("; "),
    }
}
