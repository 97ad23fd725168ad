//! `shards completions`: print a shell completion script.

use std::io::{self, Write};

use clap::Args;
use clap_complete::Shell;
use serde::Serialize;

use crate::error::Result;
use crate::output::{Render, RenderCtx};

/// Print shell completions
///
/// For example `shards completions zsh > ~/.zfunc/_shards`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// A completion script.
#[derive(Debug, Serialize)]
pub struct CompletionsReport {
    /// Shell name.
    pub shell: String,
    /// The script.
    pub script: String,
}

/// Generates the completion script for a shell, from the whole command
/// line's definition (`root`).
pub fn run(args: &CompletionsArgs, mut root: clap::Command) -> Result<CompletionsReport> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut root, "shards", &mut buf);
    Ok(CompletionsReport {
        shell: args.shell.to_string(),
        script: String::from_utf8_lossy(&buf).into_owned(),
    })
}

impl Render for CompletionsReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        w.write_all(self.script.as_bytes())
    }
}
