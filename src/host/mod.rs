//! The host: which ports are listening and which processes hold them, the OS
//! ephemeral port range, and whether a recorded process is still alive.
//!
//! Sockets come from the kernel's sock_diag netlink interface, asked for
//! listening TCP sockets only: on a host with much memory, reading
//! `/proc/net/tcp` walks every bucket of the connection hash table and costs
//! milliseconds even when nothing listens, while the netlink dump of the
//! listen table costs microseconds. `/proc/net` (through the procfs crate)
//! is the fallback, and a bind test the last resort. `busy` tells which
//! ports a new block must avoid (TCP listening or only bound, UDP bound).
//! Processes come from `/proc`; `procs` finds those running from a folder
//! and signals them. Adapter: knows nothing of shards, git or SQLite.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
#[cfg(test)]
use std::net::TcpListener;
use std::path::PathBuf;

use procfs::net::TcpState;
use procfs::process::FDTarget;
use serde::Serialize;

/// A transport protocol.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP (listening sockets).
    Tcp,
    /// UDP (bound sockets).
    Udp,
}

/// Writes `tcp` or `udp`, as `--json` does.
impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// A socket waiting for traffic: TCP in LISTEN, or UDP bound to a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Protocol.
    pub proto: Proto,
    /// Local address and port.
    pub addr: SocketAddr,
    /// The kernel's inode for it, which links it to a process.
    pub inode: u64,
}

/// A process that holds sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: i32,
    /// Its command name.
    pub command: String,
    /// Its working directory, when readable.
    pub cwd: Option<PathBuf>,
}

/// Returns every TCP listening socket and every bound UDP socket, IPv4 and
/// IPv6, from the kernel's tables (empty where they cannot be read).
pub fn sockets() -> Vec<Socket> {
    use netlink_packet_sock_diag::inet::StateFlags;
    let mut out = Vec::new();
    match diag_tcp_listeners() {
        Some(listeners) => {
            out.extend(listeners.into_iter().map(|(addr, inode)| Socket {
                proto: Proto::Tcp,
                addr,
                inode,
            }));
        }
        None => {
            for table in [procfs::net::tcp(), procfs::net::tcp6()] {
                for e in table.into_iter().flatten() {
                    if e.state == TcpState::Listen {
                        out.push(Socket {
                            proto: Proto::Tcp,
                            addr: e.local_address,
                            inode: e.inode,
                        });
                    }
                }
            }
        }
    }
    let udp = diag::dump(false, true, StateFlags::all()).map(|mut v4| {
        v4.extend(diag::dump(true, true, StateFlags::all()).unwrap_or_default());
        v4
    });
    match udp {
        Ok(udp) => {
            out.extend(
                udp.into_iter()
                    .filter(|(a, _)| a.port() != 0)
                    .map(|(addr, inode)| Socket {
                        proto: Proto::Udp,
                        addr,
                        inode,
                    }),
            );
        }
        Err(_) => {
            for table in [procfs::net::udp(), procfs::net::udp6()] {
                for e in table.into_iter().flatten() {
                    if e.local_address.port() != 0 {
                        out.push(Socket {
                            proto: Proto::Udp,
                            addr: e.local_address,
                            inode: e.inode,
                        });
                    }
                }
            }
        }
    }
    out.sort_by_key(|s| (s.addr.port(), s.proto, s.addr.is_ipv6()));
    out
}

/// Maps socket inodes to the processes holding them, for the processes
/// this user may inspect; inodes held by others are simply absent.
pub fn socket_owners(inodes: &HashSet<u64>) -> HashMap<u64, ProcInfo> {
    let mut owners = HashMap::new();
    let Ok(all) = procfs::process::all_processes() else {
        return owners;
    };
    for proc in all.flatten() {
        let Ok(fds) = proc.fd() else { continue };
        let mut info = None;
        for fd in fds.flatten() {
            let FDTarget::Socket(inode) = fd.target else {
                continue;
            };
            if !inodes.contains(&inode) || owners.contains_key(&inode) {
                continue;
            }
            let info = info.get_or_insert_with(|| ProcInfo {
                pid: proc.pid,
                command: proc.stat().map(|s| s.comm).unwrap_or_else(|_| "?".into()),
                cwd: proc.cwd().ok(),
            });
            owners.insert(inode, info.clone());
        }
        if owners.len() == inodes.len() {
            break;
        }
    }
    owners
}

/// Returns the working directory of every process this user may inspect.
pub fn process_cwds() -> Vec<ProcInfo> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.flatten()
        .filter_map(|p| {
            let cwd = p.cwd().ok()?;
            let command = p.stat().map(|s| s.comm).unwrap_or_else(|_| "?".into());
            Some(ProcInfo {
                pid: p.pid,
                command,
                cwd: Some(cwd),
            })
        })
        .collect()
}

mod busy;
mod diag;
pub mod hook;

pub use busy::{listening_ports, port_busy_by_bind, tcp_bound_in};
pub mod interrupt;
pub mod procs;

/// Listening TCP sockets (IPv4 and IPv6) from sock_diag, or `None` when the
/// kernel does not answer it.
fn diag_tcp_listeners() -> Option<Vec<(SocketAddr, u64)>> {
    use netlink_packet_sock_diag::inet::StateFlags;
    let mut all = diag::dump(false, false, StateFlags::LISTEN).ok()?;
    // A host without IPv6 has no IPv6 listeners; any other failure falls back.
    all.extend(diag::dump(true, false, StateFlags::LISTEN).unwrap_or_default());
    Some(all)
}

/// The ports with a TCP socket in LISTEN state, IPv4 or IPv6, any address;
/// `None` when the kernel's tables cannot be read.
pub fn listening_tcp_ports() -> Option<BTreeSet<u16>> {
    if let Some(listeners) = diag_tcp_listeners() {
        return Some(listeners.iter().map(|(a, _)| a.port()).collect());
    }
    proc_listening_tcp_ports()
}

/// The fallback of [`listening_tcp_ports`]: the `/proc/net` tables.
fn proc_listening_tcp_ports() -> Option<BTreeSet<u16>> {
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

/// Returns the effective user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

pub(crate) fn start_time(pid: i64) -> Option<i64> {
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
    fn protocols_print_as_in_json() {
        let json = serde_json::to_value([Proto::Tcp, Proto::Udp]).unwrap();
        assert_eq!(json, serde_json::json!(["tcp", "udp"]));
        assert_eq!(format!("{} {}", Proto::Tcp, Proto::Udp), "tcp udp");
    }

    #[test]
    fn sees_a_listener_of_ours() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening_tcp_ports().unwrap().contains(&port));
        assert!(
            proc_listening_tcp_ports().unwrap().contains(&port),
            "the /proc fallback disagrees"
        );
        let v6 = TcpListener::bind("[::1]:0").ok();
        if let Some(v6) = &v6 {
            let p6 = v6.local_addr().unwrap().port();
            assert!(listening_tcp_ports().unwrap().contains(&p6));
            assert!(proc_listening_tcp_ports().unwrap().contains(&p6));
        }
        assert!(port_busy_by_bind(port));
        drop(l);
    }

    #[test]
    fn maps_our_sockets_to_this_process() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (tp, up) = (
            tcp.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port(),
        );
        let all = sockets();
        let t = all
            .iter()
            .find(|s| s.proto == Proto::Tcp && s.addr.port() == tp)
            .unwrap();
        let u = all
            .iter()
            .find(|s| s.proto == Proto::Udp && s.addr.port() == up)
            .unwrap();
        let owners = socket_owners(&[t.inode, u.inode].into_iter().collect());
        assert_eq!(owners[&t.inode].pid as u32, std::process::id());
        assert_eq!(owners[&u.inode].pid as u32, std::process::id());
        assert_eq!(owners[&t.inode].cwd, std::env::current_dir().ok());
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let (pid, start) = current_process();
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 12345));
        assert!(!process_alive(i32::MAX as i64, 0));
    }
}
