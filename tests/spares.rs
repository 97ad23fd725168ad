//! Spares (issue 19): `shards spares fill` makes shards ahead of their
//! names, `drop` removes them, `prune` reclaims a killed fill, `create`
//! claims one that fits (or says why it made the shard cold); spares stay
//! out of `list` and of commands that take a shard's name. The background
//! filler is in `spares_filler.rs`.

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
    let a = env
        .shards(&["create", "a", "--no-spare", "--json"])
        .ok()
        .json();
    assert_eq!(ports(&a["shard"]), env.block(2));

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
fn a_changed_include_list_makes_spares_stale() {
    let env = world(1);
    env.shards(&["spares", "fill"]).ok();
    assert_eq!(spares(&env)[0]["state"], "ready");
    // The main worktree's .worktreeinclude says what a create copies in:
    // a spare copied by another list is not what a cold create makes.
    fs::write(env.repo.join(".worktreeinclude"), ".env.local\n").unwrap();
    assert_eq!(spares(&env)[0]["state"], "stale");
    let made = env.shards(&["create", "a", "--json"]).ok().json();
    assert_eq!(made["from_spare"], false);
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

#[test]
fn a_shard_from_a_spare_is_what_a_cold_create_makes() {
    let env = world(1);
    env.commit(
        &[("src/lib.rs", "fn a() {}"), ("bin/run.sh", "#!/bin/sh\n")],
        "files",
    );
    env.git(&env.repo, &["update-index", "--chmod=+x", "bin/run.sh"]);
    env.git(&env.repo, &["commit", "-qm", "exec"]);
    env.shards(&["spares", "fill"]).ok();
    // The base moves after the fill: the spare is brought forward by git.
    env.commit(
        &[("src/lib.rs", "fn a() { b() }"), ("new.txt", "n")],
        "moved on",
    );
    let warm = env.shards(&["create", "warm", "--json"]).ok().json();
    assert_eq!(warm["from_spare"], true);
    let cold = env
        .shards(&["create", "cold", "--json", "--no-spare"])
        .ok()
        .json();
    assert_eq!(cold["from_spare"], false);
    let (w, c) = (
        crate::common::shard_path(&warm),
        crate::common::shard_path(&cold),
    );
    assert_eq!(
        crate::common::spares::tree(&w),
        crate::common::spares::tree(&c)
    );
    assert_eq!(
        env.git(&w, &["ls-files", "-s"]),
        env.git(&c, &["ls-files", "-s"])
    );
    assert_eq!(
        env.git(&w, &["rev-parse", "HEAD"]),
        env.git(&c, &["rev-parse", "HEAD"])
    );
    assert_eq!(
        env.git(&w, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "warm"
    );
    // Clean but for the setup hook's own file, in both.
    assert_eq!(env.git(&w, &["status", "--porcelain"]), "?? .setup-ran\n");
    assert_eq!(env.git(&c, &["status", "--porcelain"]), "?? .setup-ran\n");
    // The env file names the shard; only block and name differ.
    let strip = |p: &std::path::Path, name: &str, start: u64| {
        fs::read_to_string(p.join(".env"))
            .unwrap()
            .replace(name, "NAME")
            .lines()
            .map(|l| match l.split_once('=') {
                Some((k, v)) if v.parse::<u64>().is_ok_and(|n| n >= start) => {
                    format!("{k}=+{}", v.parse::<u64>().unwrap() - start)
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&w, "warm", ports(&warm["shard"]).0),
        strip(&c, "cold", ports(&cold["shard"]).0)
    );
    // The spare's block went with it; the spare is gone from the list.
    assert!(spares(&env).is_empty());
    let listed = env.list();
    assert_eq!(listed.len(), 2);
    crate::common::disjoint_blocks(&listed);
}

#[test]
fn a_changed_key_file_or_an_existing_branch_sends_create_cold_and_says_why() {
    let env = world(1);
    env.shards(&["spares", "fill"]).ok();
    env.git(&env.repo, &["branch", "old"]);
    let out = env.shards(&["create", "old"]).ok();
    assert!(
        out.stderr
            .contains("Made cold, not from a spare: the branch exists"),
        "{out}"
    );
    env.commit(&[("lock.json", "v2")], "lock changed");
    let out = env.shards(&["create", "x", "--json"]).ok();
    assert_eq!(out.json()["from_spare"], false);
    assert!(
        out.json()["cold"]
            .as_str()
            .unwrap()
            .contains("other settings, sparse patterns or key files"),
        "{out}"
    );
    assert_eq!(spares(&env).len(), 1);
}

#[test]
fn six_creates_at_once_with_two_spares_take_at_most_two_and_all_are_whole() {
    let env = world(2);
    env.shards(&["spares", "fill"]).ok();
    let jobs: Vec<Vec<String>> = (0..6)
        .map(|i| vec!["create".into(), format!("s{i}"), "--json".into()])
        .collect();
    let outs = env.shards_at_once(&jobs);
    let warm = outs
        .into_iter()
        .map(|o| o.ok().json())
        .filter(|j| j["from_spare"] == true)
        .count();
    assert!(warm <= 2, "{warm} from spares");
    let listed = env.list();
    assert_eq!(listed.len(), 6);
    crate::common::disjoint_blocks(&listed);
    for s in &listed {
        let path = std::path::PathBuf::from(s["path"].as_str().unwrap());
        let name = s["name"].as_str().unwrap();
        assert_eq!(
            env.git(&path, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            name
        );
        assert_eq!(
            crate::common::env_value(&path.join(".env"), "SHARD_NAME").as_deref(),
            Some(name)
        );
    }
    assert_eq!(spares(&env).len(), 2 - warm);
}

#[test]
fn a_switch_git_refuses_hands_the_spare_back_and_creates_cold() {
    let env = world(1);
    env.shards(&["spares", "fill"]).ok();
    let before = spares(&env);
    // The base now tracks the file the spare's setup made: git refuses to
    // overwrite it when switching the spare.
    env.commit(&[(".setup-ran", "tracked now")], "track it");
    let out = env.shards(&["create", "x", "--json"]).ok();
    let report = out.json();
    assert_eq!(report["from_spare"], false);
    assert!(
        report["cold"].as_str().unwrap().contains("handed back"),
        "{out}"
    );
    let after = spares(&env);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["name"], before[0]["name"]);
    assert_eq!(after[0]["path"], before[0]["path"]);
    assert_eq!(after[0]["state"], "ready");
    let path = std::path::PathBuf::from(after[0]["path"].as_str().unwrap());
    assert_eq!(
        env.git(&path, &["rev-parse", "--abbrev-ref", "HEAD"])
            .trim(),
        "HEAD"
    );
    // No branch of the shard's name left behind by the handed-back spare
    // but the cold create's own.
    assert_eq!(env.list().len(), 1);
}

#[test]
fn the_spares_table_shows_state_base_block_and_age() {
    let env = world(2);
    let out = env.shards(&["spares", "fill"]).ok();
    // Spare names are random (`spare-` and 8 hex digits), ages depend on
    // the clock.
    let mut text = env.shown(&out);
    let mut from = 0;
    while let Some(at) = text[from..].find("spare-").map(|i| from + i) {
        let id = text.get(at + 6..at + 14).unwrap_or("");
        if id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            text.replace_range(at..at + 14, "spare-[ID]");
        }
        from = at + 6;
    }
    let shown = crate::common::realign(&crate::common::map_words(&text, |w| {
        (w.ends_with('s') && w[..w.len() - 1].parse::<u32>().is_ok()).then(|| "[AGE]".into())
    }));
    insta::assert_snapshot!(shown, @"
    NAME        STATE  BASE        PORTS        AGE    PATH
    spare-[ID]  ready  d1ff67ec7b  10000-10009  [AGE]  [TMP]/shards_home/spares/repo/spare-[ID]
    spare-[ID]  ready  d1ff67ec7b  10010-10019  [AGE]  [TMP]/shards_home/spares/repo/spare-[ID]
    --- stderr ---
    setup 1/1: echo $SHARD_NAME $SHARD_SPARE $PORT > .setup-ran
    Made spare `spare-[ID]` (ports 10000-10009).
    setup 1/1: echo $SHARD_NAME $SHARD_SPARE $PORT > .setup-ran
    Made spare `spare-[ID]` (ports 10010-10019).
    Made 2 spares.
    2 of 2 spares ready ([spares] count = 2).
    [exit status: 0]
    ");
}
