//! A full or nearly full disk under the shards home and the worktrees:
//! every command exits with its code (a JSON error under `--json`), never
//! by a signal, and one `prune` after the disk frees up reclaims what a
//! failed create left.
//!
//! The file system is a loop-mounted 8 MiB ext4 of 1 KiB blocks (what
//! `mkfs.ext4` makes for a small image): there SQLite's WAL index (the
//! `-shm` file it maps) had holes, and the first store into one on a
//! nearly full disk was SIGBUS (exit 135). Needs root for `mount`.

use crate::common::TestEnv;
use crate::common::mount::LoopMount;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Mounts an 8 MiB ext4 of 1 KiB blocks at `dir/ext4`.
fn ext4(dir: &Path) -> LoopMount {
    // No blocks kept for root (the test runs as root, who could use them).
    let mkfs = ["mkfs.ext4", "-q", "-F", "-m", "0", "-b", "1024"];
    LoopMount::mount(dir, "ext4", "8M", &mkfs)
}

/// Fills the file system but `free_kb` KiB: writes a file until the disk
/// refuses, then gives back `free_kb` KiB of it.
fn leave(disk: &LoopMount, free_kb: u64) {
    let path = disk.mnt.join("fill");
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::File::create(&path).unwrap();
    let mut size = 0u64;
    for chunk in [64 * 1024, 1024] {
        let buf = vec![0u8; chunk];
        while let Ok(n) = file.write(&buf) {
            size += n as u64;
            if n < chunk {
                break;
            }
        }
        let _ = file.sync_all();
    }
    file.set_len(size.saturating_sub(free_kb * 1024)).unwrap();
    file.sync_all().unwrap();
}

/// Frees what [`leave`] filled.
fn free_all(disk: &LoopMount) {
    let _ = std::fs::remove_file(disk.mnt.join("fill"));
}

/// Asserts that a run ended by exiting, not by a signal, and that under
/// `--json` a failure printed a JSON error object with its exit code.
#[track_caller]
fn answered(out: &crate::common::Out, free_kb: u64) {
    assert!(
        (0..128).contains(&out.code),
        "`shards {}` with {free_kb} KiB free died by a signal:\n{out}",
        out.args.join(" ")
    );
    if out.code != 0 && out.args.iter().any(|a| a == "--json") {
        let json = out.json();
        assert_eq!(
            json["error"]["exit_code"],
            out.code,
            "`shards {}` with {free_kb} KiB free:\n{out}",
            out.args.join(" ")
        );
        assert!(json["error"]["message"].is_string(), "{out}");
    }
}

#[test]
#[ignore = "needs root and a loop device (mount); .ci/run runs it"]
fn a_nearly_full_disk_gets_answers_not_signals_and_prune_reclaims_what_was_left() {
    let mut env = TestEnv::new();
    let disk = ext4(&env.root);
    let home = disk.mnt.join("home");
    env.set("SHARDS_HOME", home.to_str().unwrap()).set(
        "SHARDS_WORKTREE_ROOT",
        &format!("{}/wt/{{name}}", disk.mnt.display()),
    );
    env.shards(&["create", "a"]).ok();
    for (i, free_kb) in [0, 16, 40, 48, 56, 64, 96, 128, 256, 1024]
        .into_iter()
        .enumerate()
    {
        let (made, gone, service) = (format!("c{i}"), format!("d{i}"), format!("svc{i}"));
        // Each round destroys a shard made while there was room.
        free_all(&disk);
        let made_before = env.shards(&["create", &gone]);
        leave(&disk, free_kb);
        let runs: [&[&str]; 8] = [
            &["create", &made, "--json"],
            &["list"],
            &["--json", "list"],
            &["status", "--json"],
            &["port", &service, "--shard", "a", "--json"],
            &["destroy", &gone, "--json"],
            &["prune", "--json"],
            &["create", &format!("h{i}")],
        ];
        for args in runs {
            answered(&env.shards(args), free_kb);
        }
        answered(&made_before, free_kb);
    }
    free_all(&disk);
    env.shards(&["prune", "--json"]).ok();
    let shards = env.list();
    let states: Vec<String> = shards
        .iter()
        .map(|s| format!("{} {}", s["name"], s["status"]))
        .filter(|s| !s.ends_with("\"active\""))
        .collect();
    assert!(states.is_empty(), "after one prune: {states:?}");
    let paths: Vec<PathBuf> = shards
        .iter()
        .map(|s| PathBuf::from(s["path"].as_str().unwrap()))
        .collect();
    let mut left: Vec<PathBuf> = std::fs::read_dir(disk.mnt.join("wt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !paths.contains(p))
        .collect();
    left.sort();
    assert!(left.is_empty(), "worktree folders no shard holds: {left:?}");
    let git = env.git(&env.repo, &["worktree", "list", "--porcelain"]);
    let records = git.lines().filter(|l| l.starts_with("worktree ")).count();
    assert_eq!(records, shards.len() + 1, "git's worktrees:\n{git}");
}
