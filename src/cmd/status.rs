//! `shards status`: the port audit. For each shard, what listens inside its
//! block and which process holds it, listeners that belong to no process of
//! the shard (foreign), the shard's processes listening outside its block,
//! and named ports that nothing listens on; then the pool's figures.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::alloc::Pool;
use crate::cmd::shard::{PortsView, ShardView};
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::host::{self, ProcInfo, Proto, Socket};
use crate::output::{Render, Style, Table};

/// Arguments of `shards status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Audit the shards of every repository, not just this one
    #[arg(long)]
    pub all: bool,
}

/// Where the process behind a socket runs, relative to a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    /// Inside the shard's worktree.
    Inside,
    /// Somewhere else: the port is used by something that is not the shard.
    Foreign,
    /// The process is not visible to this user.
    Unknown,
}

/// A socket as the audit shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SocketView {
    /// Port.
    pub port: u16,
    /// `tcp` (listening) or `udp` (bound).
    pub proto: Proto,
    /// Local address.
    pub address: String,
    /// The named service on this port, if any.
    pub service: Option<String>,
    /// Process id, when visible.
    pub pid: Option<i32>,
    /// Command, or "unknown process".
    pub command: String,
    /// Where the process runs relative to the shard.
    pub place: Place,
    /// For listeners outside the block: the shard whose block holds the port.
    pub owner_shard: Option<String>,
}

/// A named port and whether anything listens on it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ServiceState {
    /// Service name.
    pub service: String,
    /// Port.
    pub port: u16,
    /// True when a socket is bound to it.
    pub listening: bool,
}

/// One shard's audit.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ShardAudit {
    /// Shard name.
    pub name: String,
    /// Repository root.
    pub repo: PathBuf,
    /// Worktree.
    pub path: PathBuf,
    /// Block.
    pub ports: PortsView,
    /// State as in `list`.
    pub status: String,
    /// Sockets inside the block.
    pub listening: Vec<SocketView>,
    /// Sockets of the shard's processes outside its block.
    pub outside: Vec<SocketView>,
    /// Named ports and whether they are listening.
    pub services: Vec<ServiceState>,
}

/// The pool's figures.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PoolView {
    /// First port.
    pub base: u16,
    /// Last port.
    pub max: u16,
    /// Ports per block.
    pub block_size: u16,
    /// Blocks in the pool.
    pub blocks_total: u32,
    /// Blocks held by shards (all repositories).
    pub blocks_held: u32,
    /// Blocks neither held nor busy.
    pub blocks_free: u32,
    /// Blocks not held but with a port in use on this host.
    pub blocks_busy: u32,
    /// Held blocks as a percentage of the pool.
    pub utilization: f64,
}

/// The result of `shards status`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    /// The pool.
    pub pool: PoolView,
    /// One audit per shard in scope.
    pub shards: Vec<ShardAudit>,
}

fn pool_view(pool: &Pool, held_blocks: &[crate::model::PortBlock], sockets: &[Socket]) -> PoolView {
    // The same rule as the allocator: a block is busy when a TCP port in it
    // is listening (UDP sockets are shown per shard but do not block).
    let ports: std::collections::BTreeSet<u16> = sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| s.addr.port())
        .collect();
    let (mut held, mut busy) = (0, 0);
    for b in pool.blocks() {
        if held_blocks.iter().any(|h| h.overlaps(&b)) {
            held += 1;
        } else if ports.range(b.start()..=b.end()).next().is_some() {
            busy += 1;
        }
    }
    let total = pool.total();
    PoolView {
        base: pool.base(),
        max: pool.max(),
        block_size: pool.block_size(),
        blocks_total: total,
        blocks_held: held,
        blocks_free: total - held - busy,
        blocks_busy: busy,
        utilization: (f64::from(held) * 1000.0 / f64::from(total.max(1))).round() / 10.0,
    }
}

/// Audits the shards in scope against the host's sockets.
pub fn run(ctx: &Ctx, args: &StatusArgs) -> Result<StatusReport> {
    let config = ctx.config(&Overrides::default())?;
    let scope = if args.all {
        None
    } else {
        ctx.repo_if_any()?.map(|r| r.git_dir.clone())
    };
    let ledger = ctx.ledger()?;
    let all_rows = ledger.list(None)?;
    let services = ledger.all_services()?;
    drop(ledger);
    let sockets = host::sockets();
    let owners: HashMap<u64, ProcInfo> =
        host::socket_owners(&sockets.iter().map(|s| s.inode).collect::<HashSet<_>>());
    let service_at: HashMap<u16, &str> = services
        .iter()
        .map(|s| (s.port, s.service.as_str()))
        .collect();
    let block_owner = |port: u16| {
        all_rows
            .iter()
            .find(|r| r.block.contains(port))
            .map(|r| r.name.clone())
    };
    let mut shards = Vec::new();
    for row in all_rows
        .iter()
        .filter(|r| scope.as_ref().is_none_or(|g| &r.repo.git_dir == g))
    {
        let root = std::fs::canonicalize(&row.path).unwrap_or_else(|_| row.path.clone());
        let inside = |p: &ProcInfo| p.cwd.as_ref().is_some_and(|c| c.starts_with(&root));
        let sock_view = |s: &Socket, owner_shard: Option<String>| {
            let p = owners.get(&s.inode);
            SocketView {
                port: s.addr.port(),
                proto: s.proto,
                address: s.addr.ip().to_string(),
                service: service_at
                    .get(&s.addr.port())
                    .filter(|_| row.block.contains(s.addr.port()))
                    .map(|s| s.to_string()),
                pid: p.map(|p| p.pid),
                command: p
                    .map(|p| p.command.clone())
                    .unwrap_or_else(|| "unknown process".into()),
                place: match p {
                    Some(p) if inside(p) => Place::Inside,
                    Some(_) => Place::Foreign,
                    None => Place::Unknown,
                },
                owner_shard,
            }
        };
        let listening = sockets
            .iter()
            .filter(|s| row.block.contains(s.addr.port()))
            .map(|s| sock_view(s, None))
            .collect();
        let outside = sockets
            .iter()
            .filter(|s| {
                !row.block.contains(s.addr.port()) && owners.get(&s.inode).is_some_and(inside)
            })
            .map(|s| sock_view(s, block_owner(s.addr.port())))
            .collect();
        let svc = services
            .iter()
            .filter(|s| s.shard_id == row.id)
            .map(|s| ServiceState {
                service: s.service.clone(),
                port: s.port,
                listening: sockets.iter().any(|k| k.addr.port() == s.port),
            })
            .collect();
        let view = ShardView::of(row);
        shards.push(ShardAudit {
            name: view.name,
            repo: view.repo,
            path: view.path,
            ports: view.ports,
            status: view.status,
            listening,
            outside,
            services: svc,
        });
    }
    let held: Vec<_> = all_rows.iter().map(|r| r.block).collect();
    Ok(StatusReport {
        pool: pool_view(&config.pool, &held, &sockets),
        shards,
    })
}

impl Render for StatusReport {
    fn render(&self, w: &mut dyn Write, style: Style) -> io::Result<()> {
        let p = &self.pool;
        writeln!(
            w,
            "pool {}-{}, blocks of {}: {} total, {} held, {} busy on this host, {} free ({}% held)",
            p.base,
            p.max,
            p.block_size,
            p.blocks_total,
            p.blocks_held,
            p.blocks_busy,
            p.blocks_free,
            p.utilization
        )?;
        for s in &self.shards {
            writeln!(w)?;
            writeln!(
                w,
                "{}  {}-{}  {}  {}",
                style.paint("1", &s.name),
                s.ports.start,
                s.ports.end,
                s.status,
                s.path.display()
            )?;
            if s.listening.is_empty() {
                writeln!(w, "  nothing listens in its block")?;
            } else {
                let mut t = Table::new(vec![
                    "  PORT", "PROTO", "ADDRESS", "SERVICE", "PID", "COMMAND", "WHERE",
                ]);
                for l in &s.listening {
                    let place = match l.place {
                        Place::Inside => "inside".to_string(),
                        Place::Foreign => style.paint("31", "foreign"),
                        Place::Unknown => "unknown".to_string(),
                    };
                    t.row(vec![
                        format!("  {}", l.port),
                        l.proto.to_string(),
                        l.address.clone(),
                        l.service.clone().unwrap_or_else(|| "-".into()),
                        l.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        l.command.clone(),
                        place,
                    ]);
                }
                t.write(w, style)?;
            }
            for o in &s.outside {
                let owner = o
                    .owner_shard
                    .as_ref()
                    .map(|n| format!(" (in shard {n}'s block)"))
                    .unwrap_or_default();
                writeln!(
                    w,
                    "  {} its process {} {} listens outside its block on {}/{}{owner}",
                    style.paint("33", "!"),
                    o.pid.unwrap_or(0),
                    o.command,
                    o.port,
                    o.proto
                )?;
            }
            let idle: Vec<String> = s
                .services
                .iter()
                .filter(|v| !v.listening)
                .map(|v| format!("{} {}", v.service, v.port))
                .collect();
            if !idle.is_empty() {
                writeln!(w, "  named ports not listening: {}", idle.join(", "))?;
            }
        }
        Ok(())
    }
}
