//! `shards port`: stable named ports inside a shard's block (get or
//! allocate, release), and `shards port who PORT`.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cmd::shard;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::host::{self, Proto};
use crate::model::valid_service_name;
use crate::output::{Render, Style, Table};

/// Arguments of `shards port`.
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

fn view(s: &crate::ledger::services::ServicePort) -> ServiceView {
    ServiceView {
        service: s.service.clone(),
        port: s.port,
        var: crate::model::service_var(&s.service),
    }
}

fn gone(row: &crate::ledger::ShardRow) -> Error {
    Error::ShardNotFound {
        name: row.name.clone(),
        repo: row.repo.root.clone(),
    }
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
    let row = shard::resolve_shard(ctx, args.shard.as_deref())?;
    let config = ctx.config(&Overrides::default())?;
    let before = ctx.ledger()?.services(row.id)?;
    // A plain listing reads; it never writes the env file.
    let has_worktree = row.path.exists() && !services.is_empty();
    if has_worktree {
        // Refuse before the ledger changes if the env file cannot take the
        // section (a symlink, damaged markers), so the two never disagree.
        shard::prepare_env(&row.path, &config, &shard::env_vars(&row, &config, &before))?;
    }
    let (all, released) = if args.release {
        let released = ctx.ledger()?.release_services(row.id, &services)?;
        (ctx.ledger()?.services(row.id)?, released)
    } else if services.is_empty() {
        (before.clone(), Vec::new())
    } else {
        let all = match ctx
            .ledger()?
            .allocate_services(row.id, &services, &config.services)
        {
            Err(Error::ShardGone { .. }) => return Err(gone(&row)),
            other => other?,
        };
        (all, Vec::new())
    };
    let warnings = if has_worktree {
        match shard::sync_env(ctx, &row, &config) {
            Ok(w) => w,
            Err(e) => {
                // The write failed (disk full, read-only): undo the ledger change.
                let added: Vec<String> = all
                    .iter()
                    .filter(|s| !before.contains(s))
                    .map(|s| s.service.clone())
                    .collect();
                let mut ledger = ctx.ledger()?;
                let _ = ledger.release_services(row.id, &added);
                let _ = ledger.restore_services(row.id, &released);
                // A shard destroyed meanwhile is reported as such, not as a missing file.
                return Err(match ledger.find(&row.repo.git_dir, &row.name)? {
                    None => gone(&row),
                    Some(now) if now.state != crate::model::ShardState::Active => shard::busy(&now),
                    Some(_) => e,
                });
            }
        }
    } else {
        Vec::new()
    };
    let wanted: Vec<ServiceView> = if args.release {
        Vec::new()
    } else if services.is_empty() {
        all.iter().map(view).collect()
    } else {
        services
            .iter()
            .filter_map(|n| all.iter().find(|s| &s.service == n))
            .map(view)
            .collect()
    };
    Ok(PortReport {
        shard: row.name,
        services: wanted,
        released: released.iter().map(view).collect(),
        warnings,
    })
}

impl Render for PortReport {
    fn render(&self, w: &mut dyn Write, _: Style) -> io::Result<()> {
        for s in &self.services {
            writeln!(w, "{} {}", s.service, s.port)?;
        }
        Ok(())
    }

    fn notes(&self) -> Vec<String> {
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

/// The shard and service that own a port.
#[derive(Debug, Serialize)]
pub struct Owner {
    /// Repository root.
    pub repo: PathBuf,
    /// Shard name.
    pub shard: String,
    /// Service name, when the port is a named one.
    pub service: Option<String>,
    /// The shard's block, as `start-end`.
    pub block: String,
}

/// One socket on the port.
#[derive(Debug, Serialize)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub proto: Proto,
    /// Local address.
    pub address: String,
    /// Process id, when this user may see it.
    pub pid: Option<i32>,
    /// Command name, when visible.
    pub command: Option<String>,
    /// Working directory of the process, when visible.
    pub cwd: Option<PathBuf>,
}

/// The result of `shards port who`.
#[derive(Debug, Serialize)]
pub struct WhoReport {
    /// The port.
    pub port: u16,
    /// Its owner in the ledger, if any shard's block holds it.
    pub owner: Option<Owner>,
    /// Sockets on it right now.
    pub listeners: Vec<Listener>,
}

/// Looks up who owns and who listens on a port, across every repository.
pub fn who(ctx: &Ctx, port: u16) -> Result<WhoReport> {
    let ledger = ctx.ledger()?;
    let rows = ledger.list(None)?;
    let owner = rows
        .iter()
        .find(|r| r.block.contains(port))
        .map(|r| -> Result<Owner> {
            let service = ledger
                .services(r.id)?
                .into_iter()
                .find(|s| s.port == port)
                .map(|s| s.service);
            Ok(Owner {
                repo: r.repo.root.clone(),
                shard: r.name.clone(),
                service,
                block: r.block.to_string(),
            })
        });
    let owner = owner.transpose()?;
    let sockets: Vec<_> = host::sockets()
        .into_iter()
        .filter(|s| s.addr.port() == port)
        .collect();
    let owners = host::socket_owners(&sockets.iter().map(|s| s.inode).collect::<HashSet<_>>());
    let listeners = sockets
        .iter()
        .map(|s| {
            let p = owners.get(&s.inode);
            Listener {
                proto: s.proto,
                address: s.addr.ip().to_string(),
                pid: p.map(|p| p.pid),
                command: p.map(|p| p.command.clone()),
                cwd: p.and_then(|p| p.cwd.clone()),
            }
        })
        .collect();
    Ok(WhoReport {
        port,
        owner,
        listeners,
    })
}

impl Render for WhoReport {
    fn render(&self, w: &mut dyn Write, style: Style) -> io::Result<()> {
        match &self.owner {
            Some(o) => {
                let service = o
                    .service
                    .as_ref()
                    .map(|s| format!(" (service {s})"))
                    .unwrap_or_default();
                writeln!(
                    w,
                    "port {}: owned by shard {}{service}, block {}, in {}",
                    self.port,
                    o.shard,
                    o.block,
                    o.repo.display()
                )?;
            }
            None => writeln!(w, "port {}: in no shard's block", self.port)?,
        }
        if self.listeners.is_empty() {
            return writeln!(w, "nothing listens on it");
        }
        let mut t = Table::new(vec!["PROTO", "ADDRESS", "PID", "COMMAND", "CWD"]);
        for l in &self.listeners {
            t.row(vec![
                l.proto.to_string(),
                l.address.clone(),
                l.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                l.command
                    .clone()
                    .unwrap_or_else(|| "unknown process".into()),
                l.cwd
                    .as_ref()
                    .map(|c| c.display().to_string())
                    .unwrap_or_default(),
            ]);
        }
        t.write(w, style)
    }
}
