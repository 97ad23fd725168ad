//! Issue 21, `shards create NAME --dry-run`: the preview names the block,
//! branch, base and folder the create then makes (a busy port, another
//! home's block and a spare taken into account), refuses what the create
//! refuses with the same error and exit code, and writes nothing: the
//! ledger's files, `list`, git's branches and worktrees, the shards home
//! and the host's register are as they were.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::common::spares::{spares, world};
use crate::common::{Out, TestEnv, env_value, hold, ports, shard_path};

/// Returns every file under `dir` (but SQLite's `-shm` index, which a
/// reader maps and marks) with its bytes, by path relative to `dir`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(read) = fs::read_dir(&d) else {
            continue;
        };
        for item in read.flatten() {
            let path = item.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                todo.push(path);
            } else if !rel.ends_with("-shm") {
                out.insert(rel, fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

/// What a create writes, to compare before and after a preview: `list
/// --json`, `spares --json`, git's branches and worktrees, every file of
/// the shards home (the ledger and its WAL byte for byte) and of the
/// host's register.
#[derive(Debug, PartialEq)]
struct World {
    list: String,
    spares: String,
    branches: Vec<String>,
    worktrees: String,
    home: BTreeMap<String, Vec<u8>>,
    register: BTreeMap<String, Vec<u8>>,
}

fn world_of(env: &TestEnv) -> World {
    World {
        list: env.shards(&["--json", "list"]).ok().stdout,
        spares: env.shards(&["--json", "spares"]).ok().stdout,
        branches: env.branches(&env.repo),
        worktrees: env.git(&env.repo, &["worktree", "list", "--porcelain"]),
        home: files(&env.shards_home),
        register: files(&env.root.join("register")),
    }
}

/// Runs `args` with `--dry-run`, asserting that it wrote nothing; returns
/// its outcome.
#[track_caller]
fn dry_run(env: &TestEnv, args: &[&str]) -> Out {
    let before = world_of(env);
    let mut with = args.to_vec();
    with.push("--dry-run");
    let out = env.shards(&with);
    assert_eq!(
        world_of(env),
        before,
        "`shards {}` wrote:\n{out}",
        with.join(" ")
    );
    out
}

/// Asserts that the preview of `args` and the create itself fail alike:
/// the same stderr, stdout (a JSON error with `--json`) and exit code.
/// Returns the preview's outcome.
#[track_caller]
fn refused_alike(env: &TestEnv, args: &[&str]) -> Out {
    let preview = dry_run(env, args);
    let create = env.shards(args);
    assert_ne!(create.code, 0, "{create}");
    assert_eq!(
        (preview.code, &preview.stdout, &preview.stderr),
        (create.code, &create.stdout, &create.stderr),
        "`shards {}` with and without --dry-run",
        args.join(" ")
    );
    preview
}

/// Asserts that `preview` (of `create --dry-run --json`) named what
/// `made` (the create's `--json` report) made.
#[track_caller]
fn made_as_previewed(preview: &Value, made: &Value) {
    let shard = &made["shard"];
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["name"], shard["name"]);
    assert_eq!(preview["branch"], shard["branch"]);
    assert_eq!(preview["path"], shard["path"]);
    assert_eq!(preview["ports"], shard["ports"]);
    assert_eq!(preview["new_branch"], made["branch_created"]);
    assert_eq!(preview["from_spare"], made["from_spare"]);
    assert_eq!(preview["env_file"], made["env_file"]);
}

#[test]
fn the_preview_names_what_the_create_then_makes() {
    let mut env = TestEnv::new();
    env.small_pool(10, 5);
    env.write_config("[ports.services]\nweb = 0\ndb = 5\n[hooks]\nsetup = \"true\"\n");
    env.create("first");
    // The second block is busy on the host: the pick skips it, as the
    // create's does.
    let busy = hold(&env.repo, "tcp", "127.0.0.1", env.block(1).0 as u16);
    let preview = dry_run(&env, &["create", "api", "--json"]).ok().json();
    assert_eq!(ports(&preview), env.block(2));
    let start = env.block(2).0;
    let services: Vec<(String, u64)> = preview["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().into(),
                s["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(services, [("web".into(), start), ("db".into(), start + 5)]);
    assert_eq!(preview["would_run"], serde_json::json!(["setup"]));
    assert_eq!(
        preview["base"]["commit"].as_str().unwrap(),
        env.git(&env.repo, &["rev-parse", "HEAD"]).trim()
    );
    let made = env.create("api");
    drop(busy);
    made_as_previewed(&preview, &made);
    let env_file = shard_path(&made).join(".env");
    for (service, port) in &services {
        let var = format!("{}_PORT", service.to_uppercase());
        assert_eq!(env_value(&env_file, &var), Some(port.to_string()), "{var}");
    }
}

/// Returns `out` with the repository's HEAD commit shown as `[COMMIT]`.
fn without_commit(env: &TestEnv, mut out: Out) -> Out {
    let commit = env.git(&env.repo, &["rev-parse", "HEAD"]);
    out.stdout = out.stdout.replace(commit.trim(), "[COMMIT]");
    out
}

#[test]
fn the_preview_is_lines_for_people_and_json_for_scripts() {
    let mut env = TestEnv::new();
    env.small_pool(10, 2);
    env.write_config("[ports.services]\nweb = 0\n");
    env.git(&env.repo, &["branch", "topic"]);
    let out = dry_run(
        &env,
        &["create", "t", "--branch", "topic", "--base", "main"],
    )
    .ok();
    // The commit before the ports are redacted: its digits may look like one.
    let out = without_commit(&env, out);
    insta::assert_snapshot!(env.shown(&out), @"
    name:     t
    branch:   topic (exists)
    base:     topic ([COMMIT])
    path:     [TMP]/shards_home/worktrees/repo/t
    ports:    10000-10009 (10 ports)
    services: web 10000
    from:     cold
    hooks:    none
    --- stderr ---
    warning: branch `topic` exists, so it is checked out as it is and --base is ignored
    Dry run: shard `t` was not created; nothing was written.
    [exit status: 0]
    ");
    let out = without_commit(&env, dry_run(&env, &["create", "a", "--json"]).ok());
    env.snapshot("create_dry_run_json", &out);
}

#[test]
fn a_preview_refuses_what_the_create_refuses() {
    let mut env = TestEnv::new();
    env.small_pool(10, 2);
    env.create("a");
    let taken = refused_alike(&env, &["create", "a"]);
    assert!(taken.stderr.contains("already exists"), "{taken}");
    refused_alike(&env, &["create", "a", "--json"]);
    let bad = refused_alike(&env, &["create", "../escape"]);
    assert!(bad.stderr.contains("invalid shard name"), "{bad}");
    refused_alike(&env, &["create", "b", "--branch", "a..b"]);
    let missing = refused_alike(&env, &["create", "b", "--base", "nope", "--json"]);
    assert_eq!(
        missing.json()["error"]["kind"],
        "ref_not_found",
        "{missing}"
    );
    // The main worktree has `main`; a shard has `a`.
    let here = refused_alike(&env, &["create", "m", "--branch", "main"]);
    assert!(here.stderr.contains("checked out"), "{here}");
    refused_alike(&env, &["create", "m", "--branch", "a"]);
    // Something is at the folder the shard would get.
    let folder = env.shards_home.join("worktrees/repo/f");
    fs::create_dir_all(&folder).unwrap();
    let in_the_way = refused_alike(&env, &["create", "f"]);
    assert!(
        in_the_way.stderr.contains(&folder.display().to_string()),
        "{in_the_way}"
    );
    env.create("b");
    let full = refused_alike(&env, &["create", "c"]);
    insta::assert_snapshot!(env.shown(&full), @"
    --- stderr ---
    shards: error: no free port block: the pool 10000-10019 has 2 blocks of 10, 2 held by shards and 0 with ports in use or held elsewhere on this host
    hint: run `shards prune` to reclaim blocks of deleted worktrees, `shards destroy` shards you no longer need, widen `ports.max`, or shrink `ports.block_size`
    [exit status: 1]
    ");
}

#[test]
fn a_block_another_home_holds_is_skipped_as_the_create_skips_it() {
    let mut env = TestEnv::new();
    env.small_pool(10, 3);
    let other = env.root.join("other_home");
    let mut cmd = env.command_in(&env.repo, &["create", "elsewhere", "--json"]);
    cmd.env("SHARDS_HOME", &other);
    let held = Out::from(&["create"], cmd.output().unwrap()).ok().json();
    assert_eq!(ports(&held["shard"]), env.block(0));
    let preview = dry_run(&env, &["create", "x", "--json"]).ok().json();
    assert_eq!(ports(&preview), env.block(1));
    made_as_previewed(&preview, &env.create("x"));
}

#[test]
fn a_preview_in_a_new_home_makes_only_what_list_makes() {
    let previewed = TestEnv::new();
    previewed.shards(&["create", "a", "--dry-run"]).ok();
    let listed = TestEnv::new();
    listed.shards(&["list"]).ok();
    let names = |env: &TestEnv| -> Vec<String> { files(&env.shards_home).into_keys().collect() };
    assert_eq!(names(&previewed), names(&listed));
    assert!(previewed.list().is_empty());
    assert_eq!(files(&previewed.root.join("register")), BTreeMap::new());
    assert_eq!(previewed.branches(&previewed.repo), ["main"]);
}

#[test]
fn a_preview_names_the_spare_a_create_would_claim_and_claims_none() {
    let env = world(1);
    // No spare yet: cold, and why.
    let cold = dry_run(&env, &["create", "a", "--json"]).ok().json();
    assert_eq!(cold["from_spare"], false);
    assert!(
        cold["cold"].as_str().unwrap().contains("no spare is ready"),
        "{cold}"
    );
    assert_eq!(cold["would_run"], serde_json::json!(["setup"]));
    env.shards(&["spares", "fill"]).ok();
    let spare = spares(&env)[0].clone();
    let preview = dry_run(&env, &["create", "a", "--json"]).ok().json();
    assert_eq!(preview["from_spare"], true, "{preview}");
    assert_eq!(preview["spare"], spare["name"]);
    assert_eq!(preview["ports"], spare["ports"]);
    // The spare's setup ran when it was made.
    assert_eq!(preview["would_run"], serde_json::json!([]));
    // Without a spare the block would be a new one.
    let no_spare = dry_run(&env, &["create", "a", "--no-spare", "--json"])
        .ok()
        .json();
    assert_eq!(no_spare["from_spare"], false);
    assert!(no_spare.get("cold").is_none(), "{no_spare}");
    assert_ne!(no_spare["ports"], spare["ports"]);
    // An existing branch is never a spare's.
    env.git(&env.repo, &["branch", "topic"]);
    let exists = dry_run(&env, &["create", "t", "--branch", "topic", "--json"])
        .ok()
        .json();
    assert!(
        exists["cold"]
            .as_str()
            .unwrap()
            .contains("the branch exists"),
        "{exists}"
    );
    made_as_previewed(&preview, &env.create("a"));
}

#[test]
fn dry_run_does_not_go_with_cd_or_a_command() {
    let env = TestEnv::new();
    for extra in [&["--cd"][..], &["--", "true"][..]] {
        let mut args = vec!["create", "a", "--dry-run"];
        args.extend(extra);
        let out = env.shards(&args).code(2);
        assert!(out.stderr.contains("cannot be used with"), "{out}");
    }
    assert!(env.list().is_empty());
}
