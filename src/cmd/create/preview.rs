//! `shards create --dry-run`: what the create would make, planned and
//! checked as the create plans and checks it (`shard::create::preview`),
//! reported without anything made.
//!
//! Command layer: the report and its wording.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::{CreateArgs, Planned, cold_reason, prepare};
use crate::cmd::view::PortsView;
use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Render, RenderCtx};
use crate::shard::create::{self, Preview, Source};

/// What `shards create --dry-run` found the create would make.
#[derive(Debug, Serialize)]
pub struct CreatePreview {
    /// Always true: nothing was made.
    pub dry_run: bool,
    /// The shard's name.
    pub name: String,
    /// Its repository's root.
    pub repo: PathBuf,
    /// Its branch.
    pub branch: String,
    /// Whether the create would make the branch (false: it exists, and is
    /// checked out as it is).
    pub new_branch: bool,
    /// What the branch starts at.
    pub base: BaseView,
    /// Its worktree folder (absolute).
    pub path: PathBuf,
    /// Its env file (absolute).
    pub env_file: PathBuf,
    /// Its port block.
    pub ports: PortsView,
    /// The named ports it would hold (`[ports.services]`).
    pub services: Vec<ServiceView>,
    /// Whether it would be claimed from a spare (see `shards spares`).
    pub from_spare: bool,
    /// The spare it would be claimed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spare: Option<String>,
    /// With spares on, why it would be made cold rather than from a spare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold: Option<String>,
    /// The hooks the create would run (`setup`, `start`), in order.
    pub would_run: Vec<&'static str>,
    /// What the create would warn of.
    pub warnings: Vec<String>,
}

/// A branch's start: as given, and the commit it is now.
#[derive(Debug, Serialize)]
pub struct BaseView {
    /// `HEAD`, the `--base` given, the remote-tracking branch a new branch
    /// follows, or the existing branch.
    #[serde(rename = "ref")]
    pub spec: String,
    /// The commit (full hex id).
    pub commit: String,
}

/// A named port.
#[derive(Debug, Serialize)]
pub struct ServiceView {
    /// Service name.
    pub service: String,
    /// Its port.
    pub port: u16,
}

/// Plans the create as [`super::run`] does and reports what it would
/// make; writes nothing.
pub fn run(ctx: &Ctx, args: &CreateArgs) -> Result<CreatePreview> {
    let Planned {
        repo,
        config,
        hooks,
        plan,
        use_spares,
    } = prepare(ctx, args)?;
    let p = ctx.with_site(|site| create::preview(site, repo, plan, &config, &hooks, use_spares))?;
    let Preview {
        name,
        branch,
        new_branch,
        base_ref,
        base,
        path,
        block,
        services,
        source,
        hooks,
        warnings,
    } = p;
    let (spare, cold) = match source {
        Source::Spare(name) => (Some(name), None),
        Source::Cold(why) => (None, why.as_ref().map(cold_reason)),
    };
    Ok(CreatePreview {
        dry_run: true,
        name,
        repo: repo.root.clone(),
        branch,
        new_branch,
        base: BaseView {
            spec: base_ref,
            commit: base.to_string(),
        },
        env_file: path.join(&config.env_file),
        path,
        ports: PortsView::of(block),
        services: services
            .into_iter()
            .map(|s| ServiceView {
                service: s.service,
                port: s.port,
            })
            .collect(),
        from_spare: spare.is_some(),
        spare,
        cold,
        would_run: hooks,
        warnings,
    })
}

impl Render for CreatePreview {
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_>) -> io::Result<()> {
        let join = |items: Vec<String>| match items.is_empty() {
            true => "none".to_string(),
            false => items.join(", "),
        };
        let lines = [
            ("name", self.name.clone()),
            (
                "branch",
                match self.new_branch {
                    true => format!("{} (new)", self.branch),
                    false => format!("{} (exists)", self.branch),
                },
            ),
            ("base", format!("{} ({})", self.base.spec, self.base.commit)),
            ("path", cx.path(&self.path)),
            (
                "ports",
                format!(
                    "{}-{} ({} ports)",
                    self.ports.start, self.ports.end, self.ports.count
                ),
            ),
            (
                "services",
                join(
                    self.services
                        .iter()
                        .map(|s| format!("{} {}", s.service, s.port))
                        .collect(),
                ),
            ),
            (
                "from",
                match (&self.spare, &self.cold) {
                    (Some(spare), _) => format!("spare `{spare}`"),
                    (None, Some(why)) => format!("cold: {why}"),
                    (None, None) => "cold".to_string(),
                },
            ),
            (
                "hooks",
                join(self.would_run.iter().map(|h| h.to_string()).collect()),
            ),
        ];
        for (key, value) in lines {
            writeln!(w, "{:<10}{value}", format!("{key}:"))?;
        }
        Ok(())
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        vec![format!(
            "Dry run: shard `{}` was not created; nothing was written.",
            self.name
        )]
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
