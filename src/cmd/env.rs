//! `shards env`: print a shard's variables for shells without direnv, as
//! `sh` export lines, `fish` set lines, or JSON. Always read from the
//! ledger, so they agree with the env file.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::cmd::shard;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, Style};

/// Output shapes of `shards env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    /// `export KEY='value'` (bash, zsh, dash, …)
    Sh,
    /// `set -gx KEY 'value'`
    Fish,
    /// One JSON document
    Json,
}

/// Arguments of `shards env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The shard (default: the one whose worktree holds the working directory)
    pub name: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value = "sh")]
    pub format: Shell,
}

/// A shard's variables.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct EnvReport {
    /// Shard name.
    pub shard: String,
    /// Worktree.
    pub path: PathBuf,
    /// Variables, as in the env file.
    pub vars: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    pairs: Vec<(String, String)>,
    #[serde(skip)]
    shell: Shell,
}

/// Quotes `value` for POSIX shells: single quotes, with `'` as `'\''`.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Quotes `value` for fish: single quotes, with `\` and `'` escaped.
pub fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// Reads a shard's variables from the ledger.
pub fn run(ctx: &Ctx, args: &EnvArgs) -> Result<EnvReport> {
    let row = shard::resolve_shard(ctx, args.name.as_deref())?;
    let config = ctx.config(&Overrides::default())?;
    let services = ctx.ledger()?.services(row.id)?;
    let pairs = shard::env_vars(&row, &config, &services);
    let vars = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Ok(EnvReport {
        shard: row.name,
        path: row.path,
        vars,
        pairs,
        shell: args.format,
    })
}

impl Render for EnvReport {
    fn render(&self, w: &mut dyn Write, _: Style) -> io::Result<()> {
        for (k, v) in &self.pairs {
            match self.shell {
                Shell::Fish => writeln!(w, "set -gx {k} {};", fish_quote(v))?,
                _ => writeln!(w, "export {k}={}", sh_quote(v))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_values() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
        assert_eq!(fish_quote(r"a\'b"), r"'a\\\'b'");
    }
}
