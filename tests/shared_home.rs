//! A shards home shared by two Unix users (issue 10, cases 7 and 9b): root
//! and a second user (`common::peer`) run the real binary against one home
//! the admin gave to a group once (`chgrp GROUP DIR && chmod 2770 DIR`),
//! and a private home refuses the other user with exit 3.
//!
//! They need root (to add the user and switch to it), so a plain `cargo
//! test` ignores them and `.ci/run` runs them.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Peer, TestEnv, env_value, peer, ports, run_ok, shard_named, shard_path};

/// Returns the second user and a test world it may enter (a temp dir is
/// 0700: its folder is opened to others).
fn world() -> (Peer, TestEnv) {
    let peer = peer();
    let env = TestEnv::new();
    fs::set_permissions(&env.root, fs::Permissions::from_mode(0o755)).unwrap();
    (peer, env)
}

/// [`world`] with what the admin does once: the shards home belongs to the
/// second user's group, setgid.
fn shared_world() -> (Peer, TestEnv) {
    let (peer, env) = world();
    fs::create_dir(&env.shards_home).unwrap();
    std::os::unix::fs::chown(&env.shards_home, Some(0), Some(peer.gid)).unwrap();
    fs::set_permissions(&env.shards_home, fs::Permissions::from_mode(0o2770)).unwrap();
    (peer, env)
}

/// A repository of the other user's own, next to root's.
fn peer_repo(env: &TestEnv, peer: &Peer, name: &str) -> PathBuf {
    let repo = env.new_repo(name);
    let owner = format!("{}:{}", peer.uid, peer.gid);
    run_ok(Command::new("chown").args(["-R", &owner, repo.to_str().unwrap()]));
    repo
}

/// The second user creates shard `name` of its repository `repo`; returns
/// the `create --json` report.
fn peer_creates(env: &TestEnv, peer: &Peer, repo: &Path, name: &str) -> Value {
    env.shards_as(peer, repo, &["create", name, "--json"])
        .ok()
        .json()
}

/// The second user names port `web` in its shard at `path`; asserts that
/// the shard's env file then holds `WEB_PORT`.
fn peer_names_port(env: &TestEnv, peer: &Peer, path: &Path) {
    env.shards_as(peer, path, &["port", "web"]).ok();
    assert!(env_value(&path.join(".env"), "WEB_PORT").is_some());
}

/// Returns a file's permission bits (setgid included) and group.
fn mode_group(path: &Path) -> (u32, u32) {
    let m = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.gid())
}

/// Returns the ledger's rows: id, name, owner uid, block start, state.
fn rows(env: &TestEnv) -> Vec<(i64, String, Option<u32>, u16, String)> {
    let conn = rusqlite::Connection::open_with_flags(
        env.ledger(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT id, name, owner_uid, port_start, state FROM shards ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Returns the local branches of a repository, whoever owns it.
fn branches(env: &TestEnv, repo: &Path) -> Vec<String> {
    let out = env.git(
        repo,
        &[
            "-c",
            "safe.directory=*",
            "branch",
            "--format=%(refname:short)",
        ],
    );
    out.lines().map(str::to_string).collect()
}

/// Returns the ledger's WAL and shared-memory files that exist.
fn ledger_side_files(env: &TestEnv) -> Vec<PathBuf> {
    ["shards.db-wal", "shards.db-shm"]
        .into_iter()
        .map(|f| env.shards_home.join(f))
        .filter(|path| path.exists())
        .collect()
}

/// Returns the names in the shards home.
fn home_entries(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(&env.shards_home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn issue_10_a_shared_home_serves_a_second_user() {
    let (peer, env) = shared_world();
    let a = env.create("a");
    let home = &env.shards_home;
    // What shards made in the home is the group's, read/write.
    assert_eq!(mode_group(&env.ledger()), (0o660, peer.gid));
    assert_eq!(mode_group(&home.join("locks")), (0o2770, peer.gid));
    assert_eq!(
        mode_group(&home.join("locks/shard-1.lock")),
        (0o660, peer.gid)
    );
    assert_eq!(mode_group(&home.join("worktrees")), (0o2770, peer.gid));
    assert_eq!(mode_group(&home.join("worktrees/repo")), (0o2770, peer.gid));

    // The other user creates a shard of its own repository, names a port
    // (the env file is written under a lock file), and root writes after it.
    let theirs = peer_repo(&env, &peer, "theirs");
    let p = peer_creates(&env, &peer, &theirs, "p");
    let p_path = shard_path(&p);
    assert_eq!(fs::metadata(&p_path).unwrap().uid(), peer.uid);
    peer_names_port(&env, &peer, &p_path);
    assert_eq!(
        mode_group(&home.join("locks/shard-2.lock")),
        (0o660, peer.gid)
    );
    assert_eq!(
        mode_group(&home.join("worktrees/theirs")),
        (0o2770, peer.gid)
    );
    env.shards_in(&shard_path(&a), &["port", "api"]).ok();
    let b = env.create("b");
    for path in ledger_side_files(&env) {
        assert_eq!(mode_group(&path), (0o660, peer.gid), "{}", path.display());
    }

    // Each row records its owner; the three blocks are disjoint.
    let got = rows(&env);
    let owners: Vec<(&str, Option<u32>, &str)> = got
        .iter()
        .map(|r| (r.1.as_str(), r.2, r.4.as_str()))
        .collect();
    assert_eq!(
        owners,
        vec![
            ("a", Some(0), "active"),
            ("p", Some(peer.uid), "active"),
            ("b", Some(0), "active")
        ]
    );
    let mut blocks = vec![ports(&a["shard"]), ports(&p["shard"]), ports(&b["shard"])];
    blocks.sort();
    assert!(blocks.windows(2).all(|w| w[0].1 < w[1].0), "{blocks:?}");

    // The other user lists everything and destroys its own shard only.
    let all = env
        .shards_as(&peer, &theirs, &["list", "--all", "--json"])
        .ok()
        .json();
    assert_eq!(all["shards"].as_array().unwrap().len(), 3, "{all}");
    env.shards_as(&peer, &theirs, &["destroy", "p"]).ok();
    assert!(!p_path.exists());
    assert_eq!(branches(&env, &theirs), vec!["main"]);
    let names: Vec<String> = rows(&env).into_iter().map(|r| r.1).collect();
    assert_eq!(names, vec!["a", "b"]);
    assert!(shard_path(&a).join("README.md").exists());
    assert_eq!(branches(&env, &env.repo), vec!["a", "b", "main"]);
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn issue_10_a_private_home_refuses_another_user_with_exit_3() {
    let (peer, env) = world();
    env.create("a");
    assert_eq!(mode_group(&env.shards_home).0, 0o700);
    assert_eq!(mode_group(&env.ledger()).0, 0o600);
    let before = fs::read(env.ledger()).unwrap();
    let entries = home_entries(&env);
    let theirs = peer_repo(&env, &peer, "theirs");
    for args in [&["list"][..], &["create", "p"], &["prune", "--all"]] {
        env.shards_as(&peer, &theirs, args).code(3).says(&[
            "cannot be written",
            "Permission denied",
            "chmod 2770",
        ]);
    }
    let json = env
        .shards_as(&peer, &theirs, &["list", "--json"])
        .code(3)
        .json();
    assert_eq!(json["error"]["kind"], "ledger_unwritable");
    assert_eq!(fs::read(env.ledger()).unwrap(), before);
    assert_eq!(home_entries(&env), entries);
    assert_eq!(branches(&env, &theirs), vec!["main"]);
    assert_eq!(env.list().len(), 1);
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn issue_10_a_lock_file_left_by_another_user_does_not_block() {
    let (peer, env) = shared_world();
    env.create("a");
    // As an older shards left it: root's own, 0644. The row id (and so the
    // lock file's name) is free again once `a` is destroyed.
    let lock = env.shards_home.join("locks/shard-1.lock");
    std::os::unix::fs::chown(&lock, Some(0), Some(0)).unwrap();
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
    env.shards(&["destroy", "a"]).ok();
    assert!(rows(&env).is_empty());
    assert!(lock.exists());

    let theirs = peer_repo(&env, &peer, "theirs");
    let p = peer_creates(&env, &peer, &theirs, "p");
    let p_path = shard_path(&p);
    peer_names_port(&env, &peer, &p_path);
    let got = rows(&env);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].2), (1, Some(peer.uid)), "{got:?}");
    let m = fs::metadata(&lock).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o644));
    assert_eq!(branches(&env, &theirs), vec!["main", "p"]);
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn issue_10_prune_keeps_a_shard_of_another_user_it_cannot_read() {
    let (peer, env) = shared_world();
    let a = env.create("a");
    let a_path = shard_path(&a);
    // Root's repository is root's alone.
    fs::set_permissions(&env.repo, fs::Permissions::from_mode(0o700)).unwrap();
    let theirs = peer_repo(&env, &peer, "theirs");
    let p = peer_creates(&env, &peer, &theirs, "p");
    // The other user's own debris: its worktree folder deleted by hand.
    fs::remove_dir_all(shard_path(&p)).unwrap();
    let before = rows(&env);

    let out = env
        .shards_as(&peer, &theirs, &["prune", "--all", "--json"])
        .ok()
        .json();
    let find = |name: &str| shard_named(&out, name);
    assert_eq!(find("a")["reclaimed"], false, "{out}");
    let reason = find("a")["reason"].as_str().unwrap();
    assert!(
        reason.contains("may not read its repository") && reason.contains("uid 0"),
        "{reason}"
    );
    assert!(!reason.starts_with("its repository is gone"), "{reason}");
    assert_eq!(find("p")["reclaimed"], true, "{out}");

    // Root's shard is whole: row, block, worktree, branch.
    let after = rows(&env);
    assert_eq!(after, vec![before[0].clone()]);
    assert!(a_path.join("README.md").exists());
    assert_eq!(branches(&env, &env.repo), vec!["a", "main"]);
    assert_eq!(branches(&env, &theirs), vec!["main"]);
    let list = env.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "active");
    assert_eq!(ports(&list[0]), ports(&a["shard"]));
    env.shards(&["prune"]).ok();
    assert_eq!(rows(&env), after);
}

#[test]
#[ignore = "needs root and useradd (.ci/run runs it)"]
fn issue_10_a_read_only_list_leaves_no_files_that_block_writes() {
    // As a user who is not root (root ignores file modes), in its own home.
    let (peer, env) = world();
    fs::create_dir(&env.shards_home).unwrap();
    std::os::unix::fs::chown(&env.shards_home, Some(peer.uid), Some(peer.gid)).unwrap();
    let theirs = peer_repo(&env, &peer, "theirs");
    env.shards_as(&peer, &theirs, &["create", "p1"]).ok();
    let db = env.ledger();
    assert_eq!(mode_group(&db), (0o600, peer.gid));

    // The ledger made read-only for a while: `list` still reads it.
    fs::set_permissions(&db, fs::Permissions::from_mode(0o444)).unwrap();
    let listed = env
        .shards_as(&peer, &theirs, &["list", "--json"])
        .ok()
        .json();
    assert_eq!(listed["shards"].as_array().unwrap().len(), 1);
    env.shards_as(&peer, &theirs, &["create", "p2"]).code(3);

    // Writable again: whatever that `list` left must not refuse writes.
    fs::set_permissions(&db, fs::Permissions::from_mode(0o600)).unwrap();
    env.shards_as(&peer, &theirs, &["create", "p2"]).ok();
    for path in ledger_side_files(&env) {
        assert_eq!(mode_group(&path).0, 0o600, "{}", path.display());
    }
    let names: Vec<(String, Option<u32>)> = rows(&env).into_iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(
        names,
        vec![
            ("p1".to_string(), Some(peer.uid)),
            ("p2".to_string(), Some(peer.uid))
        ]
    );
    assert_eq!(branches(&env, &theirs), vec!["main", "p1", "p2"]);
}
