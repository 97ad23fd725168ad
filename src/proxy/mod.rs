//! The proxy's sockets: an HTTP/1.1 reverse proxy on loopback, built on
//! hyper over tokio, that sends each request to the port its `Host` routes
//! to (`forward`) and answers what it cannot route with a page that says
//! why (`pages`).
//!
//! Adapter: the network door. It knows routes only as a [`Table`] that the
//! caller's [`Routes`] hands it at every request (the ledger's, in
//! `shard::routes`), never SQLite or git. Safe by default: it listens on
//! 127.0.0.1 and ::1 only, forwards only to 127.0.0.1 or ::1 at a port
//! inside the routed shard's block, refuses absolute-form requests for
//! other hosts and `CONNECT`, bounds header size and connection count, and
//! stops loops with 508.

mod forward;
mod pages;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::route::Table;

/// Where the proxy finds its routes.
pub trait Routes: Send + Sync + 'static {
    /// Returns the routes as they are now; called at every request, so a
    /// change is seen by the next one. An error is shown as a 503 page.
    fn table(&self) -> Result<Arc<Table>, String>;
}

/// How the proxy runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The port it listens on, on 127.0.0.1 and ::1.
    pub port: u16,
    /// At most this many client connections at once; more wait in the
    /// kernel's backlog.
    pub max_connections: usize,
}

/// The most bytes of a request's head (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// The most headers of a request.
pub const MAX_HEADERS: usize = 100;
/// Requests that passed through this many shards proxies are a loop.
pub const MAX_HOPS: u32 = 8;
/// The header that counts the hops.
pub const HOPS: &str = "x-shards-hops";

/// The proxy's listeners, bound and not yet serving: binding first lets
/// the caller record the proxy (its pid file) before a request arrives,
/// and a port in use fail before anything is recorded.
pub struct Bound {
    listeners: Vec<std::net::TcpListener>,
    settings: Settings,
}

/// Binds the proxy's listeners: 127.0.0.1 always, ::1 when the host has
/// IPv6. A port in use is an error.
pub fn bind(settings: Settings) -> io::Result<Bound> {
    let v4 = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, settings.port))?;
    let mut listeners = vec![v4];
    match std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, settings.port)) {
        Ok(v6) => listeners.push(v6),
        // No IPv6 on this host (or ::1 not configured): IPv4 serves.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
            ) => {}
        Err(e) => return Err(e),
    }
    for l in &listeners {
        l.set_nonblocking(true)?;
    }
    Ok(Bound {
        listeners,
        settings,
    })
}

impl Bound {
    /// Returns the addresses it listens on.
    pub fn addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.listeners.iter().map(|l| l.local_addr()).collect()
    }

    /// Serves until SIGINT or SIGTERM.
    pub fn serve(self, routes: Arc<dyn Routes>) -> io::Result<()> {
        let Bound {
            listeners,
            settings,
        } = self;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("shards-proxy")
            .build()?;
        runtime.block_on(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            let state = Arc::new(forward::State::new(settings, routes));
            let permits = Arc::new(Semaphore::new(settings.max_connections));
            let mut tasks = tokio::task::JoinSet::new();
            for l in listeners {
                let listener = TcpListener::from_std(l)?;
                tasks.spawn(accept(listener, state.clone(), permits.clone()));
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                Some(Ok(Err(e))) = tasks.join_next() => return Err(e),
            }
            Ok(())
        })?;
        // Connections still open are dropped with the runtime.
        runtime.shutdown_timeout(Duration::from_millis(200));
        Ok(())
    }
}

/// Accepts connections on one listener, each served in its own task while
/// it holds a permit.
async fn accept(
    listener: TcpListener,
    state: Arc<forward::State>,
    permits: Arc<Semaphore>,
) -> io::Result<()> {
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or a connection reset before it was
            // taken: the next one may do.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| forward::handle(state.clone(), peer, req));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .max_buf_size(MAX_HEAD)
                .max_header_size(MAX_HEAD)
                .max_headers(MAX_HEADERS)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            drop(permit);
        });
    }
}
