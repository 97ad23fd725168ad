//! Configuration: layers, errors that name file, line and key, and the
//! exhausted pool.

use crate::common::{TestEnv, env_value, fixture, ports};

#[test]
fn an_exhausted_pool_is_a_clear_error_with_figures() {
    let mut env = TestEnv::new();
    env.small_pool(10, 2);
    env.create("a");
    env.create("b");
    let (start, end) = (env.block(0).0, env.block(1).1);
    env.shards(&["create", "c"]).code(1).says(&[
        "no free port block",
        &format!("{start}-{end} has 2 blocks of 10, 2 held"),
        "shards prune",
        "ports.max",
    ]);
    assert_eq!(env.list().len(), 2);
    assert_eq!(env.branches(&env.repo), vec!["a", "b", "main"]);
    let json = env.shards(&["create", "c", "--json"]).code(1).json();
    assert_eq!(json["error"]["kind"], "ports_exhausted");
}

#[test]
fn user_file_project_file_variables_and_flags_layer_in_order() {
    let mut env = TestEnv::new();
    // The files set the ports here: the test's region, 1000 ports from `base`.
    env.without_port_vars();
    let base = u64::from(env.base());
    let at = |offset: u64, len: u64| (base + offset, base + offset + len - 1);
    env.write_config(&format!(
        "[ports]\nbase = {base}\nblock_size = 50\nmax = {}\n",
        base + 999
    ));
    let a = env.create("a");
    assert_eq!(ports(&a["shard"]), at(0, 50));
    std::fs::write(
        env.repo.join(".shards.toml"),
        "[ports]\nblock_size = 20\n[ports.services]\nweb = 0\napi = 1\n",
    )
    .unwrap();
    let b = env.create("b");
    assert_eq!(ports(&b["shard"]), at(60, 20));
    let file = std::path::PathBuf::from(b["env_file"].as_str().unwrap());
    assert_eq!(env_value(&file, "WEB_PORT"), Some((base + 60).to_string()));
    assert_eq!(env_value(&file, "API_PORT"), Some((base + 61).to_string()));
    env.set("SHARDS_PORTS_BLOCK_SIZE", "10");
    let c = env.create("c");
    assert_eq!(ports(&c["shard"]), at(50, 10));
    let d = env
        .shards(&["create", "d", "--block-size", "5", "--json"])
        .ok()
        .json();
    assert_eq!(ports(&d["shard"]), at(80, 5));
}

/// Rewrites the `base` and `max` of a copied config fixture, which must be
/// in 28000-28999, as the same offsets from the test's first port.
fn in_region(env: &TestEnv, copy: &std::path::Path) {
    let text = std::fs::read_to_string(copy).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let moved = ["base = ", "max = "].iter().find_map(|key| {
            let n: u16 = line.strip_prefix(key)?.parse().ok()?;
            assert!(
                (28000..29000).contains(&n),
                "{}: {line:?} is outside 28000-28999",
                copy.display()
            );
            Some(format!("{key}{}", env.port(n - 28000)))
        });
        out.push_str(&moved.unwrap_or_else(|| line.to_string()));
        out.push('\n');
    }
    std::fs::write(copy, out).unwrap();
}

/// Returns the names of the files in `fixtures/config/<kind>/`, sorted.
fn config_fixtures(kind: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture(&format!("config/{kind}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures in config/{kind}");
    names
}

#[test]
fn every_valid_config_fixture_is_taken_as_written() {
    for name in config_fixtures("valid") {
        let mut env = TestEnv::new();
        let copy = env.use_config_fixture(&format!("config/valid/{name}"));
        // The file is what is tested: no SHARDS_PORTS_* over it, and its
        // ports (28000-28999 in every valid fixture) moved to the test's.
        env.without_port_vars();
        in_region(&env, &copy);
        let out = env.shards(&["create", "x", "--json"]).ok();
        env.snapshot(
            &format!("config-valid-{}", name.trim_end_matches(".toml")),
            &out,
        );
    }
}

#[test]
fn every_invalid_config_fixture_names_file_line_and_key_and_stops() {
    for name in config_fixtures("invalid") {
        let mut env = TestEnv::new();
        env.use_config_fixture(&format!("config/invalid/{name}"));
        // The file is what is tested (it fails before any port is used).
        env.without_port_vars();
        let out = env.shards(&["create", "x"]).code(2);
        assert!(
            out.stderr.contains(&format!("config/invalid/{name}:")),
            "{name}: {out}"
        );
        assert!(!env.ledger().exists(), "{name}: the ledger was written");
        env.snapshot(
            &format!("config-invalid-{}", name.trim_end_matches(".toml")),
            &out,
        );
    }
}

#[test]
fn a_bad_variable_is_named() {
    let mut env = TestEnv::new();
    env.set("SHARDS_PORTS_BASE", "lots");
    env.shards(&["create", "x"])
        .code(2)
        .says(&["SHARDS_PORTS_BASE: `ports.base`"]);
}

#[test]
fn worktree_root_can_put_shards_next_to_the_repository() {
    let mut env = TestEnv::new();
    env.set("SHARDS_WORKTREE_ROOT", "../{repo}.{name}");
    let r = env.create("fix/a");
    assert_eq!(
        r["shard"]["path"].as_str().unwrap(),
        env.root.join("repo.fix-a").to_str().unwrap()
    );
    env.shards(&["destroy", "fix/a"]).ok();
    assert!(!env.root.join("repo.fix-a").exists());
}
