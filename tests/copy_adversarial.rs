//! `.worktreeinclude` copying tried the way users break it: a read-only
//! tree (Go's module cache) that destroy, prune and the create's undo must
//! still remove for a user whom modes stop; a file saved with a byte-order
//! mark; a sparse file; ignored files beside a tracked one in an ignored
//! folder; an env file that is a link (to shared secrets, a named pipe, a
//! loop, nothing) or sits in a folder `copy.symlink` links; and a copied
//! `.env` setting the shard's keys in the other spellings loaders read.
//! Each test names what the user sees.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::common::procs::without_read_override;
use crate::common::{TestEnv, read, shard_path};
use crate::copy::{include, project};

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
    env.commit(&[(".gitignore", "node_modules/\n.env\ngopath/\n")], "go");
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

#[test]
fn an_env_file_linked_to_a_shared_secrets_file_is_copied_as_a_file_and_left_alone() {
    let env = project();
    // The main worktree's `.env` is a link to secrets kept outside it.
    let secrets = env.root.join("secrets.env");
    std::fs::write(&secrets, "SECRET=shared\nPORT=3000\n").unwrap();
    std::fs::remove_file(env.repo.join(".env")).unwrap();
    std::os::unix::fs::symlink(&secrets, env.repo.join(".env")).unwrap();
    include(&env, ".env\n");
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    let copied = wt.join(".env");
    assert!(std::fs::symlink_metadata(&copied).unwrap().is_file());
    let text = read(&copied);
    assert!(
        text.starts_with("SECRET=shared\n# shards: overridden by the shards section: PORT=3000\n"),
        "{text}"
    );
    // The shared file is the user's: never written.
    assert_eq!(read(&secrets), "SECRET=shared\nPORT=3000\n");
    // Its lines came from the main worktree: not work a destroy guards.
    env.shards(&["destroy", "a"]).ok();
    assert_eq!(read(&secrets), "SECRET=shared\nPORT=3000\n");
}

/// Runs `shards args` in the repository, killed after 20 s: a read of a
/// named pipe would block forever.
fn shards_within_20s(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let cmd = env.command_in(&env.repo, args);
    let mut timed = Command::new("timeout");
    timed.arg("20").arg(cmd.get_program()).args(cmd.get_args());
    timed.env_clear().current_dir(&env.repo);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            timed.env(k, v);
        }
    }
    timed.output().unwrap()
}

#[test]
fn an_env_file_served_through_a_named_pipe_neither_blocks_nor_breaks_create_or_destroy() {
    let env = project();
    include(&env, ".env\n");
    // Secrets tools serve `.env` as a named pipe, or a link to one.
    let pipe = env.root.join("secrets.pipe");
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success());
    std::fs::remove_file(env.repo.join(".env")).unwrap();
    for (name, linked) in [("a", true), ("b", false)] {
        if linked {
            std::os::unix::fs::symlink(&pipe, env.repo.join(".env")).unwrap();
        } else {
            std::fs::rename(&pipe, env.repo.join(".env")).unwrap();
        }
        let out = shards_within_20s(&env, &["create", name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        let wt = env.shards(&["path", name]).ok().stdout.trim().to_string();
        let own = read(&Path::new(&wt).join(".env"));
        assert!(own.starts_with("# >>> shards >>>"), "{own}");
        let out = shards_within_20s(&env, &["destroy", name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
        if linked {
            std::fs::remove_file(env.repo.join(".env")).unwrap();
        }
    }
}

#[test]
fn a_linked_folder_holding_the_env_file_links_the_rest_and_copies_the_env_file() {
    let env = project();
    env.commit(
        &[(".gitignore", "node_modules/\n.env\nconfig/\n")],
        "config",
    );
    let config = env.repo.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join(".env"), "SECRET=1\nPORT=3000\n").unwrap();
    std::fs::write(config.join("big.json"), "{}\n").unwrap();
    env.write_config("[env]\nfile = \"config/.env\"\n[copy]\nsymlink = [\"config\"]\n");
    let out = env.shards(&["create", "a", "--json"]).ok();
    let wt = shard_path(&out.json());
    // The folder's other files are linked, as asked.
    assert_eq!(
        std::fs::read_link(wt.join("config/big.json")).unwrap(),
        config.join("big.json")
    );
    // The env file is the shard's own: a file, the user's keys kept, the
    // shard's port in force; the main worktree's is untouched.
    let own = wt.join("config/.env");
    assert!(std::fs::symlink_metadata(&own).unwrap().is_file());
    let text = read(&own);
    assert!(text.starts_with("SECRET=1\n# shards: overridden"), "{text}");
    assert_eq!(read(&config.join(".env")), "SECRET=1\nPORT=3000\n");
    env.shards(&["destroy", "a"]).ok();
    assert_eq!(read(&config.join(".env")), "SECRET=1\nPORT=3000\n");
    assert_eq!(read(&config.join("big.json")), "{}\n");
}

#[test]
fn prune_reclaims_a_create_killed_after_copying_a_read_only_tree() {
    let mut env = read_only_cache();
    env.set("SHARDS_TEST_CRASH_AT", "create:copied");
    let out = env.shards(&["create", "doomed"]);
    assert_eq!(out.code, -1, "not killed by SIGKILL: {out}");
    let folders = env.worktree_folders();
    assert_eq!(folders.len(), 1);
    let copied = folders[0].join("gopath/pkg/mod/example.com/x@v1.0.0");
    assert_eq!(std::fs::metadata(&copied).unwrap().mode() & 0o777, 0o555);
    let mut prune = env.command_in(&env.repo, &["prune"]);
    prune.env_remove("SHARDS_TEST_CRASH_AT");
    let out = as_plain_user(prune);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(env.list().is_empty(), "{stdout}{stderr}");
    assert!(env.worktree_folders().is_empty(), "{stdout}{stderr}");
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    chmod_tree(&env.repo.join("gopath"), true);
}

#[test]
fn ignored_files_beside_a_tracked_file_in_an_ignored_folder_are_copied() {
    let env = project();
    // `build/` is ignored, but one file in it was added with `git add -f`.
    env.commit(
        &[
            (".gitignore", "node_modules/\n.env\nbuild/\n"),
            ("build/keep.txt", "committed\n"),
        ],
        "build",
    );
    let build = env.repo.join("build");
    std::fs::write(build.join("keep.txt"), "changed in main\n").unwrap();
    std::fs::write(build.join("app.o"), "object\n").unwrap();
    std::fs::create_dir_all(build.join("sub")).unwrap();
    std::fs::write(build.join("sub/lib.o"), "lib\n").unwrap();
    include(&env, "build/\n");
    let wt = shard_path(&env.shards(&["create", "a", "--json"]).ok().json());
    assert_eq!(read(&wt.join("build/app.o")), "object\n");
    assert_eq!(read(&wt.join("build/sub/lib.o")), "lib\n");
    // The tracked file is the committed one, never the main worktree's.
    assert_eq!(read(&wt.join("build/keep.txt")), "committed\n");
}

/// A shard whose copied `.env` sets `PORT` after an old shards section
/// (which the shard's section replaces in place, so these lines come last)
/// in the other spellings loaders read: `export` and a tab (all three),
/// a quoted key (python-dotenv, compose), `KEY: value` (direnv).
fn shard_with_oddly_spelled_ports(env: &TestEnv) -> std::path::PathBuf {
    std::fs::write(
        env.repo.join(".env"),
        "SECRET=s3cret\n# >>> shards >>>\nPORT=9999\n# <<< shards <<<\nexport\tPORT=3001\n'PORT'=3002\nPORT: 3003\n",
    )
    .unwrap();
    include(env, ".env\n");
    shard_path(&env.shards(&["create", "a", "--json"]).ok().json())
}

#[test]
fn a_copied_env_gives_up_the_shards_keys_however_they_are_spelled() {
    let env = project();
    let wt = shard_with_oddly_spelled_ports(&env);
    let text = read(&wt.join(".env"));
    for line in ["export\tPORT=3001", "'PORT'=3002", "PORT: 3003"] {
        assert!(
            text.contains(&format!(
                "# shards: overridden by the shards section: {line}\n"
            )),
            "{line:?} still in force:\n{text}"
        );
    }
    // Still the main worktree's lines: a destroy does not count them.
    env.shards(&["destroy", "a"]).ok();
}

#[test]
#[ignore = "needs python3-dotenv and direnv (.ci/run installs them)"]
fn python_dotenv_and_direnv_read_the_shards_port_over_oddly_spelled_copies() {
    let env = project();
    let wt = shard_with_oddly_spelled_ports(&env);
    let out = Command::new("python3")
        .args([
            "-c",
            "import dotenv; print(dotenv.dotenv_values('.env')['PORT'])",
        ])
        .current_dir(&wt)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", env.base()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("direnv")
        .args(["dotenv", "bash", ".env"])
        .current_dir(&wt)
        .env("HOME", &env.home)
        .output()
        .expect("direnv must be on PATH (.ci/run installs it)");
    let exported = String::from_utf8_lossy(&out.stdout);
    assert!(
        exported.contains(&format!("export PORT={};", env.base())),
        "{exported}"
    );
}

#[test]
fn an_env_file_that_is_a_link_loop_or_leads_nowhere_does_not_stop_the_create() {
    let env = project();
    include(&env, ".env\n");
    std::fs::remove_file(env.repo.join(".env")).unwrap();
    for (name, target) in [("a", ".env"), ("b", "missing/.env"), ("c", "secret.txt/x")] {
        std::os::unix::fs::symlink(target, env.repo.join(".env")).unwrap();
        let wt = shard_path(&env.shards(&["create", name, "--json"]).ok().json());
        let own = read(&wt.join(".env"));
        assert!(own.starts_with("# >>> shards >>>"), "{name}: {own}");
        std::fs::remove_file(env.repo.join(".env")).unwrap();
    }
}
