//! Real processes in tests: waiting, liveness, whether a port answers,
//! killing a start hook's session, and running a command as root without
//! the power to read anything.

use std::net::TcpStream;
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
