//! Blocks with a port bound on the host, though nothing listens on it, are
//! skipped: a UDP socket (a DNS or QUIC dev server, a debugger), and a TCP
//! socket bound but not yet listening (a server starting up).

use crate::common::{TestEnv, hold};

/// A pool of 5 blocks of 10 ports.
fn small() -> TestEnv {
    let mut env = TestEnv::new();
    env.small_pool(10, 5);
    env
}

#[test]
fn a_block_with_only_a_udp_socket_bound_is_skipped() {
    let env = small();
    let holder = hold(&env.root, "udp", "127.0.0.1", env.port(3));
    env.assert_first_block_skipped_while(holder);
}

#[test]
fn a_block_with_a_tcp_port_bound_but_not_listening_is_skipped() {
    let env = small();
    let bound = hold(&env.root, "tcp-bound", "127.0.0.1", env.port(7));
    env.assert_first_block_skipped_while(bound);
}
