//! Blocks with a port bound on the host, though nothing listens on it, are
//! skipped: a UDP socket (a DNS or QUIC dev server, a debugger), and a TCP
//! socket bound but not yet listening (a server starting up).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use crate::common::{TestEnv, hold, ports};

/// A python3 process holding a TCP socket bound to 127.0.0.1:`port`, not
/// listening; killed when dropped.
struct Bound(Child);

impl Bound {
    fn tcp(port: u16) -> Bound {
        let script = "import socket, sys, time\n\
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
            s.bind(('127.0.0.1', int(sys.argv[1])))\n\
            print(s.getsockname()[1], flush=True)\n\
            time.sleep(600)\n";
        let mut child = Command::new("python3")
            .args(["-c", script, &port.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed by this test");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), port.to_string(), "python3 did not bind {port}");
        Bound(child)
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pool of 5 blocks of 10 ports.
fn small() -> (TestEnv, u64) {
    let mut env = TestEnv::new();
    env.small_pool(10, 5);
    let base = u64::from(env.base());
    (env, base)
}

#[test]
fn a_block_with_only_a_udp_socket_bound_is_skipped() {
    let (env, base) = small();
    let holder = hold(&env.root, "udp", "127.0.0.1", env.port(3));
    let r = env.create("a");
    assert_eq!(ports(&r["shard"]), (base + 10, base + 19));
    drop(holder);
    let r = env.create("b");
    assert_eq!(ports(&r["shard"]), (base, base + 9));
}

#[test]
fn a_block_with_a_tcp_port_bound_but_not_listening_is_skipped() {
    let (env, base) = small();
    let bound = Bound::tcp(env.port(7));
    let r = env.create("a");
    assert_eq!(ports(&r["shard"]), (base + 10, base + 19));
    drop(bound);
    let r = env.create("b");
    assert_eq!(ports(&r["shard"]), (base, base + 9));
}
