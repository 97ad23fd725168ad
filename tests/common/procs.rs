//! Real processes in tests: waiting, liveness, whether a port answers,
//! killing a start hook's session or the process a pid file names, running a
//! command as root without the power to read anything, and a python3
//! process holding a socket.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Waits up to 10 s for `done`, failing the test with `what` after that.
#[track_caller]
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while `pid` runs (a zombie has ended; only its parent has not
/// waited for it yet).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// Returns the fields of `/proc/<pid>/stat` after the command name
/// (state, ppid, process group, session, …), or `None` when `pid` has no
/// entry there.
pub fn stat_fields(pid: i64) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit(')').next().unwrap_or_default();
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// True when something accepts a connection on 127.0.0.1:`port`.
pub fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok()
}

/// Kills process group (session) `pid`, the one a start hook runs in.
pub fn kill_group(pid: i64) {
    // SAFETY: only signals the test's own background hook.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

/// Kills a start hook's session, and the hook itself, when the test ends,
/// even by a panic, so no server outlives the test.
pub struct KillSession(pub i64);

impl Drop for KillSession {
    fn drop(&mut self) {
        kill_group(self.0);
        // SAFETY: only signals the test's own process (not always a group leader).
        unsafe {
            libc::kill(self.0 as i32, libc::SIGKILL);
        }
    }
}

/// Kills (SIGKILL) the process whose pid the file at this path holds, when
/// the test ends, even by a panic; nothing when the file holds no pid.
pub struct KillPidFile(pub PathBuf);

impl Drop for KillPidFile {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|p| p.parse().ok())
        {
            // SAFETY: only signals a process the test itself had started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Returns `cmd` run through `setpriv` without the capabilities that let
/// root read anything, so a mode-000 folder is unreadable even as root;
/// `None` when this host cannot drop them.
pub fn without_read_override(cmd: Command) -> Option<Command> {
    let drop = "--bounding-set=-dac_override,-dac_read_search";
    let probe = Command::new("setpriv").args([drop, "--", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let mut wrapped = Command::new("setpriv");
    wrapped
        .arg(drop)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    wrapped.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    Some(wrapped)
}

/// A real process holding a socket, killed when dropped.
pub struct Holder {
    child: std::process::Child,
    /// The port it bound.
    pub port: u16,
    /// Its pid.
    pub pid: u32,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HOLDER: &str = r#"
import socket, sys, time
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
s = socket.socket(family, kind)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
# An earlier test's server on this port may have left connections in
# TIME_WAIT; as every server does, bind anyway (a listener there still
# refuses).
if kind == socket.SOCK_STREAM:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
if proto == "tcp":
    s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(600)
"#;

/// Starts a python3 process in `cwd` that binds `proto` on `host:port`
/// and waits: `tcp` (listening), `tcp-bound` (a TCP socket bound but not
/// listening, a server starting up) or `udp`; returns once the socket is
/// bound.
pub fn hold(cwd: &Path, proto: &str, host: &str, port: u16) -> Holder {
    use std::io::BufRead;
    let mut child = Command::new("python3")
        .args(["-c", HOLDER, proto, host, &port.to_string()])
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("python3 is needed by the audit tests");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let bound: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("python3 did not bind {proto} {host}:{port}"));
    let pid = child.id();
    Holder {
        child,
        port: bound,
        pid,
    }
}
