//! Configuration: layers, errors that name file, line and key, and the
//! exhausted pool.

use crate::common::{TestEnv, env_value, fixture, ports};

#[test]
fn an_exhausted_pool_is_a_clear_error_with_figures() {
    let mut env = TestEnv::new();
    env.small_pool(41000, 10, 2);
    env.create("a");
    env.create("b");
    env.shards(&["create", "c"]).code(1).says(&[
        "no free port block",
        "41000-41019 has 2 blocks of 10, 2 held",
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
    env.write_config("[ports]\nbase = 42000\nblock_size = 50\nmax = 42999\n");
    let a = env.create("a");
    assert_eq!(ports(&a["shard"]), (42000, 42049));
    std::fs::write(
        env.repo.join(".shards.toml"),
        "[ports]\nblock_size = 20\n[ports.services]\nweb = 0\napi = 1\n",
    )
    .unwrap();
    let b = env.create("b");
    assert_eq!(ports(&b["shard"]), (42060, 42079));
    let file = std::path::PathBuf::from(b["env_file"].as_str().unwrap());
    assert_eq!(env_value(&file, "WEB_PORT").as_deref(), Some("42060"));
    assert_eq!(env_value(&file, "API_PORT").as_deref(), Some("42061"));
    env.set("SHARDS_PORTS_BLOCK_SIZE", "10");
    let c = env.create("c");
    assert_eq!(ports(&c["shard"]), (42050, 42059));
    let d = env
        .shards(&["create", "d", "--block-size", "5", "--json"])
        .ok()
        .json();
    assert_eq!(ports(&d["shard"]), (42080, 42084));
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
        env.use_config_fixture(&format!("config/valid/{name}"));
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
