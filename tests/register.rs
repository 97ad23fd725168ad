//! One block, one holder, per host (issue 18): the host's block register
//! keeps a block from going out twice when the ledger is lost, from a
//! second home, and from another user's private home; a lost ledger's
//! shards come back with their own blocks (`adopt`, `recover`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Out, TestEnv, disjoint_blocks, peer, ports, shard_path};

/// Runs `shards` in the repository with another home.
fn in_home(env: &TestEnv, home: &Path, args: &[&str]) -> Out {
    let mut cmd = env.command_in(&env.repo, args);
    cmd.env("SHARDS_HOME", home);
    Out::from(args, cmd.output().unwrap())
}

/// Creates shard `name` in the repository from the shards home `home` and
/// returns its block.
fn block_from_home(env: &TestEnv, home: &Path, name: &str) -> (u64, u64) {
    let report = in_home(env, home, &["create", name, "--json"]).ok().json();
    ports(&report["shard"])
}

/// Deletes the ledger of the shards home `home`, as `rm shards.db*` does.
fn lose_ledger(home: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(home.join(format!("shards.db{suffix}")));
    }
}

/// Starts `create NAME --json` in the repository with each job's home, all
/// at once; returns their outcomes, each asserted a success.
fn creates_at_once(env: &TestEnv, jobs: &[(String, PathBuf)]) -> Vec<Out> {
    let children: Vec<_> = jobs
        .iter()
        .map(|(name, home)| {
            let args = ["create", name.as_str(), "--json"];
            let mut cmd = env.command_in(&env.repo, &args);
            cmd.env("SHARDS_HOME", home)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            (args.map(String::from), cmd.spawn().unwrap())
        })
        .collect();
    children
        .into_iter()
        .map(|(args, child)| Out::from(&args, child.wait_with_output().unwrap()).ok())
        .collect()
}

/// Returns the register's entry files, sorted.
fn entries(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(env.root.join("register"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[test]
fn issue_18_a_lost_ledger_does_not_hand_a_live_block_out_again() {
    let env = TestEnv::new();
    let a = env.create("a");
    let b = env.create("b");
    assert_eq!(ports(&a["shard"]), env.block(0));
    assert_eq!(ports(&b["shard"]), env.block(1));
    lose_ledger(&env.shards_home);
    assert!(env.list().is_empty());

    // A new shard skips both blocks the lost ledger's shards still hold,
    // and says how to bring them back.
    let out = env.shards(&["create", "c", "--json"]).ok();
    assert_eq!(ports(&out.json()["shard"]), env.block(2));
    assert!(
        out.stderr
            .contains("this home's ledger was made anew, but 2 of its earlier shards")
            && out.stderr.contains("shards recover"),
        "{out}"
    );

    // `status` names them and how to bring them back.
    let status = env.shards(&["status", "--json"]).ok().json();
    let lost: Vec<&str> = status["elsewhere"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["holder"] == "lost")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(lost, ["a", "b"]);
    let text = env.shards(&["status"]).ok().stdout;
    assert!(text.contains("`a` of this home's lost ledger"), "{text}");

    // Adopting one of them gives it back its own block, not another's.
    let adopted = env
        .shards(&["adopt", shard_path(&a).to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(ports(&adopted["shard"]), env.block(0));
    let shards = env.list();
    assert_eq!(shards.len(), 2);
    disjoint_blocks(&shards);
}

#[test]
fn issue_18_a_second_home_never_hands_out_a_block_the_first_holds() {
    let env = TestEnv::new();
    let other = env.root.join("other_home");
    assert_eq!(ports(&env.create("a")["shard"]), env.block(0));
    assert_eq!(block_from_home(&env, &other, "b"), env.block(1));
    // Each home lists only its own; `status` shows what the other holds.
    assert_eq!(env.list().len(), 1);
    let status = env.shards(&["status"]).ok();
    let lines: Vec<&str> = status.stdout.lines().take(2).collect();
    insta::assert_snapshot!(env.redact(&lines.join("\n")), @r"
    pool 10000-10999, blocks of 100: 10 total, 1 held, 1 held by other ledgers on this host, 0 busy on this host, 8 free (10% held)
    held elsewhere on this host: 10100-10199, by a shard of your other ledger [TMP]/other_home/shards.db
    ");
    let json = env.shards(&["status", "--json"]).ok().json();
    assert_eq!(json["pool"]["blocks_elsewhere"], 1);
    assert_eq!(json["elsewhere"][0]["holder"], "ledger");

    // A destroyed shard's block is free again for every home.
    env.shards(&["destroy", "a"]).ok();
    assert_eq!(block_from_home(&env, &other, "c"), env.block(0));
}

#[test]
fn issue_18_many_creates_from_two_homes_at_once_get_disjoint_blocks() {
    let env = TestEnv::new();
    let other = env.root.join("other_home");
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            (
                format!("s{i}"),
                if i % 2 == 1 {
                    other.clone()
                } else {
                    env.shards_home.clone()
                },
            )
        })
        .collect();
    let mut blocks: Vec<_> = creates_at_once(&env, &jobs)
        .iter()
        .map(|out| ports(&out.json()["shard"]))
        .collect();
    blocks.sort();
    blocks.dedup();
    assert_eq!(blocks, (0..8).map(|i| env.block(i)).collect::<Vec<_>>());
}

#[test]
fn issue_18_a_stale_entry_is_reclaimed_once_its_worktree_is_gone() {
    let env = TestEnv::new();
    let a = env.create("a");
    // The ledger and the worktree both gone: nothing holds the block.
    lose_ledger(&env.shards_home);
    fs::remove_dir_all(shard_path(&a)).unwrap();
    let b = env.create("b");
    assert_eq!(ports(&b["shard"]), env.block(0));
    assert_eq!(entries(&env).len(), 1);
}

#[test]
fn issue_18_a_ledger_from_before_the_register_enters_its_blocks_at_its_next_command() {
    let env = TestEnv::new();
    let other = env.root.join("other_home");
    env.create("a");
    // As a shards from before the register left it: no entries.
    fs::remove_dir_all(env.root.join("register")).unwrap();
    env.shards(&["list"]).ok();
    assert_eq!(entries(&env).len(), 1);
    assert_eq!(block_from_home(&env, &other, "b"), env.block(1));
}

#[test]
fn issue_18_an_unusable_register_stops_a_create_before_anything_is_made() {
    let mut env = TestEnv::new();
    let open = env.root.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    env.set("SHARDS_REGISTER", open.to_str().unwrap());
    let out = env.shards(&["create", "a"]).code(3);
    insta::assert_snapshot!(env.shown(&out), @r"
    --- stderr ---
    shards: error: the host's block register [TMP]/open is not safe to use: others may write it and it is not sticky, so they could remove its entries
    hint: make it a sticky folder (`chmod 1777 [TMP]/open`, as root if another user owns it), or set SHARDS_REGISTER to a folder that every shards home on this host shares
    [exit status: 3]
    ");
    let json = env.shards(&["--json", "create", "a"]).code(3).json();
    assert_eq!(json["error"]["kind"], "register_unsafe");
    assert!(env.list().is_empty());
    assert!(
        !env.shards_home
            .join("worktrees")
            .join("repo")
            .join("a")
            .exists()
    );
}

/// Runs `shards` as the second Unix user with its own private home.
fn as_peer(env: &TestEnv, home: &Path, dir: &Path, args: &[&str]) -> Out {
    let peer = peer();
    let mut cmd = env.command_in(dir, args);
    cmd.env("SHARDS_HOME", home).uid(peer.uid).gid(peer.gid);
    Out::from(args, cmd.output().unwrap())
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn issue_18_two_users_with_private_homes_never_share_a_block() {
    let peer = peer();
    let env = TestEnv::new();
    fs::set_permissions(&env.root, fs::Permissions::from_mode(0o755)).unwrap();
    let theirs = env.new_repo("theirs");
    let owner = format!("{}:{}", peer.uid, peer.gid);
    crate::common::run_ok(std::process::Command::new("chown").args([
        "-R",
        &owner,
        theirs.to_str().unwrap(),
    ]));
    let their_home = env.root.join("their_home");
    fs::create_dir(&their_home).unwrap();
    std::os::unix::fs::chown(&their_home, Some(peer.uid), Some(peer.gid)).unwrap();

    let mine = env.create("a");
    let out = as_peer(&env, &their_home, &theirs, &["create", "b", "--json"]).ok();
    let their: Value = out.json();
    assert_eq!(ports(&mine["shard"]), env.block(0));
    assert_eq!(ports(&their["shard"]), env.block(1));
    // Neither may remove the other's entry; each removes its own.
    env.shards(&["destroy", "a"]).ok();
    as_peer(&env, &their_home, &theirs, &["destroy", "b"]).ok();
    assert!(entries(&env).is_empty());
}

#[test]
fn issue_18_recover_brings_a_lost_ledgers_shards_back_with_their_blocks() {
    let env = TestEnv::new();
    let a = env.create("a");
    env.create("b");
    let c = env.create("c");
    lose_ledger(&env.shards_home);
    // One that cannot be adopted: its HEAD is detached.
    env.git(&shard_path(&c), &["checkout", "-q", "--detach"]);

    let dry = env.shards(&["recover", "--dry-run", "--json"]).ok().json();
    assert_eq!(dry["recovered"].as_array().unwrap().len(), 2);
    assert!(env.list().is_empty());

    let out = env.shards(&["recover"]).ok();
    insta::assert_snapshot!(env.shown(&out), @r"
    NAME  PORTS        PATH
    a     10000-10099  [TMP]/shards_home/worktrees/repo/a
    b     10100-10199  [TMP]/shards_home/worktrees/repo/b
    --- stderr ---
    Recovered 2 shards, each with the block it held.
    Could not recover `c` at [TMP]/shards_home/worktrees/repo/c (ports 10200-10299 stay held while it is there): cannot adopt [TMP]/shards_home/worktrees/repo/c: its HEAD is detached; check out a branch first
    hint: adopt takes a linked worktree of this repository (`git worktree list`) that is not a shard yet
    [exit status: 0]
    ");
    let shards = env.list();
    let got: Vec<(String, (u64, u64))> = shards
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), ports(s)))
        .collect();
    assert_eq!(
        got,
        [
            ("a".to_string(), env.block(0)),
            ("b".to_string(), env.block(1))
        ]
    );
    // The detached one's block stays out of use.
    let d = env.create("d");
    assert_eq!(ports(&d["shard"]), env.block(3));
    // And the recovered shards are whole again: destroy gives the block back.
    env.shards(&["destroy", "a"]).ok();
    assert!(!shard_path(&a).exists());
    let e = env.create("e");
    assert_eq!(ports(&e["shard"]), env.block(0));
}

/// Returns every block the env files of the worktrees under `homes` name:
/// what live shards hold, whatever any ledger says.
fn blocks_in_env_files(homes: &[PathBuf]) -> Vec<(u64, u64)> {
    let mut blocks = Vec::new();
    for home in homes {
        let Ok(repos) = fs::read_dir(home.join("worktrees")) else {
            continue;
        };
        for shard in repos
            .flatten()
            .flat_map(|r| fs::read_dir(r.path()).unwrap().flatten())
        {
            let env = shard.path().join(".env");
            let start = crate::common::env_value(&env, "PORT_RANGE_START");
            let end = crate::common::env_value(&env, "PORT_RANGE_END");
            if let (Some(s), Some(e)) = (start, end) {
                blocks.push((s.parse().unwrap(), e.parse().unwrap()));
            }
        }
    }
    blocks
}

#[test]
fn issue_18_stress_four_homes_and_a_lost_ledger_never_hand_a_block_out_twice() {
    let mut env = TestEnv::new();
    env.small_pool(10, 100);
    let homes: Vec<PathBuf> = (0..4).map(|i| env.root.join(format!("home{i}"))).collect();
    let mut made = 0;
    for round in 0..4 {
        if round == 2 {
            // Halfway, one home loses its ledger; its shards stay on disk.
            lose_ledger(&homes[0]);
        }
        let jobs: Vec<_> = (0..16)
            .map(|i| (format!("r{round}-{i}"), homes[i % 4].clone()))
            .collect();
        made += creates_at_once(&env, &jobs).len();
    }
    let mut blocks = blocks_in_env_files(&homes);
    assert_eq!(blocks.len(), made);
    blocks.sort();
    let twice = blocks.windows(2).filter(|w| w[1].0 <= w[0].1).count();
    eprintln!(
        "register stress: {made} creates from 4 homes (one ledger lost halfway), {} blocks held, {twice} handed out twice",
        blocks.len()
    );
    assert_eq!(twice, 0, "{blocks:?}");
}

#[test]
fn issue_18_a_worktree_moved_with_git_keeps_its_block_after_the_ledger_is_lost() {
    let env = TestEnv::new();
    let a = env.create("a");
    let moved = env.git_move_shard(&a, "moved-a");
    // The ledger follows the move, and the block's entry with it.
    env.create("b");
    lose_ledger(&env.shards_home);
    let c = env.create("c");
    assert_eq!(ports(&c["shard"]), env.block(2));
    let back = env
        .shards(&["adopt", moved.to_str().unwrap(), "--name", "a", "--json"])
        .ok()
        .json();
    assert_eq!(ports(&back["shard"]), env.block(0));
}
