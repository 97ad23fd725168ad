//! `shards port who PORT`: which shard and service own a port (across
//! every repository) and which processes have a socket on it.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::context::Ctx;
use crate::error::Result;
use crate::host::{self, Proto};
use crate::output::{Render, RenderCtx, Table};

/// The shard and service that own a port.
#[derive(Debug, Serialize)]
pub struct Owner {
    /// Repository root.
    pub repo: PathBuf,
    /// Shard name.
    pub shard: String,
    /// Service name, when the port is a named one.
    pub service: Option<String>,
    /// The service's description, when it has one.
    pub describe: Option<String>,
    /// The service's protocol (`tcp` or `udp`), when the port is a named one.
    pub protocol: Option<String>,
    /// The service's health path, when it has one.
    pub health: Option<String>,
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
            let service = ledger.services(r.id)?.into_iter().find(|s| s.port == port);
            Ok(Owner {
                repo: r.repo.root.clone(),
                shard: r.name.clone(),
                protocol: service.as_ref().map(|s| s.info.protocol().to_string()),
                describe: service.as_ref().and_then(|s| s.info.describe.clone()),
                health: service.as_ref().and_then(|s| s.info.health.clone()),
                service: service.map(|s| s.service),
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
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_>) -> io::Result<()> {
        match &self.owner {
            Some(o) => {
                let service = match (&o.service, &o.describe) {
                    (Some(s), Some(d)) => format!(" (service {s}: {d})"),
                    (Some(s), None) => format!(" (service {s})"),
                    _ => String::new(),
                };
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
        t.write(w, cx.style)
    }
}
