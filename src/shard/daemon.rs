//! The proxy as a process of the home: its pid file (`<home>/proxy.pid`,
//! written by `shards proxy run` once it listens, removed when it stops),
//! and starting it detached (log `<home>/logs/proxy.log`) or stopping it.
//!
//! Lifecycle layer: processes through `host`, files through `fsutil`; the
//! proxy's sockets are `proxy`'s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::host::{self, hook, procs};
use crate::paths;

/// How long `start` waits for the proxy to listen, and `stop` for it to go.
const PATIENCE: Duration = Duration::from_secs(10);

/// A running proxy, as its pid file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    /// Its process id.
    pub pid: i64,
    /// Its start time (clock ticks since boot), which tells it from a
    /// process that took its pid later.
    pub start: i64,
    /// The port it listens on.
    pub port: u16,
}

/// Returns the pid file of the home's proxy.
pub fn pid_file(home: &Path) -> PathBuf {
    home.join("proxy.pid")
}

/// Returns the log of the home's background proxy.
pub fn log_file(home: &Path) -> PathBuf {
    home.join("logs").join("proxy.log")
}

/// Returns the home's proxy if one runs; a pid file of a process that has
/// gone is left for the next `run` to replace.
pub fn running(home: &Path) -> Option<Running> {
    let text = std::fs::read_to_string(pid_file(home)).ok()?;
    let mut words = text.split_whitespace().map(str::parse::<i64>);
    let (Some(Ok(pid)), Some(Ok(start)), Some(Ok(port))) =
        (words.next(), words.next(), words.next())
    else {
        return None;
    };
    let running = Running {
        pid,
        start,
        port: u16::try_from(port).ok()?,
    };
    host::process_alive(pid, start).then_some(running)
}

/// Records this process as the home's proxy on `port`; fails when another
/// live proxy of the home is recorded.
pub fn record(home: &Path, port: u16) -> Result<Running> {
    if let Some(other) = running(home) {
        return Err(already(other));
    }
    let (pid, start) = host::current_process();
    let me = Running { pid, start, port };
    fsutil::write_atomically(
        &pid_file(home),
        format!("{pid} {start} {port}\n").as_bytes(),
    )?;
    Ok(me)
}

/// Removes the pid file if it still names `me`.
pub fn forget(home: &Path, me: Running) {
    let file = pid_file(home);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if text.trim() == format!("{} {} {}", me.pid, me.start, me.port) {
        let _ = std::fs::remove_file(file);
    }
}

/// The error of a second proxy for one home.
pub fn already(other: Running) -> Error {
    Error::Proxy {
        message: format!(
            "a proxy of this home already runs (pid {}, port {})",
            other.pid, other.port
        ),
        hint: "`shards proxy status` shows it; `shards proxy stop` stops it".into(),
    }
}

/// Starts `exe proxy run --port PORT` detached, and waits until it
/// listens. Returns it, and whether it was already running.
pub fn start(exe: &Path, home: &Path, port: u16) -> Result<(Running, bool)> {
    if let Some(other) = running(home) {
        return Ok((other, true));
    }
    let log = log_file(home);
    if let Some(dir) = log.parent() {
        fsutil::create_home_dir(dir, fsutil::Sharing::of(home))?;
    }
    let mut cmd = Command::new(exe);
    cmd.args(["proxy", "run", "--port", &port.to_string()])
        .current_dir(home)
        .env(paths::SHARDS_HOME, home);
    let (pid, start) = hook::spawn_detached(cmd, &log, hook::Priority::Normal)?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(up) = running(home).filter(|r| r.pid == pid) {
            return Ok((up, false));
        }
        if !host::process_alive(pid, start) {
            return Err(Error::Proxy {
                message: format!("it stopped as it started: {}", last_line(&log)),
                hint: format!("its log is {}", log.display()),
            });
        }
        if Instant::now() > deadline {
            return Err(Error::Proxy {
                message: format!(
                    "it did not listen within {} s (pid {pid})",
                    PATIENCE.as_secs()
                ),
                hint: format!("its log is {}", log.display()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Returns the last line of `log` that says something.
fn last_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .to_string()
}

/// Stops the home's proxy (SIGTERM) and waits for it to go; `None` when
/// none ran.
pub fn stop(home: &Path) -> Result<Option<Running>> {
    let Some(proxy) = running(home) else {
        return Ok(None);
    };
    let (Ok(pid), Ok(start)) = (i32::try_from(proxy.pid), u64::try_from(proxy.start)) else {
        return Ok(None);
    };
    procs::signal(pid, start, libc::SIGTERM).map_err(|e| Error::io(pid_file(home), e))?;
    let deadline = Instant::now() + PATIENCE;
    while procs::alive(pid, start) {
        if Instant::now() > deadline {
            return Err(Error::Proxy {
                message: format!(
                    "it (pid {pid}) did not stop within {} s",
                    PATIENCE.as_secs()
                ),
                hint: format!("stop it with `kill -9 {pid}`"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    forget(home, proxy);
    Ok(Some(proxy))
}
