//! Gitignored files brought into a new shard (`.worktreeinclude`,
//! `copy.symlink`): what is copied or linked, the undo of a failed or
//! interrupted copy, and copy-on-write on XFS. A copied `.env` is in
//! `copy_env`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::mount::LoopMount;
use crate::common::procs::without_read_override;
use crate::common::{TestEnv, commit, read, shard_path};

/// A repository whose main worktree holds what a project after `npm ci`
/// and a build holds: ignored `node_modules/` (with a `.bin` link), a
/// secret `.env`, a log, a tracked file the include also matches, and an
/// untracked file nobody ignores.
pub(crate) fn project() -> TestEnv {
    let env = TestEnv::new();
    env.commit(
        &[
            (".gitignore", "node_modules/\n.env\n*.log\nsecret.txt\n"),
            ("config.txt", "committed\n"),
        ],
        "ignore",
    );
    let r = &env.repo;
    std::fs::create_dir_all(r.join("node_modules/pkg/.bin")).unwrap();
    std::fs::write(r.join("node_modules/pkg/index.js"), "module.exports = 1;\n").unwrap();
    std::fs::write(r.join("node_modules/pkg/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        r.join("node_modules/pkg/run.sh"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    std::os::unix::fs::symlink("../run.sh", r.join("node_modules/pkg/.bin/run")).unwrap();
    set_mtime(&r.join("node_modules/pkg/index.js"), 1_500_000_000);
    std::fs::write(r.join(".env"), "SECRET=s3cret\nPORT=3000\n").unwrap();
    std::fs::write(r.join("secret.txt"), "key\n").unwrap();
    std::fs::write(r.join("debug.log"), "log\n").unwrap();
    // Changed in the main worktree: the shard must get the committed one.
    std::fs::write(r.join("config.txt"), "changed in main\n").unwrap();
    std::fs::write(r.join("notes.txt"), "untracked, not ignored\n").unwrap();
    env
}

fn set_mtime(path: &Path, secs: i64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
}

pub(crate) fn include(env: &TestEnv, text: &str) {
    std::fs::write(env.repo.join(".worktreeinclude"), text).unwrap();
}

#[test]
fn ignored_files_the_include_names_are_copied_and_nothing_else() {
    let env = project();
    include(
        &env,
        "node_modules/\n.env\nsecret.txt\nconfig.txt\nnotes.txt\n",
    );
    let report = env.shards(&["create", "a", "--json"]).ok().json();
    let wt = shard_path(&report);
    // Ignored and named: copied, folders whole.
    assert_eq!(read(&wt.join("secret.txt")), "key\n");
    assert_eq!(
        read(&wt.join("node_modules/pkg/index.js")),
        "module.exports = 1;\n"
    );
    // Tracked: the committed content, never the main worktree's; untracked
    // but not ignored, or ignored but not named: not there.
    assert_eq!(read(&wt.join("config.txt")), "committed\n");
    assert!(!wt.join("notes.txt").exists());
    assert!(!wt.join("debug.log").exists());
    // Modes and mtimes kept; the link is a link with the same target.
    let run = std::fs::metadata(wt.join("node_modules/pkg/run.sh")).unwrap();
    assert_eq!(run.mode() & 0o7777, 0o751);
    let js = std::fs::metadata(wt.join("node_modules/pkg/index.js")).unwrap();
    assert_eq!(js.mtime(), 1_500_000_000);
    let link = wt.join("node_modules/pkg/.bin/run");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("../run.sh"));
    // git sees nothing new in the shard: all of it is ignored.
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    let copied = &report["copied"];
    assert_eq!(copied["files"], 4, "{report}");
    assert_eq!(copied["links"], 1, "{report}");
    assert_eq!(copied["disowned"], serde_json::json!(["PORT"]), "{report}");
}

#[test]
fn nothing_is_copied_without_a_worktreeinclude() {
    let env = project();
    let report = env.shards(&["create", "a", "--json"]).ok().json();
    let wt = shard_path(&report);
    assert!(!wt.join("node_modules").exists());
    assert!(!wt.join("secret.txt").exists());
    assert!(report.get("copied").is_none(), "{report}");
    // The env file is shards' own, with no line of the main one.
    assert!(!read(&wt.join(".env")).contains("SECRET"));
}

#[test]
fn copy_symlink_links_to_the_main_worktree() {
    let env = project();
    include(&env, "secret.txt\n");
    env.write_config("[copy]\nsymlink = [\"node_modules\"]\n");
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    let link = wt.join("node_modules");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        env.repo.join("node_modules")
    );
    assert_eq!(read(&wt.join("secret.txt")), "key\n");
    // Destroying the shard removes the link, never what it points at.
    env.shards(&["destroy", "a"]).ok();
    assert!(env.repo.join("node_modules/pkg/index.js").exists());
}

#[test]
fn a_link_out_of_the_tree_stays_a_link() {
    let env = project();
    let outside = env.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("big"), "not to be copied\n").unwrap();
    std::os::unix::fs::symlink(&outside, env.repo.join("node_modules/out")).unwrap();
    include(&env, "node_modules/\n");
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    let out = wt.join("node_modules/out");
    assert!(out.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_link(&out).unwrap(), outside);
}

#[test]
fn a_bad_include_pattern_names_the_file_and_line_and_makes_nothing() {
    let env = project();
    include(&env, "node_modules/\nsrc/[z-a\n");
    let out = env.shards(&["create", "a"]).code(2);
    let want = format!("{}:2", env.repo.join(".worktreeinclude").display());
    assert!(out.stderr.contains(&want), "{}", out.stderr);
    assert!(env.list().is_empty());
    env.write_config("[copy]\nsymlink = [\"../up\"]\n");
    include(&env, "node_modules/\n");
    let out = env.shards(&["create", "a"]).code(2);
    assert!(out.stderr.contains("config.toml:2"), "{}", out.stderr);
    assert!(out.stderr.contains("`copy.symlink`"), "{}", out.stderr);
}

#[test]
fn a_copy_failure_undoes_the_create() {
    let env = project();
    include(&env, "node_modules/\n.env\n");
    // Many files, so the failure comes after others were copied.
    for i in 0..300 {
        std::fs::write(env.repo.join(format!("node_modules/pkg/f{i:03}.js")), "x").unwrap();
    }
    let locked = env.repo.join("node_modules/pkg/f150.js");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let before = env.git_records();
    let create = env.command_in(&env.repo, &["create", "a", "--json"]);
    let root = unsafe { libc::geteuid() } == 0;
    let mut create = if root {
        // Root reads through any mode; a test that cannot make its case
        // must not pass.
        without_read_override(create)
            .expect("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here")
    } else {
        create
    };
    let out = create.output().unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"]["kind"], "copy", "{stdout}");
    assert!(stderr.contains("f150.js"), "{stderr}");
    assert!(stderr.contains("undid the create"), "{stderr}");
    // Nothing is left: no folder, no branch, no record, no row.
    assert!(env.worktree_folders().is_empty(), "{stderr}");
    assert_eq!(env.git_records(), before);
    assert!(env.list().is_empty());
    assert!(env.shard_rows().is_empty());
}

#[test]
#[ignore = "needs root, loop devices and xfsprogs (.ci/run installs xfsprogs)"]
fn on_xfs_the_copy_shares_extents_with_the_main_worktree() {
    let mut env = TestEnv::new();
    // An XFS with reflink, where a copy can share the original's extents.
    let xfs = LoopMount::mount(
        &env.root,
        "xfs",
        "400M",
        &["mkfs.xfs", "-q", "-m", "reflink=1"],
    );
    let repo_dir = xfs.mnt.join("repo");
    let repo = crate::common::init_repo(&repo_dir);
    commit(&repo, &[(".gitignore", "target/\n")], "ignore");
    std::fs::create_dir_all(repo_dir.join("target/debug")).unwrap();
    let big: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(repo_dir.join("target/debug/app"), &big).unwrap();
    std::fs::write(repo_dir.join(".worktreeinclude"), "target/\n").unwrap();
    let root = format!("{}/wt/{{name}}", xfs.mnt.display());
    env.set("SHARDS_WORKTREE_ROOT", &root);
    let report = env
        .shards_in(&repo_dir, &["create", "a", "--json"])
        .ok()
        .json();
    let wt = shard_path(&report);
    assert!(wt.starts_with(&xfs.mnt));
    let copy = wt.join("target/debug/app");
    assert_eq!(std::fs::read(&copy).unwrap(), big);
    assert_eq!(report["copied"]["cloned"], 1, "{report}");
    let out = Command::new("filefrag")
        .arg("-v")
        .arg(&copy)
        .output()
        .unwrap();
    let extents = String::from_utf8_lossy(&out.stdout);
    assert!(extents.contains("shared"), "{extents}");
    env.shards_in(&repo_dir, &["destroy", "a"]).ok();
}

#[test]
fn ctrl_c_during_the_copy_undoes_the_create() {
    use std::os::unix::process::ExitStatusExt;
    let env = project();
    include(&env, "node_modules/\n");
    for d in 0..40 {
        let dir = env.repo.join(format!("node_modules/m{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..250 {
            std::fs::write(dir.join(format!("f{f:03}.js")), "x\n").unwrap();
        }
    }
    let before = env.git_records();
    let mut child = env
        .command_in(&env.repo, &["create", "a"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The copy has begun once the first copied folder is there.
    let started = std::time::Instant::now();
    let copying = loop {
        let found = env
            .worktree_folders()
            .iter()
            .any(|wt| wt.join("node_modules/m00").exists());
        if found || started.elapsed() > std::time::Duration::from_secs(30) {
            break found;
        }
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    assert!(copying, "the copy never began");
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(out.status.signal().is_none());
    assert!(stderr.contains("undid the create"), "{stderr}");
    assert!(env.worktree_folders().is_empty(), "{stderr}");
    assert_eq!(env.git_records(), before);
    assert!(env.shard_rows().is_empty());
}

#[test]
fn a_create_run_inside_a_shard_copies_from_the_main_worktree() {
    let env = project();
    include(&env, "secret.txt\n");
    let a = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    std::fs::write(a.join("secret.txt"), "changed in shard a\n").unwrap();
    std::fs::write(env.repo.join("secret.txt"), "main\n").unwrap();
    let b = shard_path(&env.shards_in(&a, &["create", "b", "--json"]).ok().json());
    assert_eq!(read(&b.join("secret.txt")), "main\n");
}

#[test]
fn a_pattern_at_any_depth_does_not_reach_into_another_repository() {
    let env = project();
    env.commit(
        &[(
            ".gitignore",
            "node_modules/\n.env\n*.log\nsecret.txt\ntools/\n",
        )],
        "tools",
    );
    crate::common::init_repo(&env.repo.join("tools/other"));
    std::fs::write(env.repo.join("tools/other/.env"), "OTHER=1\n").unwrap();
    std::fs::write(env.repo.join("tools/app.env.d"), "").unwrap();
    std::fs::create_dir_all(env.repo.join("tools/conf")).unwrap();
    std::fs::write(env.repo.join("tools/conf/.env"), "CONF=1\n").unwrap();
    include(&env, ".env\n");
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    assert_eq!(read(&wt.join("tools/conf/.env")), "CONF=1\n");
    assert!(!wt.join("tools/other").exists());
}

#[test]
fn a_create_killed_after_the_copy_is_reclaimed_by_prune() {
    let mut env = project();
    include(&env, "node_modules/\n.env\n");
    env.set("SHARDS_TEST_CRASH_AT", "create:copied");
    let out = env.shards(&["create", "doomed"]);
    assert_eq!(out.code, -1, "not killed by SIGKILL: {out}");
    let folders = env.worktree_folders();
    assert_eq!(folders.len(), 1);
    assert!(folders[0].join("node_modules/pkg/index.js").exists());
    assert_eq!(env.list()[0]["status"], "creating");
    let pruned = env.shards(&["prune"]).ok();
    assert!(
        pruned.stdout.contains("its create was interrupted"),
        "{pruned}"
    );
    assert!(env.list().is_empty());
    assert!(env.worktree_folders().is_empty());
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    // The main worktree keeps everything.
    assert!(env.repo.join("node_modules/pkg/index.js").exists());
    assert_eq!(read(&env.repo.join(".env")), "SECRET=s3cret\nPORT=3000\n");
}
