//! `shards status`: the audit, checked against real sockets held by real
//! processes inside and outside shards' worktrees.

use serde_json::Value;

use crate::common::{TestEnv, hold, map_words, realign, services, shard_named};

use crate::common::shard_path as path;

fn find<'a>(list: &'a Value, port: u16, proto: &str) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["port"] == port && s["proto"] == proto)
}

#[test]
fn the_audit_matches_what_the_kernel_reports() {
    let mut env = TestEnv::new();
    env.small_pool(10, 10);
    let a = env.create("a");
    let b = env.create("b");
    let (wa, wb) = (path(&a), path(&b));
    env.shards_in(&wa, &["port", "web", "api"]).ok();
    // Ports of a's block: web and api, then ports no service has.
    let (web, api, squat, v6_port, udp_port, stray_port) = (
        env.port(0),
        env.port(1),
        env.port(5),
        env.port(6),
        env.port(7),
        env.port(8),
    );
    // a's own server, inside its block, started in its worktree.
    let own = hold(&wa, "tcp", "127.0.0.1", web);
    // Something started outside any worktree, squatting in a's block.
    let squatter = hold(&env.root, "tcp", "127.0.0.1", squat);
    // An IPv6-only listener and a UDP socket in a's block.
    let v6 = hold(&wa, "tcp", "::1", v6_port);
    let udp = hold(&wa, "udp", "127.0.0.1", udp_port);
    // b's process hard-coded a port outside b's block (inside a's).
    let stray = hold(&wb, "tcp", "127.0.0.1", stray_port);
    let status = env.shards(&["status", "--json"]).ok().json();
    let sa = shard_named(&status, "a");
    let l = &sa["listening"];
    let own_v = find(l, web, "tcp").expect("own listener missing");
    assert_eq!(own_v["pid"], own.pid);
    assert_eq!(own_v["place"], "inside");
    assert_eq!(own_v["service"], "web");
    let sq = find(l, squat, "tcp").expect("squatter missing");
    assert_eq!(
        (sq["place"].as_str(), sq["pid"].as_u64()),
        (Some("foreign"), Some(squatter.pid as u64))
    );
    let v6v = find(l, v6_port, "tcp").expect("IPv6-only listener missing");
    assert_eq!(v6v["address"], "::1");
    assert_eq!(v6v["pid"], v6.pid);
    let u = find(l, udp_port, "udp").expect("UDP socket missing");
    assert_eq!(u["pid"], udp.pid);
    let st = find(l, stray_port, "tcp").expect("b's stray listener missing from a's block");
    assert_eq!(st["place"], "foreign");
    // b's audit names its stray process and the shard whose block it uses.
    let sb = shard_named(&status, "b");
    let out = find(&sb["outside"], stray_port, "tcp")
        .expect("stray listener missing from b's outside list");
    assert_eq!(out["pid"], stray.pid);
    assert_eq!(out["owner_shard"], "a");
    assert!(sb["listening"].as_array().unwrap().is_empty());
    // Named ports: web listens, api does not.
    let svc = services(&sa["services"], |s| s["listening"].as_bool());
    assert_eq!(svc, vec![("web".into(), true), ("api".into(), false)]);
    // Pool figures.
    let pool = &status["pool"];
    assert_eq!(
        (pool["blocks_total"].as_u64(), pool["blocks_held"].as_u64()),
        (Some(10), Some(2))
    );
    assert_eq!(pool["utilization"].as_f64(), Some(20.0));
    // The human view says the same.
    let human = env.shards(&["status"]).ok();
    assert!(human.stdout.contains("foreign"), "{human}");
    assert!(
        human.stdout.contains(&format!(
            "listens outside its block on {stray_port}/tcp (in shard a's block)"
        )),
        "{human}"
    );
    assert!(
        human
            .stdout
            .contains(&format!("named ports not listening: api {api}")),
        "{human}"
    );
    drop((own, squatter, v6, udp, stray));
}

#[test]
fn status_scope_and_an_idle_shard() {
    let mut env = TestEnv::new();
    env.small_pool(10, 10);
    env.create("quiet");
    let other = env.new_repo("other");
    env.shards_in(&other, &["create", "elsewhere"]).ok();
    let mine = env.shards(&["status", "--json"]).ok().json();
    assert_eq!(mine["shards"].as_array().unwrap().len(), 1);
    assert_eq!(
        mine["pool"]["blocks_held"], 2,
        "pool figures cover every repository"
    );
    let all = env.shards(&["status", "--all", "--json"]).ok().json();
    assert_eq!(all["shards"].as_array().unwrap().len(), 2);
    let human = env.shards(&["status"]).ok();
    assert!(
        human.stdout.contains("nothing listens in its block"),
        "{human}"
    );
}

#[test]
fn the_human_audit_names_listeners_and_the_pool() {
    let mut env = TestEnv::new();
    env.small_pool(10, 4);
    let wa = env.create_worktree("a");
    env.create("b");
    env.shards_in(&wa, &["port", "web", "api"]).ok();
    let own = hold(&wa, "tcp", "127.0.0.1", env.port(0));
    let squatter = hold(&env.root, "tcp", "127.0.0.1", env.port(5));
    let out = env.shards(&["status"]).ok();
    // Pids change from run to run, and python's command name from host to
    // host (`python3`, `python3.11`): shown as `[PID]` and `[PYTHON]`. The
    // pids go first: a pid can read like a port of the test's region, which
    // the redaction would renumber (CI once showed a pid as `10869`).
    let (own_pid, squatter_pid) = (own.pid.to_string(), squatter.pid.to_string());
    let shown = realign(&env.redact(&map_words(&out.to_string(), |w| {
        (w == own_pid || w == squatter_pid)
            .then(|| "[PID]".to_string())
            .or_else(|| w.starts_with("python3").then(|| "[PYTHON]".to_string()))
    })));
    insta::assert_snapshot!(shown, @"
    pool 10000-10039, blocks of 10: 4 total, 2 held, 0 busy on this host, 2 free (50% held)

    a  10000-10009  active  [TMP]/shards_home/worktrees/repo/a
      PORT   PROTO  ADDRESS    SERVICE  PID    COMMAND   WHERE
      10000  tcp    127.0.0.1  web      [PID]  [PYTHON]  inside
      10005  tcp    127.0.0.1  -        [PID]  [PYTHON]  foreign
      named ports not listening: api 10001

    b  10010-10019  active  [TMP]/shards_home/worktrees/repo/b
      nothing listens in its block
    --- stderr ---
    [exit status: 0]
    ");
    drop((own, squatter));
}
