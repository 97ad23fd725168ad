//! The proxy's tests' world: a proxy of the test's home on a port of its
//! region, python3 servers as the shards' apps, and a small HTTP client on
//! a raw socket (so a test sees exactly what went over the wire).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::TestEnv;
use super::procs::{answers, wait_for};

/// A python3 server that says which shard it is: `GET /` answers
/// `shard NAME` and the request's headers; `/stream` sends a first chunk,
/// then waits for the file `release` before the last; `/ws` is a WebSocket
/// echo; `/cookie` sets a cookie and `/seen` shows the cookies it got.
const BACKEND: &str = r#"
import base64, hashlib, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

name, port, release = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, body, extra=()):
        body = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            def chunk(t):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(t), t)); self.wfile.flush()
            chunk(b"data: first\n\n")
            for _ in range(1000):
                if os.path.exists(release): break
                time.sleep(0.01)
            chunk(b"data: last\n\n")
            self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()
        elif self.path == "/ws":
            key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers(); self.wfile.flush()
            while True:
                head = self.rfile.read(2)
                if len(head) < 2: return
                n = head[1] & 0x7f
                mask = self.rfile.read(4)
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
                if head[0] & 0x0f == 8: return
                reply = ("%s: %s" % (name, data.decode())).encode()
                self.wfile.write(bytes([0x81, len(reply)]) + reply); self.wfile.flush()
        elif self.path == "/cookie":
            self.send("set", [("Set-Cookie", "session=%s; Path=/" % name)])
        elif self.path == "/seen":
            self.send("cookie: %s" % self.headers.get("Cookie", ""))
        else:
            lines = ["shard %s" % name] + ["%s: %s" % (k.lower(), v) for k, v in self.headers.items()]
            self.send("\n".join(lines) + "\n")

ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

/// A shard's app: a python3 server on one port, killed when dropped.
pub struct Backend {
    child: Child,
    /// The file whose existence lets `/stream` end.
    pub release: std::path::PathBuf,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The home's proxy, started by `shards proxy start`; killed when dropped
/// if the test did not stop it.
pub struct Proxy {
    pid_file: std::path::PathBuf,
    /// The port it listens on.
    pub port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.pid_file).ok().and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|p| p.parse::<i32>().ok())
        });
        if let Some(pid) = pid {
            // SAFETY: only signals the proxy this test started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// One answer as it came over the wire.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The head, lower-cased header names, as text.
    pub head: String,
    /// The body, chunked encoding undone.
    pub body: String,
}

impl Answer {
    /// Returns the value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

impl TestEnv {
    /// Uses a pool of 9 blocks of 100 from the region's start, so the
    /// region's last hundred ports are free for the proxy, and returns the
    /// proxy's port (also set as `SHARDS_PROXY_PORT`).
    pub fn proxy_port(&mut self) -> u16 {
        self.small_pool(100, 9);
        let port = self.port(950);
        self.set("SHARDS_PROXY_PORT", &port.to_string());
        port
    }

    /// Starts the home's proxy (`shards proxy start`).
    pub fn start_proxy(&self, port: u16) -> Proxy {
        let proxy = Proxy {
            pid_file: self.shards_home.join("proxy.pid"),
            port,
        };
        self.shards(&["proxy", "start"]).ok();
        wait_for("the proxy to listen", || answers(port));
        proxy
    }

    /// Starts the app of a shard: a python3 server on `port` answering as
    /// `name`.
    pub fn backend(&self, name: &str, port: u16) -> Backend {
        let script = self.root.join("backend.py");
        std::fs::write(&script, BACKEND).unwrap();
        let release = self.root.join(format!("release-{port}"));
        let child = Command::new("python3")
            .arg(&script)
            .args([name, &port.to_string()])
            .arg(&release)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be on PATH");
        let backend = Backend { child, release };
        wait_for("the shard's server to listen", || answers(port));
        backend
    }
}

/// Connects to the proxy on 127.0.0.1:`port`.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// An exchange left open after the answer's head: the socket (to write
/// more) and a reader of what follows the head.
pub struct Open {
    /// The socket.
    pub socket: TcpStream,
    /// What comes after the head.
    pub reader: BufReader<TcpStream>,
    /// The answer's head.
    pub head: String,
}

/// Sends `request` (a whole request head, with `\r\n`) and reads the
/// answer's head, leaving the rest to the caller.
pub fn open(port: u16, request: &str) -> Open {
    let mut socket = connect(port);
    socket.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let head = read_head(&mut reader);
    Open {
        socket,
        reader,
        head,
    }
}

/// Sends `request` (a whole request head, with `\r\n`) and reads the
/// answer to its end (the request should say `Connection: close`).
pub fn exchange(port: u16, request: &str) -> Answer {
    let Open {
        mut reader, head, ..
    } = open(port, request);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = match chunked {
        true => unchunk(&rest),
        false => rest,
    };
    Answer {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// GETs `path` from the proxy on `port` with `Host: host`.
pub fn get(port: u16, host: &str, path: &str) -> Answer {
    exchange(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// Reads a response head up to its blank line.
pub fn read_head(reader: &mut impl BufRead) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            return head;
        }
        head.push_str(&line);
    }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// The host of shard `name` (a label) of the test's repository.
pub fn host(shard: &str, port: u16) -> String {
    format!("{shard}.repo.localhost:{port}")
}
