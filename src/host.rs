//! The host: which TCP ports are listening, the OS ephemeral port range, and
//! whether a recorded process is still alive.
//!
//! Adapter over `/proc` (through the procfs crate) with a bind-test fallback
//! for hosts without it; knows nothing of shards, git or SQLite.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use procfs::net::TcpState;

/// The ports with a TCP socket in LISTEN state, IPv4 or IPv6, any address;
/// `None` when the kernel's tables cannot be read.
pub fn listening_tcp_ports() -> Option<BTreeSet<u16>> {
    let v4 = procfs::net::tcp();
    let v6 = procfs::net::tcp6();
    if v4.is_err() && v6.is_err() {
        return None;
    }
    let ports = v4
        .into_iter()
        .chain(v6)
        .flatten()
        .filter(|e| e.state == TcpState::Listen)
        .map(|e| e.local_address.port())
        .collect();
    Some(ports)
}

/// Returns true when binding `port` fails on either address family: the
/// fallback test where the listen table cannot be read.
pub fn port_busy_by_bind(port: u16) -> bool {
    let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    if v4.is_err() {
        return true;
    }
    let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)));
    // A host without IPv6 cannot have an IPv6 listener: only "in use" counts.
    matches!(v6, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
}

/// Returns the first port of the OS ephemeral range, if the host says.
pub fn ephemeral_low() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Returns this process's id and start time (in clock ticks since boot;
/// 0 where unknown), which together name it even after its pid is reused.
pub fn current_process() -> (i64, i64) {
    let pid = std::process::id() as i64;
    (pid, start_time(pid).unwrap_or(0))
}

fn start_time(pid: i64) -> Option<i64> {
    let stat = procfs::process::Process::new(i32::try_from(pid).ok()?)
        .ok()?
        .stat()
        .ok()?;
    i64::try_from(stat.starttime).ok()
}

/// Returns true when the process `pid` started at `start` is still running.
///
/// A pid that now belongs to a process started at another time is dead to
/// us: the one we recorded has gone and its number was reused.
pub fn process_alive(pid: i64, start: i64) -> bool {
    let Ok(pid32) = i32::try_from(pid) else {
        return false;
    };
    match procfs::process::Process::new(pid32) {
        Ok(p) => match p.stat() {
            // A zombie has finished its work; it only waits to be reaped.
            Ok(stat) if stat.state == 'Z' => false,
            Ok(stat) => start == 0 || i64::try_from(stat.starttime).ok() == Some(start),
            Err(_) => true,
        },
        Err(_) => {
            // Without /proc, ask the kernel whether the pid exists at all.
            // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
            let r = unsafe { libc::kill(pid32, 0) };
            r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_listener_of_ours() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening_tcp_ports().unwrap().contains(&port));
        assert!(port_busy_by_bind(port));
        drop(l);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let (pid, start) = current_process();
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 12345));
        assert!(!process_alive(i32::MAX as i64, 0));
    }
}
