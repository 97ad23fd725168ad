//! Health probes of loopback services: one HTTP GET per service, all at
//! once, each with a deadline (hyper's client over tokio; no hand-written
//! HTTP).
//!
//! Adapter: knows ports and paths, nothing of shards or the ledger.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// A 2xx or 3xx answer, with its status code.
    Healthy(u16),
    /// Any other answer, with its status code.
    Unhealthy(u16),
    /// Nothing accepts connections on the port (127.0.0.1 or ::1).
    NotListening,
    /// Something is there but gave no HTTP answer in time, or a broken one.
    NoAnswer(String),
}

/// Asks `GET path` of every `(port, path)` on loopback at once; each gets
/// at most `timeout`. Returns one finding per target, in order.
pub fn probe_all(targets: &[(u16, String)], timeout: Duration) -> Vec<Health> {
    if targets.is_empty() {
        return Vec::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let why = format!("cannot probe: {e}");
            return targets
                .iter()
                .map(|_| Health::NoAnswer(why.clone()))
                .collect();
        }
    };
    runtime.block_on(async {
        let tasks: Vec<_> = targets
            .iter()
            .cloned()
            .map(|(port, path)| tokio::spawn(probe(port, path, timeout)))
            .collect();
        let mut found = Vec::with_capacity(tasks.len());
        for task in tasks {
            found.push(
                task.await
                    .unwrap_or_else(|e| Health::NoAnswer(e.to_string())),
            );
        }
        found
    })
}

async fn probe(port: u16, path: String, timeout: Duration) -> Health {
    match tokio::time::timeout(timeout, ask(port, &path)).await {
        Ok(found) => found,
        Err(_) => Health::NoAnswer(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn ask(port: u16, path: &str) -> Health {
    // Dev servers bound to `localhost` may hold only one of the two.
    let stream = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            match TcpStream::connect(("::1", port)).await {
                Ok(s) => s,
                Err(_) => return Health::NotListening,
            }
        }
        Err(e) => return Health::NoAnswer(e.to_string()),
    };
    let (mut send, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => return Health::NoAnswer(e.to_string()),
    };
    tokio::spawn(conn);
    let request = Request::get(path)
        .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
        .header(hyper::header::USER_AGENT, "shards-status")
        .body(Empty::<Bytes>::new());
    let request = match request {
        Ok(r) => r,
        Err(e) => return Health::NoAnswer(e.to_string()),
    };
    match send.send_request(request).await {
        Ok(answer) => {
            let code = answer.status();
            if code.is_success() || code.is_redirection() {
                Health::Healthy(code.as_u16())
            } else {
                Health::Unhealthy(code.as_u16())
            }
        }
        Err(e) => Health::NoAnswer(e.to_string()),
    }
}
