//! Disk trouble: a worktree folder and a ledger that refuse writes. No half
//! state, a clear error.
//!
//! As root (CI runs as root) permissions do not stop writes, so the paths
//! are made immutable (what `chattr +i` does, through its ioctl, so the test
//! needs no e2fsprogs; the kernel must grant CAP_LINUX_IMMUTABLE and the file
//! system must support the flag); as another user, `chmod` does it.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::common::{TestEnv, env_value};

/// `FS_IMMUTABLE_FL` from linux/fs.h (not in the libc crate).
const FS_IMMUTABLE_FL: libc::c_int = 0x10;

/// Makes paths refuse writes until dropped.
struct ReadOnly(Vec<(PathBuf, u32)>, bool);

impl ReadOnly {
    fn new(paths: &[&Path]) -> ReadOnly {
        let root = unsafe { libc::geteuid() } == 0;
        let mut saved = Vec::new();
        for p in paths {
            let mode = std::fs::metadata(p).unwrap().permissions().mode();
            if root {
                if let Err(e) = set_immutable(p, true) {
                    panic!(
                        "making {} immutable failed ({e}): this test needs a file system with the immutable attribute",
                        p.display()
                    );
                }
            } else {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & 0o555)).unwrap();
            }
            saved.push((p.to_path_buf(), mode));
        }
        ReadOnly(saved, root)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        for (p, mode) in &self.0 {
            if self.1 {
                let _ = set_immutable(p, false);
            } else {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(*mode));
            }
        }
    }
}

/// Sets or clears the immutable flag of a file or folder, as `chattr ±i` does.
fn set_immutable(path: &Path, on: bool) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let fd = file.as_raw_fd();
    let mut flags: libc::c_int = 0;
    // SAFETY: both ioctls read or write one int through a valid pointer on an open fd.
    if unsafe { libc::ioctl(fd, libc::FS_IOC_GETFLAGS, &mut flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if on {
        flags |= FS_IMMUTABLE_FL;
    } else {
        flags &= !FS_IMMUTABLE_FL;
    }
    if unsafe { libc::ioctl(fd, libc::FS_IOC_SETFLAGS, &flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[test]
fn an_env_file_that_cannot_be_written_leaves_ledger_and_file_as_they_were() {
    let env = TestEnv::new();
    let r = env.create("x");
    let wt = crate::common::shard_path(&r);
    let before = std::fs::read(wt.join(".env")).unwrap();
    {
        // The file too: shards edits it in place (issue 18), which a
        // read-only folder does not stop.
        let _ro = ReadOnly::new(&[&wt, &wt.join(".env")]);
        env.shards_in(&wt, &["port", "web", "api"])
            .code(1)
            .says(&["hint: check that you may write there"]);
    }
    assert_eq!(std::fs::read(wt.join(".env")).unwrap(), before);
    let ports = env.shards(&["port", "--shard", "x", "--json"]).ok().json();
    assert!(
        ports["services"].as_array().unwrap().is_empty(),
        "the ledger kept ports the env file does not show"
    );
    // Once writable again, the same call works.
    env.shards_in(&wt, &["port", "web"]).ok();
    assert_eq!(
        env_value(&wt.join(".env"), "WEB_PORT"),
        Some(env.base().to_string())
    );
}

#[test]
fn a_create_whose_worktree_folder_cannot_be_made_leaves_nothing() {
    let env = TestEnv::new();
    env.create("x");
    let parent = env.shards_home.join("worktrees/repo");
    let branches = env.branches(&env.repo);
    {
        let _ro = ReadOnly::new(&[&parent]);
        env.shards(&["create", "y"]).code(1).says(&["hint:"]);
    }
    assert_eq!(env.list().len(), 1);
    assert_eq!(env.branches(&env.repo), branches);
    assert_eq!(env.git(&env.repo, &["worktree", "list"]).lines().count(), 2);
    assert!(!parent.join("y").exists());
}

#[test]
fn a_ledger_on_a_disk_that_refuses_writes_is_exit_3_and_untouched() {
    let env = TestEnv::new();
    env.create("x");
    let db = env.ledger();
    let before = std::fs::read(&db).unwrap();
    {
        let _ro = ReadOnly::new(&[&db, &env.shards_home]);
        for args in [&["create", "y"][..], &["destroy", "x"]] {
            env.shards(args)
                .code(3)
                .says(&["cannot be written", "hint: SQLite needs to write"]);
        }
        // A prune with nothing to reclaim writes nothing: the ledger's WAL
        // is kept between runs (issue 19), so it has no file to make.
        env.shards(&["prune"]).ok().says(&["Nothing to prune."]);
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(env.list().len(), 1);
    assert_eq!(env.branches(&env.repo), vec!["main", "x"]);
    assert!(!env.shards_home.join("worktrees/repo/y").exists());
}

#[test]
fn a_destroy_of_several_that_fails_part_way_says_what_was_done() {
    let env = TestEnv::new();
    env.create("a");
    let b = env.create("b");
    let stuck = crate::common::shard_path(&b).join("README.md");
    let out = {
        let _ro = ReadOnly::new(&[&stuck]);
        env.shards(&["destroy", "a", "b", "--json"])
            .code(1)
            .says(&["(already done: `a`)"])
    };
    let json = out.json();
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already done: `a`")
    );
    let left: Vec<String> = env
        .list()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, vec!["b"]);
    // Part of b's worktree is deleted: it stays claimed (`destroying`), not
    // handed back as if whole, and a second destroy finishes it.
    assert_eq!(env.list()[0]["status"], "destroying");
    env.shards(&["destroy", "b"]).ok();
    assert!(env.list().is_empty());
}
