//! `shards port`: stable named ports inside a shard's block (get or
//! allocate, release); `shards port who PORT` lives in `who`.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::ledger::services::ServicePort;
use crate::model::{InfoField, ServiceInfo, valid_service_name};
use crate::output::{Render, RenderCtx};
use crate::route::Route;
use crate::shard::routes::Urls;
use crate::shard::{lookup, ports};

/// Get or allocate named ports in a shard's block
///
/// `shards port web api db` gives each service a stable port inside the
/// shard's block and adds WEB_PORT, API_PORT and DB_PORT to its env file.
/// Services in [ports.services] sit at their configured offset in every
/// shard; any other name gets the lowest free offset and keeps it until
/// `--release`. Several names are allocated all or nothing.
/// `--describe`, `--protocol` and `--health` say what one service is (also
/// `[ports.services] web = { offset = 0, describe = "…", protocol = "udp",
/// health = "/healthz" }`): `status` then counts a UDP service as running
/// when a UDP socket is bound on its port, and asks the health path.
/// `shards port who PORT` tells which shard and service own a port and
/// which process listens on it.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PortArgs {
    /// `who PORT`: which shard and process own a port
    #[command(subcommand)]
    pub action: Option<PortAction>,

    /// Services to get or allocate (none: list the shard's service ports)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,

    /// The shard (default: the one whose worktree holds the working directory)
    #[arg(long, value_name = "NAME")]
    pub shard: Option<String>,

    /// Release the named services' ports instead of allocating them
    #[arg(long, requires = "services")]
    pub release: bool,

    /// Describe the service, for people ("Frontend dev server"; "" clears it)
    #[arg(long, value_name = "TEXT", conflicts_with = "release")]
    pub describe: Option<String>,

    /// The service's protocol: tcp (the default) or udp
    #[arg(long, value_name = "PROTO", conflicts_with = "release")]
    pub protocol: Option<String>,

    /// The HTTP path `status` asks (GET) to call the service healthy ("" clears it)
    #[arg(long, value_name = "PATH", conflicts_with = "release")]
    pub health: Option<String>,
}

impl PortArgs {
    /// Returns what the flags say about the service, checked.
    fn info(&self) -> Result<ServiceInfo> {
        ServiceInfo::read(
            self.describe.as_deref(),
            self.protocol.as_deref(),
            self.health.as_deref(),
        )
        .map_err(|(field, why)| {
            let flag = match field {
                InfoField::Describe => "--describe",
                InfoField::Protocol => "--protocol",
                InfoField::Health => "--health",
            };
            info_refused(field, flag, why)
        })
    }
}

/// Returns the usage error for a refused field of a service's info,
/// named as the caller names it (`--describe`, MCP's `description`).
pub fn info_refused(field: InfoField, named: &str, why: String) -> Error {
    let hint = match field {
        InfoField::Describe => "say it in one line",
        InfoField::Protocol => "use `tcp` or `udp`",
        InfoField::Health => "give the path the service answers, as `/healthz`",
    };
    Error::Usage {
        message: format!("{named}: {why}"),
        hint: hint.into(),
    }
}

/// Subcommands of `shards port`.
#[derive(Debug, Subcommand)]
pub enum PortAction {
    /// Show which shard and service own PORT, and who listens on it
    Who {
        /// The port to look up
        port: u16,
    },
}

/// One named port.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ServiceView {
    /// Service name.
    pub service: String,
    /// Its port.
    pub port: u16,
    /// Its variable in the env file.
    pub var: String,
    /// What it is, when described.
    pub describe: Option<String>,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The HTTP path `status` asks, when set.
    pub health: Option<String>,
    /// Its URL through `shards proxy`, with `[proxy] enabled`.
    pub url: Option<String>,
}

impl ServiceView {
    /// Returns the view of a service port; `urls` is the shard's route and
    /// the proxy's port when the proxy is enabled.
    pub fn of(s: &ServicePort, urls: Option<(&Route, u16)>) -> ServiceView {
        ServiceView {
            service: s.service.clone(),
            port: s.port,
            var: crate::model::service_var(&s.service),
            describe: s.info.describe.clone(),
            protocol: s.info.protocol().to_string(),
            health: s.info.health.clone(),
            url: urls.map(|(route, port)| route.url(Some(&s.service), port)),
        }
    }
}

/// The result of `shards port`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PortReport {
    /// The shard.
    pub shard: String,
    /// Ports of the services asked for (all of the shard's when none were named).
    pub services: Vec<ServiceView>,
    /// Services released by `--release`.
    pub released: Vec<ServiceView>,
    /// Warnings from rewriting the env file.
    pub warnings: Vec<String>,
}

/// Gets, allocates or releases service ports.
pub fn run(ctx: &Ctx, args: &PortArgs) -> Result<PortReport> {
    // Every name valid; a name given twice is asked for once.
    let mut services: Vec<String> = Vec::new();
    for name in &args.services {
        if !valid_service_name(name) {
            return Err(Error::InvalidService { name: name.clone() });
        }
        if !services.contains(name) {
            services.push(name.clone());
        }
    }
    let set = args.info()?;
    if !set.is_empty() && services.len() != 1 {
        return Err(Error::Usage {
            message: "--describe, --protocol and --health say what one service is".into(),
            hint: "name one service: `shards port web --describe \"Frontend dev server\"`".into(),
        });
    }
    let repo = ctx.repo()?;
    let row = lookup::resolve(&*ctx.ledger()?, repo, &ctx.cwd, args.shard.as_deref())?;
    let config = ctx.config(&Overrides::default())?;
    let changed =
        ctx.with_site(|site| ports::change(site, &row, &config, &services, &set, args.release))?;
    let urls = Urls::load(&*ctx.ledger()?, &config)?;
    let urls = urls.as_ref().and_then(|u| u.of(row.id));
    let view = |s: &ServicePort| ServiceView::of(s, urls);
    let wanted: Vec<ServiceView> = if args.release {
        Vec::new()
    } else if services.is_empty() {
        changed.all.iter().map(view).collect()
    } else {
        services
            .iter()
            .filter_map(|n| changed.all.iter().find(|s| &s.service == n))
            .map(view)
            .collect()
    };
    Ok(PortReport {
        shard: row.name,
        services: wanted,
        released: changed.released.iter().map(view).collect(),
        warnings: changed.warnings,
    })
}

impl Render for PortReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        // `NAME PORT` first, so `read name port` keeps working; what
        // describes it follows.
        for s in &self.services {
            let mut line = format!("{} {}", s.service, s.port);
            if s.protocol != "tcp" {
                line.push_str(&format!("  {}", s.protocol));
            }
            if let Some(h) = &s.health {
                line.push_str(&format!("  health {h}"));
            }
            if let Some(d) = &s.describe {
                line.push_str(&format!("  {d}"));
            }
            writeln!(w, "{line}")?;
        }
        Ok(())
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        self.released
            .iter()
            .map(|s| {
                format!(
                    "Released `{}` (port {}) of shard `{}`.",
                    s.service, s.port, self.shard
                )
            })
            .collect()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
