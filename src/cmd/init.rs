//! `shards init`: print the shell function that gives `shards cd NAME` and
//! `shards create NAME --cd` (a program cannot change its shell's folder).
//!
//! Command layer: the scripts are text (`init/shards.sh`, `init/shards.fish`);
//! this module depends on nothing but `output`.

use std::io::{self, Write};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::error::Result;
use crate::output::{Render, RenderCtx};

/// Print the shell function for `shards cd`
///
/// Prints a shell function named `shards` for `shards cd NAME` (change to
/// a shard's worktree) and `shards create NAME --cd` (create it, then
/// change to it); every other command goes to the shards program
/// unchanged, with its exit status. Load it from your shell's startup file:
///
/// - bash, in ~/.bashrc: `eval "$(shards init bash)"`
///
/// - zsh, in ~/.zshrc: `eval "$(shards init zsh)"`
///
/// - fish, in ~/.config/fish/config.fish: `shards init fish | source`
///
/// The function runs the program as `command shards`, so the program must
/// be on PATH under the name `shards`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Shell to print the function for
    #[arg(value_enum)]
    pub shell: InitShell,
}

/// The shells `shards init` writes a function for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InitShell {
    /// GNU bash
    Bash,
    /// Z shell
    Zsh,
    /// fish
    Fish,
}

/// A shell function to load.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// The shell it is for.
    pub shell: InitShell,
    /// The script.
    pub script: String,
}

/// Returns the shell function for `args.shell`.
pub fn run(args: &InitArgs) -> Result<InitReport> {
    let script = match args.shell {
        // One script for both: it uses only what bash and zsh share.
        InitShell::Bash | InitShell::Zsh => include_str!("init/shards.sh"),
        InitShell::Fish => include_str!("init/shards.fish"),
    };
    Ok(InitReport {
        shell: args.shell,
        script: script.to_string(),
    })
}

impl Render for InitReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        w.write_all(self.script.as_bytes())
    }
}
