//! A second Unix user for the tests of a shards home shared between users.

use std::process::Command;

/// A second Unix user, member of its own group, for tests of a shards home
/// shared between users.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
}

/// The second user's name; `peer` makes it when missing.
pub const PEER_USER: &str = "shards-peer";
/// The group the second user belongs to (the group of a shared home).
pub const PEER_GROUP: &str = "shards-devs";

/// Returns the second Unix user, adding it and its group with `groupadd`
/// and `useradd` when missing (no home folder, no login shell).
///
/// Needs root and `useradd`: the tests that call it are `#[ignore]`d for a
/// plain `cargo test` and run by `.ci/run`, where they fail, not skip,
/// when either is missing.
pub fn peer() -> Peer {
    static PEER: std::sync::OnceLock<Peer> = std::sync::OnceLock::new();
    *PEER.get_or_init(|| {
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "this test runs shards as a second Unix user and must run as root (.ci/run does)"
        );
        let run = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{program} is needed (.ci/run installs passwd): {e}"))
        };
        if !run("getent", &["group", PEER_GROUP]).status.success() {
            // Another test process may add it at the same time: check again after.
            run("groupadd", &[PEER_GROUP]);
        }
        if !run("id", &["-u", PEER_USER]).status.success() {
            run(
                "useradd",
                &[
                    "-M",
                    "-N",
                    "-g",
                    PEER_GROUP,
                    "-s",
                    "/usr/sbin/nologin",
                    PEER_USER,
                ],
            );
        }
        let number = |program: &str, args: &[&str], field: usize| -> u32 {
            let out = run(program, args);
            assert!(out.status.success(), "{program} {args:?} failed: {out:?}");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .split(':')
                .nth(field)
                .and_then(|f| f.parse().ok())
                .unwrap_or_else(|| panic!("{program} {args:?}: unexpected output {out:?}"))
        };
        Peer {
            uid: number("id", &["-u", PEER_USER], 0),
            gid: number("getent", &["group", PEER_GROUP], 2),
        }
    })
}
