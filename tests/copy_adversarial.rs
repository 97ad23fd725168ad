//! `.worktreeinclude` copying tried the way users break it: a read-only
//! tree (Go's module cache), a file saved with a byte-order mark, a sparse
//! file; each test names what the user sees.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::common::{TestEnv, commit, read, shard_path};
use crate::copy::{include, project, without_read_override};

/// Runs `cmd` as root would run it without the power to ignore modes, so a
/// read-only folder stops it as it stops any other user.
fn as_plain_user(cmd: Command) -> std::process::Output {
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        without_read_override(cmd)
            .expect("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here")
    } else {
        cmd
    };
    cmd.output().unwrap()
}

/// Sets the write bits of everything under `dir` (links untouched) off or on.
fn chmod_tree(dir: &Path, writable: bool) {
    let mode = if writable { "u+w" } else { "a-w" };
    let out = Command::new("chmod")
        .args(["-R", mode])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A project whose main worktree holds a Go module cache: ignored,
/// included, and read-only by design (folders 0555, files 0444).
fn read_only_cache() -> TestEnv {
    let env = project();
    let repo = git2::Repository::open(&env.repo).unwrap();
    commit(
        &repo,
        &[(".gitignore", "node_modules/\n.env\ngopath/\n")],
        "go",
    );
    let module = env.repo.join("gopath/pkg/mod/example.com/x@v1.0.0");
    std::fs::create_dir_all(module.join("sub")).unwrap();
    std::fs::write(module.join("x.go"), "package x\n").unwrap();
    std::fs::write(module.join("sub/y.go"), "package sub\n").unwrap();
    chmod_tree(&env.repo.join("gopath/pkg/mod"), false);
    include(&env, "gopath/\n");
    env
}

#[test]
fn destroy_removes_a_shard_holding_a_read_only_module_cache() {
    let env = read_only_cache();
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    let copied = wt.join("gopath/pkg/mod/example.com/x@v1.0.0");
    assert_eq!(read(&copied.join("sub/y.go")), "package sub\n");
    assert_eq!(std::fs::metadata(&copied).unwrap().mode() & 0o777, 0o555);
    let out = as_plain_user(env.command_in(&env.repo, &["destroy", "a"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!wt.exists(), "{stderr}");
    assert!(env.list().is_empty());
    // The main worktree's cache is as it was: read-only, whole.
    let source = env.repo.join("gopath/pkg/mod/example.com/x@v1.0.0");
    assert_eq!(std::fs::metadata(&source).unwrap().mode() & 0o777, 0o555);
    assert_eq!(read(&source.join("x.go")), "package x\n");
    chmod_tree(&env.repo.join("gopath"), true);
}

#[test]
fn a_failed_setup_undoes_a_create_that_copied_a_read_only_tree() {
    let env = read_only_cache();
    env.write_config("[hooks]\nsetup = \"false\"\n");
    let before = env.git_records();
    let out = as_plain_user(env.command_in(&env.repo, &["create", "a"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("undid the create"), "{stderr}");
    assert!(env.worktree_folders().is_empty(), "{stderr}");
    assert_eq!(env.git_records(), before);
    assert!(env.shard_rows().is_empty());
    chmod_tree(&env.repo.join("gopath"), true);
}

#[test]
fn a_worktreeinclude_saved_with_a_byte_order_mark_still_copies_its_first_pattern() {
    let env = project();
    // Windows editors save UTF-8 with a BOM, and CRLF; git ignores both in
    // its ignore files.
    std::fs::write(
        env.repo.join(".worktreeinclude"),
        "\u{feff}secret.txt\r\nnode_modules/\r\n",
    )
    .unwrap();
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    assert_eq!(read(&wt.join("secret.txt")), "key\n");
    assert!(wt.join("node_modules/pkg/index.js").exists());
}

/// Returns the bytes a file takes on disk.
fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_sparse_file_stays_sparse_in_the_shard() {
    let env = project();
    // A disk image or a preallocated database: 256 MiB long, a few bytes
    // of data at the start, in the middle and at the end.
    let image = env.repo.join("node_modules/pkg/disk.img");
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(256 << 20).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(b"middle", 100 << 20).unwrap();
        f.write_all_at(b"tail", (256 << 20) - 4).unwrap();
    }
    assert!(
        allocated(&image) < 1 << 20,
        "this file system cannot make a sparse file"
    );
    include(&env, "node_modules/\n");
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    let copy = wt.join("node_modules/pkg/disk.img");
    assert!(
        allocated(&copy) < 1 << 20,
        "the copy takes {} bytes on disk",
        allocated(&copy)
    );
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&image).unwrap()
    );
}
