//! `shards trust`: show the hooks a repository's `.shards.toml` sets and
//! approve them, as they are now, for this user.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::config::Overrides;
use crate::config::hooks::Step;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, RenderCtx};

/// Approve this repository's hooks
///
/// Shows the hooks (setup, start, teardown) that the repository's
/// .shards.toml sets, and approves them for you: `shards create` runs a
/// repository's hooks only once they are approved as they are, and asks
/// again when any command in them changes (the approval is kept in the
/// ledger, keyed on a SHA-256 of the commands). Hooks from your own config
/// need no approval. Read them before you run this.
#[derive(Debug, Args)]
pub struct TrustArgs {}

/// One hook as approved.
#[derive(Debug, Serialize)]
pub struct HookView {
    /// `setup`, `start` or `teardown`.
    pub hook: String,
    /// Where it is set (`file:line`).
    pub origin: String,
    /// Its steps.
    pub steps: Vec<Step>,
}

/// What `shards trust` approved.
#[derive(Debug, Serialize)]
pub struct TrustReport {
    /// The repository root.
    pub repo: PathBuf,
    /// The repository's hooks (empty when its file sets none).
    pub hooks: Vec<HookView>,
    /// SHA-256 of the hooks' commands, the key of the approval.
    pub hash: Option<String>,
    /// True when this run approved them; false when they were approved already or there are none.
    pub approved_now: bool,
}

impl Render for TrustReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        for h in &self.hooks {
            writeln!(w, "{} ({}):", h.hook, h.origin)?;
            for s in &h.steps {
                let optional = if s.optional { "  (optional)" } else { "" };
                writeln!(w, "  {}{optional}", s.run)?;
            }
        }
        Ok(())
    }

    fn notes(&self, cx: &RenderCtx<'_>) -> Vec<String> {
        let repo = cx.path(&self.repo);
        vec![match (&self.hash, self.approved_now) {
            (None, _) => format!("The repository at {repo} sets no hooks: nothing to trust."),
            (Some(_), true) => format!(
                "Trusted these hooks of {repo}: `shards create` runs them until they change."
            ),
            (Some(_), false) => format!("These hooks of {repo} were trusted already."),
        }]
    }
}

/// Approves the current repository's hooks for this user.
pub fn run(ctx: &Ctx) -> Result<TrustReport> {
    let repo = ctx.repo()?;
    let config = ctx.config(&Overrides::default())?;
    let hooks = config
        .hooks
        .project()
        .into_iter()
        .map(|(name, h)| HookView {
            hook: name.to_string(),
            origin: h.origin.clone(),
            steps: h.steps.clone(),
        })
        .collect();
    let hash = config.hooks.project_hash();
    let approved_now = match &hash {
        Some(hash) => ctx.ledger()?.approve_hooks(
            &repo.git_dir,
            crate::host::current_uid(),
            hash,
            crate::shard::now(),
        )?,
        None => false,
    };
    Ok(TrustReport {
        repo: repo.root.clone(),
        hooks,
        hash,
        approved_now,
    })
}
