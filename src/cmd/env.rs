//! `shards env`: print a shard's variables for shells without direnv, as
//! `sh` export lines, `fish` set lines, or JSON. Always read from the
//! ledger, so they agree with the env file.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::config::Overrides;
use crate::context::Ctx;
use crate::envfile::{fish_quote, sh_quote};
use crate::error::Result;
use crate::output::{Render, RenderCtx};
use crate::shard::{env, lookup};

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

/// Print a shard's variables for a shell
///
/// `eval "$(shards env)"` inside a shard's worktree, or `shards env NAME
/// --format fish | source`. The values come from the ledger and match the
/// env file.
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
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub vars: Vars,
}

/// Reads a shard's variables from the ledger.
pub fn run(ctx: &Ctx, args: &EnvArgs) -> Result<EnvReport> {
    let repo = ctx.repo()?;
    let ledger = ctx.ledger()?;
    let row = lookup::resolve(&ledger, repo, &ctx.cwd, args.name.as_deref())?;
    let config = ctx.config(&Overrides::default())?;
    let vars = env::current_vars(&ledger, &row, &config)?;
    Ok(EnvReport {
        shard: row.name,
        path: row.path,
        vars: Vars(vars),
    })
}

/// Variables in the env file's order (the order shells get them), shown in
/// JSON as one object.
#[derive(Debug)]
pub struct Vars(pub Vec<(String, String)>);

impl Serialize for Vars {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // Through serde_json's map, so the JSON keys keep its order.
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        map.serialize(s)
    }
}

/// Renders as lines for the shell in `opts`.
impl Render<Shell> for EnvReport {
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_, Shell>) -> io::Result<()> {
        for (k, v) in &self.vars.0 {
            match cx.opts {
                Shell::Fish => writeln!(w, "set -gx {k} {};", fish_quote(v))?,
                _ => writeln!(w, "export {k}={}", sh_quote(v))?,
            }
        }
        Ok(())
    }
}
