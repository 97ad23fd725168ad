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
    // b holds the second block.
    let (web, api, db) = (env.port(100), env.port(101), env.port(102));
    assert_eq!(out.stdout, format!("web {web}\napi {api}\ndb {db}\n"));
    assert_eq!(
        env_value(&wt.join(".env"), "WEB_PORT"),
        Some(web.to_string())
    );
    assert_eq!(env_value(&wt.join(".env"), "DB_PORT"), Some(db.to_string()));
    // Asking again (in any order, from anywhere) gives the same ports.
    let again = env
        .shards(&["port", "db", "web", "--shard", "b", "--json"])
        .ok()
        .json();
    assert_eq!(
        port_map(&again),
        vec![("db".into(), db.into()), ("web".into(), web.into())]
    );
    // Destroying and creating other shards does not move them.
    env.shards(&["destroy", "a"]).ok();
    env.create("c");
    let again = env.shards_in(&wt, &["port", "api", "--json"]).ok().json();
    assert_eq!(port_map(&again), vec![("api".into(), api.into())]);
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
    let (web, api, db) = (env.port(0), env.port(1), env.port(2));
    assert_eq!(out["released"][0]["port"], api);
    assert_eq!(env_value(&wt.join(".env"), "API_PORT"), None);
    let listed = env.shards_in(&wt, &["port", "--json"]).ok().json();
    assert_eq!(
        port_map(&listed),
        vec![("web".into(), web.into()), ("db".into(), db.into())]
    );
    // The freed offset is the lowest free one again.
    let out = env.shards_in(&wt, &["port", "cache"]).ok();
    assert_eq!(out.stdout, format!("cache {api}\n"));
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
    let port = |shard: &serde_json::Value, key: &str| env_value(&path(shard).join(".env"), key);
    assert_eq!(port(&a, "WEB_PORT"), Some(env.port(10).to_string()));
    assert_eq!(port(&b, "WEB_PORT"), Some(env.port(110).to_string()));
    assert_eq!(port(&b, "API_PORT"), Some(env.port(100).to_string()));
    // An unconfigured name skips the offsets reserved for configured ones.
    let out = env.shards_in(&path(&a), &["port", "db"]).ok();
    assert_eq!(out.stdout, format!("db {}\n", env.port(1)));
}

#[test]
fn several_services_are_all_or_nothing_and_a_full_block_is_clear() {
    let mut env = TestEnv::new();
    env.small_pool(3, 4);
    let wt = env.create_worktree("a");
    env.shards_in(&wt, &["port", "one"]).ok();
    env.shards_in(&wt, &["port", "two", "three", "four"])
        .code(1)
        .says(&["no free port for service `four`", "hint:"]);
    let listed = env.shards_in(&wt, &["port", "--json"]).ok().json();
    assert_eq!(
        port_map(&listed),
        vec![("one".into(), env.base().into())],
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
    env.small_pool(10, 5);
    let r = env.create("a");
    let wt = path(&r);
    env.shards_in(&wt, &["port", "web"]).ok();
    let (web, unused) = (env.port(0).to_string(), env.port(99).to_string());
    let holder = crate::common::hold(&wt, "tcp", "127.0.0.1", env.port(0));
    let who = env.shards(&["port", "who", &web, "--json"]).ok().json();
    assert_eq!(who["owner"]["shard"], "a");
    assert_eq!(who["owner"]["service"], "web");
    assert_eq!(who["listeners"][0]["pid"], holder.pid);
    assert_eq!(who["listeners"][0]["proto"], "tcp");
    assert_eq!(
        who["listeners"][0]["cwd"].as_str().unwrap(),
        wt.canonicalize().unwrap().to_str().unwrap()
    );
    let human = env.shards(&["port", "who", &web]).ok();
    assert!(
        human.stdout.contains("owned by shard a (service web)"),
        "{human}"
    );
    let nobody = env.shards(&["port", "who", &unused, "--json"]).ok().json();
    assert!(nobody["owner"].is_null());
    assert_eq!(nobody["listeners"].as_array().unwrap().len(), 0);
    let _ = ports(&r["shard"]);
}

#[test]
fn port_prints_each_service_and_its_port() {
    let mut env = TestEnv::new();
    env.small_pool(10, 2);
    let wt = env.create_worktree("a");
    let out = env.shards_in(&wt, &["port", "web", "api"]).ok();
    insta::assert_snapshot!(env.shown(&out), @"
    web 10000
    api 10001
    --- stderr ---
    [exit status: 0]
    ");
    // Without names, it lists the shard's ports the same way.
    let listed = env.shards(&["port", "--shard", "a"]).ok();
    assert_eq!(listed.to_string(), out.to_string());
    let out = env
        .shards(&["port", "--release", "api", "--shard", "a"])
        .ok();
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    Released `api` (port 10001) of shard `a`.
    [exit status: 0]
    ");
    let out = env.shards(&["port", "web"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: [TMP]/repo is not inside a shard's worktree
    hint: run it inside a shard's worktree, or pass --shard NAME (`shards list` shows the names)
    [exit status: 1]
    ");
}
