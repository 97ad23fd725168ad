//! The proxy's own answers, in plain text a browser and curl both show:
//! what happened, and what to do about it. Adapter detail of `proxy`: the
//! proxy has no command layer below it to word them, so they live here.

use std::fmt::Write;

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::forward::{Body, full};
use super::{HOPS, MAX_HOPS};
use crate::route::Route;

/// Why the proxy answers a request itself.
#[derive(Debug)]
pub enum Page {
    /// `CONNECT`: the proxy tunnels nothing.
    Connect,
    /// No `Host`, or one that is not text.
    NoHost,
    /// An absolute-form request for a host that is not a shard's.
    Foreign { host: String },
    /// The request went round through proxies.
    Loop { host: String, hops: u32 },
    /// The ledger could not be read.
    NoLedger(String),
    /// No shard answers to the host: the routes it could have meant.
    Unknown {
        host: String,
        routes: Vec<Route>,
        port: u16,
    },
    /// The shard has no such service.
    NoService {
        route: Box<Route>,
        service: String,
        port: u16,
    },
    /// A service's port outside its shard's block (a damaged row).
    OutsideBlock { route: Box<Route>, port: u16 },
    /// Nothing listens on the shard's port.
    NotListening {
        route: Box<Route>,
        service: Option<String>,
        port: u16,
    },
    /// The shard's server answered with something that is not HTTP, or
    /// hung up.
    BadAnswer {
        route: Box<Route>,
        port: u16,
        error: String,
    },
}

fn shard_line(route: &Route) -> String {
    format!(
        "shard `{}` of repository {} (ports {}-{})",
        route.shard.name,
        route.shard.repo,
        route.shard.block.start(),
        route.shard.block.end()
    )
}

fn list_routes(out: &mut String, routes: &[Route], port: u16) {
    if routes.is_empty() {
        out.push_str("No shard is routed: create one with `shards create NAME`.\n");
        return;
    }
    out.push_str("Routed shards:\n");
    for r in routes {
        let _ = writeln!(out, "  {:<50} {}", r.url(None, port), shard_line(r));
        for (service, _) in &r.shard.services {
            let _ = writeln!(out, "    {}", r.url(Some(service), port));
        }
    }
}

/// Returns the page's status and text.
pub fn text(page: &Page) -> (StatusCode, String) {
    let mut out = String::new();
    let status = match page {
        Page::Connect => {
            out.push_str("shards proxy does not tunnel: CONNECT is refused. It routes only the hosts of shards, such as http://NAME.REPO.localhost.\n");
            StatusCode::METHOD_NOT_ALLOWED
        }
        Page::NoHost => {
            out.push_str(
                "shards proxy: the request has no usable Host header, so it names no shard.\n",
            );
            StatusCode::BAD_REQUEST
        }
        Page::Foreign { host } => {
            let _ = writeln!(
                out,
                "shards proxy is not an open proxy: it forwards nothing to {host}. It routes only the hosts of shards, such as http://NAME.REPO.localhost."
            );
            StatusCode::FORBIDDEN
        }
        Page::Loop { host, hops } => {
            let _ = writeln!(
                out,
                "shards proxy: the request for {host} has passed through {hops} shards proxies (header {HOPS}, at most {MAX_HOPS}): it goes round in a loop. Check that the shard's server does not send its requests back through the proxy to itself."
            );
            StatusCode::LOOP_DETECTED
        }
        Page::NoLedger(error) => {
            let _ = writeln!(
                out,
                "shards proxy cannot read the ledger: {error}\nRun `shards list` to see what is wrong with it."
            );
            StatusCode::SERVICE_UNAVAILABLE
        }
        Page::Unknown { host, routes, port } => {
            let _ = writeln!(out, "shards proxy: no shard answers to {host}.\n");
            list_routes(&mut out, routes, *port);
            StatusCode::NOT_FOUND
        }
        Page::NoService {
            route,
            service,
            port,
        } => {
            let _ = writeln!(
                out,
                "shards proxy: {} has no service `{service}`.\nGive it one with `shards port {service} --shard {}`.\n",
                shard_line(route),
                route.shard.name
            );
            list_routes(&mut out, std::slice::from_ref(route), *port);
            StatusCode::NOT_FOUND
        }
        Page::OutsideBlock { route, port } => {
            let _ = writeln!(
                out,
                "shards proxy: port {port} is outside the block of {}, so it is not forwarded there. Run `shards port --shard {}` to see its services.",
                shard_line(route),
                route.shard.name
            );
            StatusCode::BAD_GATEWAY
        }
        Page::NotListening {
            route,
            service,
            port,
        } => {
            let what = match service {
                Some(s) => format!("service `{s}` (${})", crate::model::service_var(s)),
                None => "its first port ($PORT)".to_string(),
            };
            let _ = writeln!(
                out,
                "shards proxy: nothing listens on port {port}, {what} of {}.\nTried 127.0.0.1:{port} and [::1]:{port}. Start the server in the shard on that port, for example:\n  shards run {} -- npm run dev -- --port {port}",
                shard_line(route),
                route.shard.name
            );
            StatusCode::BAD_GATEWAY
        }
        Page::BadAnswer { route, port, error } => {
            let _ = writeln!(
                out,
                "shards proxy: the server on port {port} of {} did not answer with HTTP: {error}",
                shard_line(route)
            );
            StatusCode::BAD_GATEWAY
        }
    };
    (status, out)
}

/// Returns the page as a response.
pub fn render(page: &Page) -> Response<Body> {
    let (status, text) = text(page);
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
