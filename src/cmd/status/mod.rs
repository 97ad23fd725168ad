//! `shards status`: the port audit. For each shard, what listens inside its
//! block and which process holds it, listeners that belong to no process of
//! the shard (foreign), the shard's processes listening outside its block,
//! and named ports that nothing listens on; then the pool's figures.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use clap::Args;

mod report;

pub use report::{
    ElsewhereView, Place, PoolView, ProxyListener, Running, ServiceState, ShardAudit, SocketView,
    StartProcess, StatusReport,
};

use crate::alloc::Pool;
use crate::cmd::view::ShardView;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::host::{self, ProcInfo, Proto, Socket};
use crate::model::Protocol;
use crate::probe::{self, Health};
use crate::register::Register;
use crate::shard::routes::Urls;
use crate::shard::{daemon, holds, reap};

/// Audit ports: who listens where, per shard
///
/// Reads the host's TCP and UDP tables (IPv4 and IPv6) and maps sockets to
/// processes where this user may see them. For each shard: sockets inside
/// its block and their processes (`foreign` when the process does not run
/// inside the shard's worktree), the shard's processes listening outside
/// its block, named ports nothing listens on, and the process its `start`
/// hook started (alive or not, and its log). Then the pool's figures.
///
/// Named ports that say more (`shards port web --describe … --health
/// /healthz --protocol udp`) get a table: a `udp` one runs when a UDP
/// socket is bound on it; one with a health path is asked `GET
/// 127.0.0.1:PORT/path` (2 s at most, all at once): `healthy` on 2xx/3xx,
/// `unhealthy CODE` otherwise, `not listening` when nothing listens.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Audit the shards of every repository, not just this one
    #[arg(long)]
    pub all: bool,
}

fn pool_view(
    pool: &Pool,
    held_blocks: &[crate::model::PortBlock],
    elsewhere: &holds::Elsewhere,
    sockets: &[Socket],
) -> PoolView {
    // The same rule as the allocator: a block is busy when a TCP port in it
    // is listening (UDP sockets are shown per shard but do not block).
    let ports: std::collections::BTreeSet<u16> = sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| s.addr.port())
        .collect();
    let (mut held, mut busy, mut away) = (0, 0, 0);
    for b in pool.blocks() {
        if held_blocks.iter().any(|h| h.overlaps(&b)) {
            held += 1;
        } else if elsewhere.overlaps(b) {
            away += 1;
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
        blocks_free: total - held - busy - away,
        blocks_busy: busy,
        blocks_elsewhere: away,
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
    let mut starts = HashMap::new();
    for row in &all_rows {
        if let Some(start) = ledger.start_of(row.id)? {
            starts.insert(row.id, start);
        }
    }
    let ids: Vec<i64> = starts.keys().copied().collect();
    let recorded: Vec<(i64, i64)> = ids.iter().map(|id| starts[id].pid).collect();
    let mut sessions: HashMap<i64, Vec<i32>> =
        ids.into_iter().zip(reap::sessions(&recorded)).collect();
    let register = Register::new(ctx.env.register.clone());
    let (elsewhere, register_error) = match holds::elsewhere(&register, &ledger, ctx.timeout()) {
        Ok(e) => (e, None),
        Err(e) => (holds::Elsewhere::default(), Some(e.to_string())),
    };
    let urls = Urls::load(&ledger, &config)?;
    drop(ledger);
    let sockets = host::sockets();
    let owners: HashMap<u64, ProcInfo> =
        host::socket_owners(&sockets.iter().map(|s| s.inode).collect::<HashSet<_>>());
    let proxy = daemon::running(&ctx.env.home).map(|up| ProxyListener {
        pid: up.pid,
        port: up.port,
        addresses: sockets
            .iter()
            .filter(|s| {
                s.proto == Proto::Tcp
                    && owners
                        .get(&s.inode)
                        .is_some_and(|p| i64::from(p.pid) == up.pid)
            })
            .map(|s| s.addr.to_string())
            .collect(),
        log: daemon::log_file(&ctx.env.home),
    });
    let proxy_pid = proxy.as_ref().map(|x| x.pid);
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
                    Some(p) if Some(i64::from(p.pid)) == proxy_pid => Place::Proxy,
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
        let urls = urls.as_ref().and_then(|u| u.of(row.id));
        let svc = services
            .iter()
            .filter(|s| s.shard_id == row.id)
            .map(|s| {
                let proto = match s.info.protocol() {
                    Protocol::Tcp => Proto::Tcp,
                    Protocol::Udp => Proto::Udp,
                };
                let listening = sockets
                    .iter()
                    .any(|k| k.addr.port() == s.port && k.proto == proto);
                ServiceState {
                    service: s.service.clone(),
                    port: s.port,
                    listening,
                    protocol: s.info.protocol().to_string(),
                    describe: s.info.describe.clone(),
                    health: s.info.health.clone(),
                    state: match listening {
                        true => Running::Listening,
                        false => Running::NotListening,
                    },
                    code: None,
                    reason: None,
                    url: urls.map(|(r, port)| r.url(Some(&s.service), port)),
                }
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
            start: starts.remove(&row.id).map(|s| StartProcess {
                pid: s.pid.0,
                alive: host::process_alive(s.pid.0, s.pid.1),
                session: sessions.remove(&row.id).unwrap_or_default(),
                log: s.log,
            }),
        });
    }
    check_health(&mut shards);
    let held: Vec<_> = all_rows.iter().map(|r| r.block).collect();
    Ok(StatusReport {
        pool: pool_view(&config.pool, &held, &elsewhere, &sockets),
        proxy,
        shards,
        elsewhere: elsewhere.held.iter().map(elsewhere_view).collect(),
        register_error,
    })
}

/// How long a health path may take to answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the health path of every listening TCP service that has one, all
/// at once, and records what each answered.
fn check_health(shards: &mut [ShardAudit]) {
    let mut asked: Vec<&mut ServiceState> = shards
        .iter_mut()
        .flat_map(|s| s.services.iter_mut())
        .filter(|v| v.listening && v.health.is_some() && v.protocol == "tcp")
        .collect();
    let targets: Vec<(u16, String)> = asked
        .iter()
        .map(|v| (v.port, v.health.clone().unwrap_or_default()))
        .collect();
    for (v, found) in asked
        .iter_mut()
        .zip(probe::probe_all(&targets, HEALTH_TIMEOUT))
    {
        (v.state, v.code, v.reason) = match found {
            Health::Healthy(c) => (Running::Healthy, Some(c), None),
            Health::Unhealthy(c) => (Running::Unhealthy, Some(c), None),
            Health::NotListening => (Running::NotListening, None, None),
            Health::NoAnswer(why) => (Running::NoAnswer, None, Some(why)),
        };
    }
}

fn elsewhere_view(h: &holds::Held) -> ElsewhereView {
    let mut view = ElsewhereView {
        start: h.block.start(),
        end: h.block.end(),
        holder: "ledger",
        uid: None,
        ledger: None,
        name: None,
        worktree: None,
    };
    match &h.holder {
        holds::Holder::User(uid) => {
            view.holder = "user";
            view.uid = Some(*uid);
        }
        holds::Holder::Ledger(path) => view.ledger = Some(path.clone()),
        holds::Holder::Lost { name, worktree } => {
            view.holder = "lost";
            view.name = Some(name.clone());
            view.worktree = Some(worktree.clone());
        }
    }
    view
}
