//! `shards port`: stable named ports, release, all-or-nothing, and `who`.

use crate::common::{TestEnv, env_value, ports, services};

use crate::common::shard_path as path;

/// Returns a `port --json` report's services as (name, port) pairs.
fn port_map(out: &serde_json::Value) -> Vec<(String, u64)> {
    services(&out["services"], |s| s["port"].as_u64())
}

#[test]
fn named_ports_are_stable_and_land_in_the_env_file() {
    let env = TestEnv::new();
    env.create("a");
    let b = env.create("b");
    let wt = path(&b);
    let out = env.shards_in(&wt, &["port", "web", "api", "db"]).ok();
    assert_eq!(out.stdout, "web 3100\napi 3101\ndb 3102\n");
    assert_eq!(
        env_value(&wt.join(".env"), "WEB_PORT").as_deref(),
        Some("3100")
    );
    assert_eq!(
        env_value(&wt.join(".env"), "DB_PORT").as_deref(),
        Some("3102")
    );
    // Asking again (in any order, from anywhere) gives the same ports.
    let again = env
        .shards(&["port", "db", "web", "--shard", "b", "--json"])
        .ok()
        .json();
    assert_eq!(
        port_map(&again),
        vec![("db".into(), 3102), ("web".into(), 3100)]
    );
    // Destroying and creating other shards does not move them.
    env.shards(&["destroy", "a"]).ok();
    env.create("c");
    let again = env.shards_in(&wt, &["port", "api", "--json"]).ok().json();
    assert_eq!(port_map(&again), vec![("api".into(), 3101)]);
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
}

#[test]
fn release_frees_the_port_and_the_variable() {
    let env = TestEnv::new();
    let wt = env.create_worktree("a");
    env.shards_in(&wt, &["port", "web", "api", "db"]).ok();
    let out = env
        .shards_in(&wt, &["port", "--release", "api", "--json"])
        .ok()
        .json();
    assert_eq!(out["released"][0]["port"], 3001);
    assert_eq!(env_value(&wt.join(".env"), "API_PORT"), None);
    let listed = env.shards_in(&wt, &["port", "--json"]).ok().json();
    assert_eq!(
        port_map(&listed),
        vec![("web".into(), 3000), ("db".into(), 3002)]
    );
    // The freed offset is the lowest free one again.
    let out = env.shards_in(&wt, &["port", "cache"]).ok();
    assert_eq!(out.stdout, "cache 3001\n");
}

#[test]
fn configured_services_sit_at_their_offset_in_every_shard() {
    let env = TestEnv::new();
    std::fs::write(
        env.repo.join(".shards.toml"),
        "[ports.services]\nweb = 10\napi = 0\n",
    )
    .unwrap();
    let a = env.create("a");
    let b = env.create("b");
    assert_eq!(
        env_value(&path(&a).join(".env"), "WEB_PORT").as_deref(),
        Some("3010")
    );
    assert_eq!(
        env_value(&path(&b).join(".env"), "WEB_PORT").as_deref(),
        Some("3110")
    );
    assert_eq!(
        env_value(&path(&b).join(".env"), "API_PORT").as_deref(),
        Some("3100")
    );
    // An unconfigured name skips the offsets reserved for configured ones.
    let out = env.shards_in(&path(&a), &["port", "db"]).ok();
    assert_eq!(out.stdout, "db 3001\n");
}

#[test]
fn several_services_are_all_or_nothing_and_a_full_block_is_clear() {
    let mut env = TestEnv::new();
    env.small_pool(24000, 3, 4);
    let wt = env.create_worktree("a");
    env.shards_in(&wt, &["port", "one"]).ok();
    env.shards_in(&wt, &["port", "two", "three", "four"])
        .code(1)
        .says(&["no free port for service `four`", "hint:"]);
    let listed = env.shards_in(&wt, &["port", "--json"]).ok().json();
    assert_eq!(
        port_map(&listed),
        vec![("one".into(), 24000)],
        "a failed call allocated some ports"
    );
    assert_eq!(env_value(&wt.join(".env"), "TWO_PORT"), None);
}

#[test]
fn bad_service_names_and_no_shard_are_clear_errors() {
    let env = TestEnv::new();
    env.create("a");
    for (args, says) in [
        (
            &["port", "web"][..],
            &["is not inside a shard's worktree", "--shard"][..],
        ),
        (&["port", "we b", "--shard", "a"], &["invalid service name"]),
        (
            &["port", "web", "--shard", "nope"],
            &["no shard named `nope`"],
        ),
    ] {
        env.shards(args).code(1).says(says);
    }
}

#[test]
fn who_names_the_owner_and_the_listener() {
    let mut env = TestEnv::new();
    env.small_pool(24100, 10, 5);
    let r = env.create("a");
    let wt = path(&r);
    env.shards_in(&wt, &["port", "web"]).ok();
    let holder = crate::common::hold(&wt, "tcp", "127.0.0.1", 24100);
    let who = env.shards(&["port", "who", "24100", "--json"]).ok().json();
    assert_eq!(who["owner"]["shard"], "a");
    assert_eq!(who["owner"]["service"], "web");
    assert_eq!(who["listeners"][0]["pid"], holder.pid);
    assert_eq!(who["listeners"][0]["proto"], "tcp");
    assert_eq!(
        who["listeners"][0]["cwd"].as_str().unwrap(),
        wt.canonicalize().unwrap().to_str().unwrap()
    );
    let human = env.shards(&["port", "who", "24100"]).ok();
    assert!(
        human.stdout.contains("owned by shard a (service web)"),
        "{human}"
    );
    let nobody = env.shards(&["port", "who", "24199", "--json"]).ok().json();
    assert!(nobody["owner"].is_null());
    assert_eq!(nobody["listeners"].as_array().unwrap().len(), 0);
    let _ = ports(&r["shard"]);
}
