//! Which ports of the host are taken for a new block: a TCP socket
//! listening or only bound (a server between `bind` and `listen`), or a
//! UDP socket bound. Adapter detail of `host`: the kernel's tables, and a
//! bind test where they cannot tell.
//!
//! Listening TCP sockets and UDP sockets come from sock_diag dumps, which
//! cost microseconds. A TCP socket only bound is in no table that is cheap
//! to read: Linux 6.8 lists them (`ss -B`, the state `TCP_BOUND_INACTIVE`),
//! but that dump walks the whole bind hash table, milliseconds on a host
//! with much memory. So each TCP port of a block offered is bound once
//! instead (one dual-stack IPv6 socket, without `SO_REUSEADDR`, which a
//! socket only bound would let share the port); a port refused is then
//! told apart from one a closed connection keeps in TIME_WAIT (which does
//! not hold it) by that dump, read only then, or, on a kernel without it,
//! by binding again with `SO_REUSEADDR`.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use netlink_packet_sock_diag::inet::StateFlags;

use super::diag;

/// `TCP_BOUND_INACTIVE` (include/net/tcp_states.h): a TCP socket bound to
/// a port and neither listening nor connected.
const TCP_BOUND_INACTIVE: u32 = 13;

/// Every port with a TCP socket listening or a UDP socket bound, IPv4 or
/// IPv6, from the kernel's tables; `None` when they cannot be read.
pub fn listening_ports() -> Option<BTreeSet<u16>> {
    let mut ports = super::listening_tcp_ports()?;
    match diag::dump(false, true, StateFlags::all()) {
        Ok(mut v4) => {
            v4.extend(diag::dump(true, true, StateFlags::all()).unwrap_or_default());
            ports.extend(v4.into_iter().map(|(a, _)| a.port()));
        }
        Err(_) => {
            let (v4, v6) = (procfs::net::udp(), procfs::net::udp6());
            if v4.is_err() && v6.is_err() {
                // Half a picture is no picture: the bind test covers both.
                return None;
            }
            ports.extend(
                v4.into_iter()
                    .chain(v6)
                    .flatten()
                    .map(|e| e.local_address.port()),
            );
        }
    }
    ports.remove(&0);
    Some(ports)
}

/// Returns true when a TCP socket is bound to a port of `ports`, listening
/// or not; a port only in TIME_WAIT is free.
pub fn tcp_bound_in(ports: RangeInclusive<u16>) -> bool {
    let refused: Vec<u16> = ports.filter(|&p| tcp_refused(p, false)).collect();
    if refused.is_empty() {
        return false;
    }
    match bound_only_ports() {
        Some(bound) => refused.iter().any(|p| bound.contains(p)),
        None => refused.into_iter().any(|p| tcp_refused(p, true)),
    }
}

/// Returns true when `port` cannot be bound for TCP or UDP on either
/// address family: the test where the kernel's tables cannot be read.
pub fn port_busy_by_bind(port: u16) -> bool {
    if tcp_refused(port, true) || UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).is_err() {
        return true;
    }
    // A host without IPv6 cannot have an IPv6 socket: only "in use" counts.
    matches!(
        UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
    )
}

/// The ports of TCP sockets bound, listening or not, from a kernel that
/// lists those only bound (Linux 6.8); `None` from one that does not,
/// which a probe socket of ours, bound and missing from the dump, tells.
fn bound_only_ports() -> Option<BTreeSet<u16>> {
    let probe = tcp_socket(libc::AF_INET, false)?;
    if !bind(&probe, &SocketAddr::from((Ipv4Addr::LOCALHOST, 0))) {
        return None;
    }
    let states = StateFlags::LISTEN | StateFlags::from_bits_retain(1 << TCP_BOUND_INACTIVE);
    let mut all = diag::dump(false, false, states.clone()).ok()?;
    all.extend(diag::dump(true, false, states).unwrap_or_default());
    let mine = local_port(&probe)?;
    let ports: BTreeSet<u16> = all.into_iter().map(|(a, _)| a.port()).collect();
    ports.contains(&mine).then_some(ports)
}

/// Returns true when TCP `port` cannot be bound (with `SO_REUSEADDR` when
/// `reuse`) on the IPv6 wildcard, dual-stack, which IPv4 sockets refuse
/// too; on a host without IPv6, the IPv4 wildcard.
fn tcp_refused(port: u16, reuse: bool) -> bool {
    if let Some(fd) = tcp_socket(libc::AF_INET6, reuse) {
        set_int_option(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0);
        if bind(&fd, &SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            return false;
        }
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::EADDRINUSE) {
            return true;
        }
    }
    tcp_socket(libc::AF_INET, reuse)
        .is_some_and(|fd| !bind(&fd, &SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))))
}

/// The local port `fd` is bound to.
fn local_port(fd: &OwnedFd) -> Option<u16> {
    // SAFETY: an all-zero sockaddr_in is valid; getsockname writes at most
    // `len` bytes into it.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&raw mut sin).cast::<libc::sockaddr>(),
            &mut len,
        )
    };
    (r == 0).then(|| u16::from_be(sin.sin_port))
}

/// A TCP socket, with `SO_REUSEADDR` when `reuse`.
fn tcp_socket(family: libc::c_int, reuse: bool) -> Option<OwnedFd> {
    // SAFETY: socket returns a new descriptor or -1; it is owned from here.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if reuse {
        set_int_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    }
    Some(fd)
}

/// Sets the int socket option `name` of `level` on `fd` to `value`; a
/// refusal is not checked (the bind that follows tells what counts).
fn set_int_option(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: setsockopt reads one int.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Binds `fd` to `addr`; false when the kernel refuses.
fn bind(fd: &OwnedFd, addr: &SocketAddr) -> bool {
    // SAFETY: bind reads a sockaddr of the length given, built here.
    unsafe {
        match addr {
            SocketAddr::V4(a) => {
                let mut sin: libc::sockaddr_in = std::mem::zeroed();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const sin).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                ) == 0
            }
            SocketAddr::V6(a) => {
                let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const sin6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                ) == 0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP socket of ours bound to a loopback port, not listening.
    fn bound(reuse: bool) -> (OwnedFd, u16) {
        let fd = tcp_socket(libc::AF_INET, reuse).unwrap();
        assert!(bind(&fd, &SocketAddr::from((Ipv4Addr::LOCALHOST, 0))));
        let port = local_port(&fd).unwrap();
        (fd, port)
    }

    #[test]
    fn sees_a_udp_socket_and_tcp_sockets_bound_but_not_listening() {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        assert!(listening_ports().unwrap().contains(&port));
        assert!(port_busy_by_bind(port));
        let (_plain, p) = bound(false);
        assert!(tcp_bound_in(p..=p));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = listener.local_addr().unwrap().port();
        assert!(tcp_bound_in(p..=p));
        // One that would share its port with another SO_REUSEADDR socket.
        let (_shared, p) = bound(true);
        if bound_only_ports().is_some() {
            assert!(tcp_bound_in(p..=p));
        }
    }

    #[test]
    fn a_connection_in_time_wait_does_not_make_its_port_bound() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(listener);
        // The side that closes first keeps the port in TIME_WAIT.
        drop(server);
        let _ = client.read(&mut [0; 1]);
        drop(client);
        assert!(tcp_refused(port, false), "no TIME_WAIT to test with");
        assert!(!tcp_bound_in(port..=port));
    }
}
