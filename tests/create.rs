//! `shards create`: blocks, worktrees, branches, env files, and undo.

use std::path::PathBuf;

use crate::common::{TestEnv, commit, env_value, ports, read};

use crate::common::shard_path as path_of;

#[test]
fn three_creates_get_consecutive_blocks_and_a_freed_block_is_reused() {
    let env = TestEnv::new();
    let a = env.create("feature-auth");
    let b = env.create("fix-login");
    let c = env.create("docs");
    assert_eq!(ports(&a["shard"]), env.block(0));
    assert_eq!(ports(&b["shard"]), env.block(1));
    assert_eq!(ports(&c["shard"]), env.block(2));
    for (report, i) in [(&a, 0), (&b, 1), (&c, 2)] {
        let file = path_of(report).join(".env");
        let start = env.block(i).0.to_string();
        assert_eq!(env_value(&file, "PORT_RANGE_START"), Some(start.clone()));
        assert_eq!(env_value(&file, "PORT_COUNT").as_deref(), Some("100"));
        assert_eq!(env_value(&file, "PORT"), Some(start));
    }
    let end = env_value(&path_of(&b).join(".env"), "PORT_RANGE_END");
    assert_eq!(end, Some(env.block(1).1.to_string()));
    env.shards(&["destroy", "fix-login"]).ok();
    let d = env.create("next");
    assert_eq!(ports(&d["shard"]), env.block(1));
}

#[test]
fn the_worktree_is_a_real_git_worktree_on_its_branch_and_the_env_file_is_not_untracked() {
    let env = TestEnv::new();
    let out = env
        .shards(&["create", "feature-auth"])
        .ok()
        .says(&["Created shard `feature-auth`"]);
    let path = PathBuf::from(out.stdout.trim());
    assert!(path.join("README.md").is_file());
    let list = env.git(&env.repo, &["worktree", "list", "--porcelain"]);
    assert!(
        list.contains(&format!("worktree {}", path.display())),
        "{list}"
    );
    assert!(list.contains("branch refs/heads/feature-auth"), "{list}");
    assert_eq!(env.git(&path, &["status", "--porcelain"]), "");
    assert_eq!(
        env.git(&path, &["rev-parse", "--abbrev-ref", "HEAD"])
            .trim(),
        "feature-auth"
    );
    let text = read(&path.join(".env"));
    assert!(text.contains("SHARD_NAME=feature-auth\n"), "{text}");
    assert!(
        text.contains("COMPOSE_PROJECT_NAME=repo-feature-auth\n"),
        "{text}"
    );
    // The main checkout stays clean too.
    assert_eq!(env.git(&env.repo, &["status", "--porcelain"]), "");
}

#[test]
fn works_from_a_subdirectory_and_from_inside_another_shard() {
    let env = TestEnv::new();
    let a = env
        .shards_in(&env.repo.join("src"), &["create", "a", "--json"])
        .ok()
        .json();
    let inside = path_of(&a).join("src");
    let b = env
        .shards_in(&inside, &["create", "b", "--json"])
        .ok()
        .json();
    assert_eq!(b["shard"]["repo"], a["shard"]["repo"]);
    let listed = env.shards_in(&inside, &["list", "--json"]).ok().json();
    assert_eq!(listed["shards"].as_array().unwrap().len(), 2);
    assert_eq!(env.git(&env.repo, &["worktree", "list"]).lines().count(), 3);
}

#[test]
fn branch_names_with_slashes_work() {
    let env = TestEnv::new();
    let r = env.create("feature/auth/login");
    assert_eq!(r["shard"]["branch"], "feature/auth/login");
    assert!(path_of(&r).ends_with("feature-auth-login"));
    assert!(
        env.branches(&env.repo)
            .contains(&"feature/auth/login".to_string())
    );
    env.shards(&["destroy", "feature/auth/login"]).ok();
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

#[test]
fn base_and_existing_branches() {
    let env = TestEnv::new();
    let repo = git2::Repository::open(&env.repo).unwrap();
    let first = repo.head().unwrap().peel_to_commit().unwrap().id();
    commit(&repo, &[("second.txt", "2\n")], "second");
    let r = env
        .shards(&["create", "old", "--base", &first.to_string(), "--json"])
        .ok()
        .json();
    assert!(!path_of(&r).join("second.txt").exists());
    assert_eq!(r["branch_created"], true);
    // An existing branch is checked out as it is.
    env.git(&env.repo, &["branch", "topic"]);
    let t = env
        .shards(&["create", "t", "--branch", "topic", "--json"])
        .ok()
        .json();
    assert_eq!(t["branch_created"], false);
    assert!(path_of(&t).join("second.txt").exists());
    // Destroy keeps a branch the shard did not make.
    env.shards(&["destroy", "t"])
        .ok()
        .says(&["kept branch `topic`"]);
    assert!(env.branches(&env.repo).contains(&"topic".to_string()));
}

#[test]
fn a_tracked_env_file_is_left_alone_with_a_warning() {
    let env = TestEnv::new();
    env.commit(&[(".env", "TRACKED=1\n")], "tracked env");
    let out = env
        .shards(&["create", "x", "--json"])
        .ok()
        .says(&["is tracked by git, so shards left it alone", "env.file"]);
    let path = path_of(&out.json());
    assert_eq!(read(&path.join(".env")), "TRACKED=1\n");
    assert_eq!(env.git(&path, &["status", "--porcelain"]), "");
    // With another file name the ports land there.
    let mut env = env;
    env.set("SHARDS_ENV_FILE", ".env.shard");
    let r = env.create("y");
    assert_eq!(
        env_value(&path_of(&r).join(".env.shard"), "PORT_RANGE_START"),
        Some(env.block(1).0.to_string())
    );
    assert_eq!(env.git(&path_of(&r), &["status", "--porcelain"]), "");
}

#[test]
fn user_lines_crlf_and_a_missing_final_newline_survive_a_rewrite() {
    let env = TestEnv::new();
    let r = env.create("x");
    let file = path_of(&r).join(".env");
    let section = std::fs::read_to_string(&file)
        .unwrap()
        .replace('\n', "\r\n");
    let user = format!("SECRET=s3cr3t\r\n# keep me\r\n{section}TAIL=1");
    std::fs::write(&file, &user).unwrap();
    // Rewrite the section through the library, as every command that
    // changes a shard's variables does.
    let config = shards::config::resolve(32767, &[], &Default::default()).unwrap();
    let vars = vec![("PORT".to_string(), "3999".to_string())];
    let warnings = shards::shard::env::write(&path_of(&r), &config, &vars).unwrap();
    assert!(warnings.is_empty());
    let after = read(&file);
    assert!(
        after.starts_with("SECRET=s3cr3t\r\n# keep me\r\n# >>> shards >>>"),
        "{after:?}"
    );
    assert!(after.ends_with("# <<< shards <<<\r\nTAIL=1"), "{after:?}");
    assert!(after.contains("\r\nPORT=3999\r\n"), "{after:?}");
    assert!(!after.contains("PORT_RANGE_START"), "{after:?}");
}

#[test]
fn create_json_reports_the_shard() {
    let env = TestEnv::new();
    let r = env.create("x");
    assert_eq!(r["version"], 1);
    assert_eq!(r["shard"]["name"], "x");
    assert_eq!(r["shard"]["status"], "active");
    assert_eq!(r["shard"]["ports"]["count"], 100);
    assert!(r["env_file"].as_str().unwrap().ends_with("/x/.env"));
}

#[test]
fn a_repository_without_commits_is_a_clear_error() {
    let env = TestEnv::new();
    let empty = env.root.join("empty");
    git2::Repository::init(&empty).unwrap();
    let out = env.shards_in(&empty, &["create", "x"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: the repository [TMP]/empty has no commits yet
    hint: make a first commit (`git commit --allow-empty -m init`), or pass --base
    [exit status: 1]
    ");
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let env = TestEnv::new();
    let out = env.shards_in(&env.home, &["create", "x"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: not inside a git repository: [TMP]/home
    hint: run shards inside a git repository, or pass -C <path>
    [exit status: 1]
    ");
}

#[test]
fn the_name_is_taken_once_per_repository() {
    let env = TestEnv::new();
    env.create("x");
    let out = env.shards(&["create", "x"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: a shard named `x` already exists in [TMP]/repo (active)
    hint: pick another name, or `shards destroy x` first
    [exit status: 1]
    ");
    let out = env.shards(&["create", "x", "--json"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @r#"
    {
      "version": 1,
      "error": {
        "kind": "name_taken",
        "message": "a shard named `x` already exists in [TMP]/repo (active)",
        "hint": "pick another name, or `shards destroy x` first",
        "exit_code": 1
      }
    }
    --- stderr ---
    shards: error: a shard named `x` already exists in [TMP]/repo (active)
    hint: pick another name, or `shards destroy x` first
    [exit status: 1]
    "#);
}

#[test]
fn checkouts_apply_git_attributes_when_a_repository_has_them() {
    let env = TestEnv::new();
    env.commit(&[("a.txt", "x\ny\n")], "plain");
    let plain = env.create("plain");
    assert_eq!(
        std::fs::read(path_of(&plain).join("a.txt")).unwrap(),
        b"x\ny\n"
    );
    env.commit(
        &[
            (".gitattributes", "*.txt text eol=crlf\n"),
            ("sub/b.txt", "1\n2\n"),
        ],
        "attributes",
    );
    let crlf = env.create("crlf");
    assert_eq!(
        std::fs::read(path_of(&crlf).join("a.txt")).unwrap(),
        b"x\r\ny\r\n"
    );
    assert_eq!(
        std::fs::read(path_of(&crlf).join("sub/b.txt")).unwrap(),
        b"1\r\n2\r\n"
    );
    assert_eq!(env.git(&path_of(&crlf), &["status", "--porcelain"]), "");
}

#[test]
fn create_says_what_it_made() {
    let mut env = TestEnv::new();
    env.small_pool(10, 2);
    let out = env.shards(&["create", "a"]).ok();
    insta::assert_snapshot!(env.shown(&out), @"
    [TMP]/shards_home/worktrees/repo/a
    --- stderr ---
    Created shard `a` on branch `a` at [TMP]/shards_home/worktrees/repo/a (ports 10000-10009).
    [exit status: 0]
    ");
}

#[test]
fn create_says_what_it_copied() {
    let env = TestEnv::new();
    env.commit(&[(".gitignore", ".env.local\n")], "ignore");
    std::fs::write(env.repo.join(".env.local"), "TOKEN=t\n").unwrap();
    std::fs::write(env.repo.join(".worktreeinclude"), ".env.local\n").unwrap();
    let out = env.shards(&["create", "a"]).ok();
    insta::assert_snapshot!(env.shown(&out), @"
    [TMP]/shards_home/worktrees/repo/a
    --- stderr ---
    Created shard `a` on branch `a` at [TMP]/shards_home/worktrees/repo/a (ports 10000-10099).
    Copied 1 file (8 B) from the main worktree (.worktreeinclude).
    [exit status: 0]
    ");
}

#[test]
fn create_warns_that_base_is_ignored_for_an_existing_branch() {
    let env = TestEnv::new();
    env.git(&env.repo, &["branch", "topic"]);
    let out = env
        .shards(&["create", "t", "--branch", "topic", "--base", "main"])
        .ok();
    insta::assert_snapshot!(env.shown(&out), @"
    [TMP]/shards_home/worktrees/repo/t
    --- stderr ---
    warning: branch `topic` exists, so it is checked out as it is and --base is ignored
    Created shard `t` on branch `topic` at [TMP]/shards_home/worktrees/repo/t (ports 10000-10099).
    [exit status: 0]
    ");
}

#[test]
fn invalid_names_and_exhausted_ports_say_what_next() {
    let mut env = TestEnv::new();
    let out = env.shards(&["create", "../escape"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: invalid shard name `../escape`: `..` is not allowed
    hint: use letters, digits, `.`, `_`, `-` and `/` (like a git branch name), up to 100 characters, not starting with `-`
    [exit status: 1]
    ");
    env.small_pool(10, 1).create("a");
    let out = env.shards(&["create", "b"]).code(1);
    insta::assert_snapshot!(env.shown(&out), @"
    --- stderr ---
    shards: error: no free port block: the pool 10000-10009 has 1 block of 10, 1 held by shards and 0 with ports in use or held elsewhere on this host
    hint: run `shards prune` to reclaim blocks of deleted worktrees, `shards destroy` shards you no longer need, widen `ports.max`, or shrink `ports.block_size`
    [exit status: 1]
    ");
}
