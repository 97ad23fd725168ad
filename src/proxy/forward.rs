//! One request through the proxy: routed by its host, passed to the
//! shard's port on loopback with hop headers replaced, its body and the
//! answer's streamed as they come, an `Upgrade` (WebSocket) joined both
//! ways. Adapter detail of `proxy`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::pages::{self, Page};
use super::{HOPS, MAX_HOPS, Routes, Settings};
use crate::route::{Lookup, Route, Table};

/// A body either side may send.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// What every request shares: the settings, the routes and the pool of
/// connections to the shards' servers.
pub struct State {
    settings: Settings,
    routes: Arc<dyn Routes>,
    client: Client<Loopback, Incoming>,
}

impl State {
    /// Makes the shared state; backend connections are kept alive and
    /// reused.
    pub fn new(settings: Settings, routes: Arc<dyn Routes>) -> State {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .set_host(false)
            .build(Loopback);
        State {
            settings,
            routes,
            client,
        }
    }
}

/// The connector to a shard's server: the port of the URI on 127.0.0.1,
/// else on ::1 (a dev server on `localhost` may listen on either). No
/// other address is ever dialled.
#[derive(Clone, Copy)]
pub struct Loopback;

/// A connection to a shard's server.
pub struct Backend(TokioIo<TcpStream>);

impl Connection for Backend {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Backend {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Backend {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl tower_service::Service<Uri> for Loopback {
    type Response = Backend;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Backend>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let port = uri.port_u16();
        Box::pin(async move {
            let port = port.ok_or_else(|| io::Error::other("no port to forward to"))?;
            let stream = match TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
                Ok(s) => s,
                Err(v4) => TcpStream::connect((Ipv6Addr::LOCALHOST, port))
                    .await
                    .map_err(|_| v4)?,
            };
            stream.set_nodelay(true)?;
            Ok(Backend(TokioIo::new(stream)))
        })
    }
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers, those `Connection` names included, and
/// `Upgrade` unless `upgrade` is passed on.
fn strip_hops(headers: &mut HeaderMap, upgrade: Option<&HeaderValue>) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
}

/// Returns the protocol a request asks to upgrade to, if it does.
fn upgrade_of(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Serves one request; every failure is a page, never a dropped
/// connection.
pub async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let page = match route(&state, peer, req).await {
        Ok(response) => return Ok(response),
        Err(page) => page,
    };
    Ok(pages::render(&page))
}

/// Where a request goes: the route (borrowed from the table the request
/// holds), the service as the shard names it, and the port.
type Target<'a> = (&'a Route, Option<String>, u16);

/// Returns where `host` goes in `table`, or the page that says why it goes
/// nowhere. `absolute`: the request named its host in its target
/// (absolute-form), as a proxy client does.
fn target<'a>(table: &'a Table, host: &str, absolute: bool, port: u16) -> Result<Target<'a>, Page> {
    let unknown = |routes: Vec<Route>| Page::Unknown {
        host: host.to_string(),
        routes,
        port,
    };
    let (route, service, to) = match table.lookup(host) {
        Lookup::Found {
            route,
            service,
            port,
        } => (route, service, port),
        Lookup::Foreign if absolute => {
            return Err(Page::Foreign {
                host: host.to_string(),
            });
        }
        Lookup::Foreign | Lookup::NoRepo => return Err(unknown(table.routes().to_vec())),
        Lookup::NoShard { routes } => return Err(unknown(routes.into_iter().cloned().collect())),
        Lookup::NoService { route, service } => {
            return Err(Page::NoService {
                route: Box::new(route.clone()),
                service,
                port,
            });
        }
    };
    // The ledger's rows say so, but a service row outside its block would
    // send the request to another shard's server: never.
    if !route.shard.block.contains(to) {
        return Err(Page::OutsideBlock {
            route: Box::new(route.clone()),
            port: to,
        });
    }
    Ok((route, service, to))
}

/// Rewrites a request's head for the shard's server on `port`: target
/// `http://127.0.0.1:PORT/path`, hop headers dropped (an `Upgrade` kept),
/// the `Host` the client named, `X-Forwarded-*` and the hop count.
fn rewrite(
    parts: &mut hyper::http::request::Parts,
    port: u16,
    host: &str,
    peer: SocketAddr,
    hops: u32,
    upgrade: Option<&HeaderValue>,
) -> Result<(), Page> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://127.0.0.1:{port}{path}")
        .parse()
        .map_err(|_| Page::NoHost)?;
    let headers = &mut parts.headers;
    strip_hops(headers, upgrade);
    let value = HeaderValue::from_str(host).map_err(|_| Page::NoHost)?;
    // Absolute-form names the host in its target, which wins over `Host`.
    headers.insert(header::HOST, value);
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(before) => format!("{before}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-forwarded-for", forwarded_for);
    set("x-forwarded-host", host.to_string());
    set("x-forwarded-proto", "http".into());
    set(HOPS, (hops + 1).to_string());
    Ok(())
}

async fn route(
    state: &State,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Page> {
    if req.method() == Method::CONNECT {
        return Err(Page::Connect);
    }
    let absolute = req.uri().authority().map(|a| a.as_str().to_string());
    let host = match (&absolute, req.headers().get(header::HOST)) {
        (Some(authority), _) => authority.clone(),
        (None, Some(h)) => h.to_str().map_err(|_| Page::NoHost)?.to_string(),
        (None, None) => return Err(Page::NoHost),
    };
    let hops: u32 = req
        .headers()
        .get(HOPS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if hops >= MAX_HOPS {
        return Err(Page::Loop { host, hops });
    }
    // Held for the whole request: the route is borrowed from it, and cloned
    // only into a page.
    let table = state.routes.table().map_err(Page::NoLedger)?;
    let (route, service, port) = target(&table, &host, absolute.is_some(), state.settings.port)?;
    let upgrade = upgrade_of(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    rewrite(&mut parts, port, &host, peer, hops, upgrade.as_ref())?;
    let mut response = match state.client.request(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return Err(Page::NotListening {
                route: Box::new(route.clone()),
                service,
                port,
            });
        }
        Err(e) => {
            return Err(Page::BadAnswer {
                route: Box::new(route.clone()),
                port,
                error: error_chain(&e),
            });
        }
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let backend_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (Ok(client), Ok(backend)) = tokio::join!(client_upgrade, backend_upgrade) else {
                return;
            };
            let mut client = TokioIo::new(client);
            let mut backend = TokioIo::new(backend);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
        let (parts, _) = response.into_parts();
        return Ok(Response::from_parts(parts, empty()));
    }
    let (mut parts, body) = response.into_parts();
    strip_hops(&mut parts.headers, None);
    // An HTTP/1.0 server's answer must not end the client's keep-alive.
    parts.version = hyper::Version::HTTP_11;
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Returns an error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Returns an empty body.
pub fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Returns a body of `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}
