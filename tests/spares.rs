//! Spares (issue 19, first slice): `shards spares fill` makes shards ahead
//! of their names, `drop` removes them, `prune` reclaims a killed fill;
//! spares stay out of `list` and of commands that take a shard's name.
//! Not built yet: `create` claiming a spare, the background filler.

use std::fs;

use serde_json::Value;

use crate::common::{TestEnv, ports};

/// A world whose user config keeps `count` spares keyed on `lock.json`,
/// with a setup hook that records what it was run with.
fn world(count: u16) -> TestEnv {
    let mut env = TestEnv::new();
    env.small_pool(10, 10);
    env.commit(&[("lock.json", "v1")], "lock file");
    env.write_config(&format!(
        "[spares]\ncount = {count}\nkey = [\"lock.json\"]\n[hooks]\nsetup = \"echo $SHARD_NAME $SHARD_SPARE $PORT > .setup-ran\"\n"
    ));
    env
}

/// Returns `spares --json`'s spares.
fn spares(env: &TestEnv) -> Vec<Value> {
    env.shards(&["spares", "--json"]).ok().json()["spares"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn fill_makes_spares_with_their_blocks_and_setup_done_and_drop_frees_them() {
    let env = world(2);
    let out = env.shards(&["spares", "fill"]).ok();
    assert!(out.stderr.contains("Made 2 spares."), "{out}");
    let made = spares(&env);
    assert_eq!(made.len(), 2);
    let head = env.git(&env.repo, &["rev-parse", "HEAD"]);
    for (i, s) in made.iter().enumerate() {
        assert_eq!(s["state"], "ready");
        assert_eq!(ports(s), env.block(i as u16));
        assert_eq!(s["base"].as_str().unwrap(), head.trim());
        let path = std::path::PathBuf::from(s["path"].as_str().unwrap());
        assert!(path.starts_with(env.shards_home.join("spares")));
        // Detached at the base, as `git worktree add --detach` makes it.
        let at = env.git(&path, &["rev-parse", "HEAD"]);
        assert_eq!(at.trim(), head.trim());
        assert_eq!(
            env.git(&path, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            "HEAD"
        );
        // The setup ran with the spare's own name and block.
        let ran = fs::read_to_string(path.join(".setup-ran")).unwrap();
        assert_eq!(
            ran.trim(),
            format!("{} 1 {}", s["name"].as_str().unwrap(), ports(s).0)
        );
    }
    // Not shards: list shows none (with a footer), destroy finds none.
    assert!(env.list().is_empty());
    let out = env.shards(&["list"]).ok();
    assert!(out.stderr.contains("2 spares held"), "{out}");
    let name = made[0]["name"].as_str().unwrap();
    env.shards(&["destroy", name]).code(1);
    // Their blocks are held: a shard gets the next one.
    assert_eq!(ports(&env.create("a")["shard"]), env.block(2));

    let out = env.shards(&["spares", "drop"]).ok();
    assert!(out.stderr.contains("Dropped 2 spares"), "{out}");
    assert!(spares(&env).is_empty());
    assert!(
        fs::read_dir(env.shards_home.join("spares/repo"))
            .unwrap()
            .next()
            .is_none()
    );
    assert_eq!(ports(&env.create("b")["shard"]), env.block(0));
}

#[test]
fn a_changed_key_file_makes_spares_stale_and_fill_replaces_them() {
    let env = world(1);
    env.shards(&["spares", "fill"]).ok();
    let old = spares(&env)[0]["name"].clone();
    // Another commit that leaves the key file alone: still ready.
    env.commit(&[("other.txt", "x")], "other");
    assert_eq!(spares(&env)[0]["state"], "ready");
    env.commit(&[("lock.json", "v2")], "lock changed");
    assert_eq!(spares(&env)[0]["state"], "stale");
    let out = env.shards(&["spares", "fill"]).ok();
    assert!(
        out.stderr.contains("Made 1 spare.") && out.stderr.contains("Dropped 1 spare"),
        "{out}"
    );
    let now = spares(&env);
    assert_eq!(now.len(), 1);
    assert_ne!(now[0]["name"], old);
    assert_eq!(now[0]["state"], "ready");
}

#[test]
fn a_fill_killed_mid_checkout_is_reclaimed_by_one_prune() {
    let env = world(1);
    env.crash_at("create:checkout", &["spares", "fill"]);
    assert_eq!(spares(&env)[0]["state"], "filling");
    env.shards(&["prune"]).ok();
    assert!(spares(&env).is_empty());
    let records = env.git(&env.repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(records.matches("worktree ").count(), 1, "{records}");
    assert_eq!(ports(&env.create("a")["shard"]), env.block(0));
}
