//! Blocks with a port already listening on the host are skipped.

use std::net::TcpListener;

use crate::common::{TestEnv, ports};

/// Opens a listener at an OS-chosen port and points the pool's first block
/// of 10 at it.
fn env_around(listener: &TcpListener) -> (TestEnv, u64) {
    let port = listener.local_addr().unwrap().port();
    let base = port - port % 10;
    let mut env = TestEnv::new();
    env.small_pool(base, 10, 5);
    (env, base as u64)
}

#[test]
fn a_block_with_an_ipv4_listener_is_skipped() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (env, base) = env_around(&listener);
    let r = env.create("a");
    assert_eq!(ports(&r["shard"]), (base + 10, base + 19));
    drop(listener);
    // Once the port is free, the lowest block is handed out again.
    let r = env.create("b");
    assert_eq!(ports(&r["shard"]), (base, base + 9));
}

#[test]
fn a_block_with_an_ipv6_listener_is_skipped() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    };
    let (env, base) = env_around(&listener);
    let r = env.create("a");
    assert_eq!(ports(&r["shard"]), (base + 10, base + 19));
}

#[test]
fn a_full_pool_of_busy_ports_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut env = TestEnv::new();
    env.small_pool(port, 1, 1);
    let out = env.shards(&["create", "a"]).code(1);
    assert!(
        out.stderr
            .contains("0 held by shards and 1 with ports in use on this host"),
        "{out}"
    );
}
