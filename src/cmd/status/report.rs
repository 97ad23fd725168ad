//! The report of `shards status` and how people see it: per shard, the
//! sockets in its block, its processes listening outside it and its idle
//! named ports; then the pool's figures. Plain data plus its renderer.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::cmd::view::PortsView;
use crate::host::Proto;
use crate::model::ShardStatus;
use crate::output::{Render, RenderCtx, Table};

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
    /// This home's `shards proxy`.
    Proxy,
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

/// What `status` found of a named port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Running {
    /// Its health path answered 2xx or 3xx.
    Healthy,
    /// Its health path answered another status (in `code`).
    Unhealthy,
    /// Something listens, but its health path gave no HTTP answer in time.
    NoAnswer,
    /// It has no health path and something listens (TCP), or is bound (UDP).
    Listening,
    /// Nothing listens (TCP) or is bound (UDP).
    NotListening,
}

/// A named port, what describes it, and what runs on it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ServiceState {
    /// Service name.
    pub service: String,
    /// Port.
    pub port: u16,
    /// True when a TCP socket listens on it (a UDP socket is bound, for a
    /// `udp` service).
    pub listening: bool,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// What it is, when described.
    pub describe: Option<String>,
    /// The HTTP path asked, when it has one.
    pub health: Option<String>,
    /// What was found.
    pub state: Running,
    /// The health path's status code, when it answered.
    pub code: Option<u16>,
    /// Why a health path gave no answer.
    pub reason: Option<String>,
    /// Its URL through `shards proxy`, with `[proxy] enabled`.
    pub url: Option<String>,
}

impl ServiceState {
    /// Returns its state in words: `healthy (200)`, `unhealthy 500`,
    /// `not listening`.
    pub fn state_words(&self) -> String {
        match (self.state, self.code) {
            (Running::Healthy, Some(c)) => format!("healthy ({c})"),
            (Running::Unhealthy, Some(c)) => format!("unhealthy {c}"),
            (Running::NoAnswer, _) => format!(
                "no answer ({})",
                self.reason.as_deref().unwrap_or("no HTTP answer")
            ),
            (Running::Listening, _) => "listening".into(),
            (Running::NotListening, _) => "not listening".into(),
            (Running::Healthy, None) => "healthy".into(),
            (Running::Unhealthy, None) => "unhealthy".into(),
        }
    }

    /// Returns true when it says more than a port (so `status` shows it in
    /// a table of its own).
    fn described(&self) -> bool {
        self.describe.is_some() || self.health.is_some() || self.protocol != "tcp"
    }
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
    pub status: ShardStatus,
    /// Sockets inside the block.
    pub listening: Vec<SocketView>,
    /// Sockets of the shard's processes outside its block.
    pub outside: Vec<SocketView>,
    /// Named ports and whether they are listening.
    pub services: Vec<ServiceState>,
    /// The process its `start` hook started, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<StartProcess>,
}

/// The process a shard's `start` hook started.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StartProcess {
    /// Its process id (the leader of its own session).
    pub pid: i64,
    /// True while it runs.
    pub alive: bool,
    /// The processes still running in its session (what it started, such
    /// as a server put in the background), by pid.
    pub session: Vec<i32>,
    /// The file its stdout and stderr go to.
    pub log: PathBuf,
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
    /// Blocks not held here but by another ledger on this host (another
    /// home, another user, a lost ledger's shard), as the host's block
    /// register says.
    pub blocks_elsewhere: u32,
    /// Held blocks as a percentage of the pool.
    pub utilization: f64,
}

/// A block of the pool that another ledger on this host holds.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ElsewhereView {
    /// First port.
    pub start: u16,
    /// Last port (inclusive).
    pub end: u16,
    /// `user` (another Unix user's shard), `ledger` (a shard of your other
    /// shards home) or `lost` (a shard of this home's lost ledger:
    /// `shards recover` brings it back).
    pub holder: &'static str,
    /// The other user's uid (`user`).
    pub uid: Option<u32>,
    /// The other ledger's path (`ledger`).
    pub ledger: Option<PathBuf>,
    /// The lost shard's name and worktree (`lost`).
    pub name: Option<String>,
    /// The lost shard's worktree (`lost`).
    pub worktree: Option<PathBuf>,
}

/// This home's `shards proxy`, when it runs.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProxyListener {
    /// Its process id.
    pub pid: i64,
    /// The port it serves.
    pub port: u16,
    /// The addresses it listens on, as the host's socket table shows them
    /// (empty when this user cannot see its sockets).
    pub addresses: Vec<String>,
    /// Its log.
    pub log: PathBuf,
}

/// The result of `shards status`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    /// The pool.
    pub pool: PoolView,
    /// This home's proxy, shards' own listener, when it runs.
    pub proxy: Option<ProxyListener>,
    /// One audit per shard in scope.
    pub shards: Vec<ShardAudit>,
    /// The pool's blocks that other ledgers on this host hold.
    pub elsewhere: Vec<ElsewhereView>,
    /// Why the host's block register could not be read, if it could not.
    pub register_error: Option<String>,
}

impl Render for StatusReport {
    fn warnings(&self) -> Vec<String> {
        self.register_error
            .iter()
            .map(|e| format!("blocks held elsewhere on this host are not shown: {e}"))
            .collect()
    }

    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_>) -> io::Result<()> {
        let style = cx.style;
        let p = &self.pool;
        writeln!(
            w,
            "pool {}-{}, blocks of {}: {} total, {} held, {}{} busy on this host, {} free ({}% held)",
            p.base,
            p.max,
            p.block_size,
            p.blocks_total,
            p.blocks_held,
            match p.blocks_elsewhere {
                0 => String::new(),
                n => format!("{n} held by other ledgers on this host, "),
            },
            p.blocks_busy,
            p.blocks_free,
            p.utilization
        )?;
        if let Some(x) = &self.proxy {
            let on = match x.addresses.as_slice() {
                [] => format!("port {}", x.port),
                all => all.join(", "),
            };
            writeln!(
                w,
                "proxy: shards' own, pid {} on {on} (routes: `shards proxy status`; log {})",
                x.pid,
                cx.path(&x.log)
            )?;
        }
        for e in &self.elsewhere {
            let whose = match (e.holder, &e.uid, &e.ledger, &e.name, &e.worktree) {
                ("user", Some(uid), ..) => format!("a shard of user {uid}"),
                ("lost", _, _, Some(name), Some(wt)) => format!(
                    "`{name}` of this home's lost ledger, at {} (`shards recover` brings it back)",
                    cx.path(wt)
                ),
                (_, _, Some(ledger), ..) => {
                    format!("a shard of your other ledger {}", cx.path(ledger))
                }
                _ => "another ledger".to_string(),
            };
            writeln!(
                w,
                "held elsewhere on this host: {}-{}, by {whose}",
                e.start, e.end
            )?;
        }
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
                        Place::Proxy => "shards proxy".to_string(),
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
            // Described services get a table; the others, as before, a
            // line for those nothing listens on.
            let idle: Vec<String> = s
                .services
                .iter()
                .filter(|v| !v.listening && !v.described())
                .map(|v| format!("{} {}", v.service, v.port))
                .collect();
            if !idle.is_empty() {
                writeln!(w, "  named ports not listening: {}", idle.join(", "))?;
            }
            if s.services.iter().any(ServiceState::described) {
                let mut t = Table::new(vec!["  SERVICE", "PORT", "PROTO", "STATE", "DESCRIPTION"]);
                for v in s.services.iter().filter(|v| v.described()) {
                    let state = v.state_words();
                    let state = match v.state {
                        Running::Healthy => style.paint("32", &state),
                        Running::Unhealthy | Running::NoAnswer => style.paint("31", &state),
                        _ => state,
                    };
                    t.row(vec![
                        format!("  {}", v.service),
                        v.port.to_string(),
                        v.protocol.clone(),
                        state,
                        v.describe.clone().unwrap_or_else(|| "-".into()),
                    ]);
                }
                t.write(w, style)?;
            }
            if let Some(p) = &s.start {
                let mut state = if p.alive { "running" } else { "exited" }.to_string();
                let others: Vec<String> = p
                    .session
                    .iter()
                    .filter(|pid| i64::from(**pid) != p.pid)
                    .map(|pid| format!("pid {pid}"))
                    .collect();
                if !others.is_empty() {
                    state = format!("{state}, its session still runs {}", others.join(", "));
                }
                writeln!(
                    w,
                    "  start hook: pid {} {state}, log {}",
                    p.pid,
                    cx.path(&p.log)
                )?;
            }
        }
        Ok(())
    }
}
