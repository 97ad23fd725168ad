//! `shards proxy`: the loopback HTTP proxy that gives every shard stable
//! URLs (`SHARD.REPO.localhost`, `SERVICE.SHARD.REPO.localhost`), run in
//! the foreground, started and stopped in the background, and its status.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::config::{Config, Overrides};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::output::{Render, RenderCtx, Table};
use crate::proxy::{self, Settings};
use crate::shard::daemon::{self, Running};
use crate::shard::routes::{self, LedgerRoutes};

/// Give every shard a stable URL
///
/// An HTTP reverse proxy on 127.0.0.1 and ::1 that routes
/// SHARD.REPO.localhost to the shard's `web` service (else its first port,
/// $PORT) and SERVICE.SHARD.REPO.localhost to that named service, from
/// the ledger as it is at each request. Browsers keep cookies per host, so
/// shards' apps stop sharing logins. Port: `[proxy] port` in your user
/// config (default 1355) or SHARDS_PROXY_PORT.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub action: ProxyAction,
}

/// What `shards proxy` does.
#[derive(Debug, Subcommand)]
pub enum ProxyAction {
    /// Serve in the foreground until Ctrl-C or SIGTERM
    ///
    /// For a terminal, systemd or launchd. Refuses to start while another
    /// proxy of this home runs.
    Run(PortArg),
    /// Start the proxy in the background
    ///
    /// Detached, with its log in <home>/logs/proxy.log; returns once it
    /// listens. Says so when it already runs.
    Start(PortArg),
    /// Stop the background proxy
    Stop,
    /// Show whether the proxy runs, and every shard's URLs
    Status,
}

/// The port to listen on.
#[derive(Debug, Args)]
pub struct PortArg {
    /// Listen on this port instead of `[proxy] port`
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
}

/// Which `shards proxy` command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// `proxy run`, which has ended.
    Run,
    /// `proxy start`.
    Start,
    /// `proxy stop`.
    Stop,
    /// `proxy status`.
    Status,
}

/// What a `shards proxy` command did.
#[derive(Debug, Serialize)]
pub struct ProxyReport {
    /// Which command ran.
    pub action: Act,
    /// Whether a proxy of this home runs now.
    pub running: bool,
    /// Whether it already ran before this command (`start`), or ran until
    /// it (`stop`).
    pub was_running: bool,
    /// Its process id, if it runs (or ran until `stop`).
    pub pid: Option<i64>,
    /// The port it listens on (or would).
    pub port: u16,
    /// Where the background proxy writes its log.
    pub log: PathBuf,
    /// Every routed shard (`status`).
    pub routes: Vec<RouteView>,
}

/// One shard's URLs.
#[derive(Debug, Serialize)]
pub struct RouteView {
    /// The shard.
    pub shard: String,
    /// Its repository's `{repo}` name.
    pub repo: String,
    /// Its bare URL.
    pub url: String,
    /// The port the bare URL goes to.
    pub port: u16,
    /// The service the bare URL goes to (`web`), if not the block's first port.
    pub service: Option<String>,
    /// Each named service's URL and port.
    pub services: Vec<ServiceUrl>,
    /// The URL that routes it whatever else is created.
    pub alias: String,
    /// The shard holding the label this one's name would have had.
    pub lost_to: Option<String>,
}

/// A named service's URL.
#[derive(Debug, Serialize)]
pub struct ServiceUrl {
    /// Service name.
    pub service: String,
    /// Its URL.
    pub url: String,
    /// Its port.
    pub port: u16,
}

fn config(ctx: &Ctx, port: &Option<u16>) -> Result<Config> {
    let mut flags = Overrides::default();
    if let Some(p) = port {
        flags
            .values
            .push(("--port".into(), "proxy.port", p.to_string()));
    }
    // The proxy is the user's: no repository's file is read.
    ctx.config_in(None, &flags)
}

/// Runs `shards proxy`.
pub fn run(ctx: &Ctx, args: &ProxyArgs) -> Result<ProxyReport> {
    let home = &ctx.env.home;
    let report = |action, running: Option<Running>, was_running, port| ProxyReport {
        action,
        running: running.is_some(),
        was_running,
        pid: running.map(|r| r.pid),
        port,
        log: daemon::log_file(home),
        routes: Vec::new(),
    };
    match &args.action {
        ProxyAction::Run(p) => {
            let port = config(ctx, &p.port)?.proxy.port;
            serve(ctx, port)?;
            Ok(report(Act::Run, None, true, port))
        }
        ProxyAction::Start(p) => {
            let port = config(ctx, &p.port)?.proxy.port;
            let exe = ctx.env.exe.as_deref().ok_or_else(|| {
                Error::io(
                    "this program",
                    io::Error::other("cannot be found to start again"),
                )
            })?;
            drop(ctx.ledger()?);
            let (up, was) = daemon::start(exe, home, port)?;
            Ok(report(Act::Start, Some(up), was, up.port))
        }
        ProxyAction::Stop => {
            let port = config(ctx, &None)?.proxy.port;
            let stopped = daemon::stop(home)?;
            let mut r = report(Act::Stop, None, stopped.is_some(), port);
            r.pid = stopped.map(|s| s.pid);
            Ok(r)
        }
        ProxyAction::Status => {
            let up = daemon::running(home);
            let port = up.map_or(config(ctx, &None)?.proxy.port, |r| r.port);
            let mut r = report(Act::Status, up, up.is_some(), port);
            r.routes = views(&routes::table(&*ctx.ledger()?)?, port);
            Ok(r)
        }
    }
}

/// Serves until a signal, recorded in the home's pid file meanwhile.
fn serve(ctx: &Ctx, port: u16) -> Result<()> {
    let home = &ctx.env.home;
    if let Some(other) = daemon::running(home) {
        return Err(daemon::already(other));
    }
    // Makes the home and the ledger as any command does, before a
    // connection of the proxy's own opens it.
    drop(ctx.ledger()?);
    let routes = Arc::new(LedgerRoutes::open(&ctx.env.ledger_path(), ctx.timeout())?);
    let cannot = |e: io::Error| {
        Error::Proxy {
        message: format!("cannot serve on 127.0.0.1:{port}: {e}"),
        hint: match e.kind() {
            io::ErrorKind::AddrInUse => "another program listens there: choose another port with `[proxy] port` in your user config, SHARDS_PROXY_PORT or --port".into(),
            _ => "see the error above".into(),
        },
    }
    };
    let bound = proxy::bind(Settings {
        port,
        max_connections: 1024,
    })
    .map_err(cannot)?;
    let addrs: Vec<String> = bound
        .addrs()
        .map_err(cannot)?
        .iter()
        .map(|a| a.to_string())
        .collect();
    let me = daemon::record(home, port)?;
    ctx.say(&format!(
        "Proxy listening on {} (http://SHARD.REPO.localhost:{port}); routes follow the ledger. Ctrl-C stops it.",
        addrs.join(" and ")
    ));
    let served = bound.serve(routes);
    daemon::forget(home, me);
    served.map_err(cannot)
}

fn views(table: &crate::route::Table, port: u16) -> Vec<RouteView> {
    table
        .routes()
        .iter()
        .map(|r| {
            let (service, target) = r.default_port();
            RouteView {
                shard: r.shard.name.clone(),
                repo: r.shard.repo.clone(),
                url: r.url(None, port),
                port: target,
                service: service.map(str::to_string),
                services: r
                    .shard
                    .services
                    .iter()
                    .map(|(s, p)| ServiceUrl {
                        service: s.clone(),
                        url: r.url(Some(s), port),
                        port: *p,
                    })
                    .collect(),
                alias: r.alias_url(port),
                lost_to: r.lost_to.clone(),
            }
        })
        .collect()
}

impl Render for ProxyReport {
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_>) -> io::Result<()> {
        if self.action != Act::Status {
            return Ok(());
        }
        let mut table = Table::new(vec!["URL", "SHARD", "REPO", "PORT"]);
        for r in &self.routes {
            let to = match &r.service {
                Some(s) => format!("{} ({s})", r.port),
                None => r.port.to_string(),
            };
            table.row(vec![r.url.clone(), r.shard.clone(), r.repo.clone(), to]);
            for s in &r.services {
                table.row(vec![
                    format!("  {}", s.url),
                    String::new(),
                    String::new(),
                    format!("{} ({})", s.port, s.service),
                ]);
            }
        }
        table.write(w, cx.style)
    }

    fn notes(&self, _: &RenderCtx<'_>) -> Vec<String> {
        let mut notes = Vec::new();
        match (self.action, self.running, self.was_running) {
            (Act::Start, _, true) => notes.push(format!(
                "The proxy already runs (pid {}) on port {}.",
                self.pid.unwrap_or(0),
                self.port
            )),
            (Act::Start, _, false) => notes.push(format!(
                "Started the proxy (pid {}) on 127.0.0.1 and ::1, port {}; its log is {}",
                self.pid.unwrap_or(0),
                self.port,
                self.log.display()
            )),
            (Act::Stop, _, true) => notes.push(format!(
                "Stopped the proxy (pid {}).",
                self.pid.unwrap_or(0)
            )),
            (Act::Stop, _, false) => notes.push("The proxy was not running.".into()),
            (Act::Run, _, _) => notes.push("Proxy stopped.".into()),
            (Act::Status, true, _) => notes.push(format!(
                "The proxy runs (pid {}) on port {}; its log is {}",
                self.pid.unwrap_or(0),
                self.port,
                self.log.display()
            )),
            (Act::Status, false, _) => notes.push(format!(
                "The proxy is not running: `shards proxy start` serves these URLs on port {}.",
                self.port
            )),
        }
        if self.action == Act::Status && self.routes.is_empty() {
            notes.push("No shard is routed yet.".into());
        }
        for r in self.routes.iter().filter(|r| r.lost_to.is_some()) {
            notes.push(format!(
                "`{}` of {} is at {}: `{}` holds the label its name would have had.",
                r.shard,
                r.repo,
                r.url,
                r.lost_to.as_deref().unwrap_or_default()
            ));
        }
        notes
    }
}
