//! Hostile input, table-driven: names, refs, config files and values, env
//! files and ledger files. Every case must give a clear message and the
//! documented exit code, and leave the ledger, the repository and every
//! user file exactly as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::TestEnv;

pub(crate) type Setup = fn(&mut TestEnv, &Path);

pub(crate) struct Case {
    what: &'static str,
    setup: Setup,
    /// Arguments; `{wt}` is replaced by the existing shard's worktree.
    args: Vec<String>,
    /// Run inside the existing shard's worktree instead of the repository.
    in_worktree: bool,
    code: i32,
    message: &'static str,
}

pub(crate) fn case(what: &'static str, args: &[&str], code: i32, message: &'static str) -> Case {
    Case {
        what,
        setup: |_, _| {},
        args: args.iter().map(|a| a.to_string()).collect(),
        in_worktree: false,
        code,
        message,
    }
}

pub(crate) fn with(mut c: Case, setup: Setup) -> Case {
    c.setup = setup;
    c
}

pub(crate) fn in_wt(mut c: Case) -> Case {
    c.in_worktree = true;
    c
}

/// A `create x` that a bad config file or variable, made by `setup`, must
/// refuse with exit 2 and `message`.
pub(crate) fn bad_config(what: &'static str, message: &'static str, setup: Setup) -> Case {
    with(case(what, &["create", "x"], 2, message), setup)
}

/// A `port web` in the shard's worktree that a bad env file, made by
/// `setup`, must refuse with exit 1 and `message`.
pub(crate) fn bad_env_file(what: &'static str, message: &'static str, setup: Setup) -> Case {
    with(in_wt(case(what, &["port", "web"], 1, message)), setup)
}

/// Everything a failed command must leave alone: the ledger's rows, git's
/// refs and worktrees, and every file under the test's root (outside `.git`
/// and the ledger's own files), by content.
pub(crate) fn state(env: &TestEnv) -> String {
    let mut out = String::new();
    if let Ok(conn) = rusqlite::Connection::open_with_flags(
        env.ledger(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) {
        for sql in [
            "SELECT id, name, branch, path, state, port_start, port_end FROM shards ORDER BY id",
            "SELECT shard_id, service, port FROM service_ports ORDER BY port",
        ] {
            if let Ok(mut stmt) = conn.prepare(sql) {
                let n = stmt.column_count();
                let rows = stmt.query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                });
                for row in rows.unwrap() {
                    out.push_str(&row.unwrap());
                    out.push('\n');
                }
            }
        }
    }
    out.push_str(&env.git(
        &env.repo,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    ));
    out.push_str(&env.git(&env.repo, &["worktree", "list", "--porcelain"]));
    let mut files = BTreeMap::new();
    walk(&env.root, &mut files);
    for (path, digest) in files {
        out.push_str(&format!("{} {digest}\n", path.display()));
    }
    out
}

fn walk(dir: &Path, files: &mut BTreeMap<PathBuf, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == ".git" || name.starts_with("shards.db") {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.file_type().is_symlink() {
            files.insert(
                p.clone(),
                format!("-> {}", std::fs::read_link(&p).unwrap().display()),
            );
        } else if meta.is_dir() {
            walk(&p, files);
        } else {
            let bytes = std::fs::read(&p).unwrap();
            // A cheap content fingerprint: length and a rolling hash.
            let h = bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
            });
            files.insert(p, format!("{} {h:x}", bytes.len()));
        }
    }
}
/// Every case: names and refs, config files and values and env files
/// (`hostile_config`), ledger files and what the adversarial review found
/// (`hostile_ledger`), and other commands.
fn cases() -> Vec<Case> {
    [
        names_and_refs(),
        crate::hostile_config::cases(),
        crate::hostile_ledger::cases(),
        other_commands(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn names_and_refs() -> Vec<Case> {
    let long = "n".repeat(300);
    let long: &'static str = Box::leak(long.into_boxed_str());
    vec![
        // Names.
        case("name ..", &["create", ".."], 1, "invalid shard name"),
        case(
            "name ../escape",
            &["create", "../escape"],
            1,
            "`..` is not allowed",
        ),
        case(
            "name a/../../b",
            &["create", "a/../../b"],
            1,
            "`..` is not allowed",
        ),
        case(
            "name with slash at start",
            &["create", "/etc"],
            1,
            "invalid shard name",
        ),
        case(
            "name with trailing slash",
            &["create", "a/"],
            1,
            "invalid shard name",
        ),
        case("name a//b", &["create", "a//b"], 1, "invalid shard name"),
        case("name with space", &["create", "a b"], 1, "not allowed"),
        case("name with tab", &["create", "a\tb"], 1, "not allowed"),
        case("name with newline", &["create", "a\nb"], 1, "not allowed"),
        case("name with bell", &["create", "a\x07b"], 1, "not allowed"),
        case(
            "name with escape",
            &["create", "a\x1b[31m"],
            1,
            "not allowed",
        ),
        case("name unicode", &["create", "ünïcode"], 1, "not allowed"),
        case("name CJK", &["create", "日本"], 1, "not allowed"),
        case(
            "name 300 characters",
            &["create", long],
            1,
            "the limit is 100",
        ),
        case(
            "branch leading dash",
            &["create", "ok", "--branch=-rf"],
            1,
            "must not start with `-`",
        ),
        case(
            "name flag-like",
            &["create", "-rf"],
            2,
            "unexpected argument",
        ),
        case("name .lock", &["create", "x.lock"], 1, "`.lock`"),
        case(
            "name hidden",
            &["create", ".hidden"],
            1,
            "must not start with `.`",
        ),
        case("name HEAD", &["create", "HEAD"], 1, "reserved"),
        case("name with colon", &["create", "a:b"], 1, "not allowed"),
        case("name with tilde", &["create", "a~1"], 1, "not allowed"),
        case("name with caret", &["create", "a^"], 1, "not allowed"),
        case("name with glob", &["create", "a*"], 1, "not allowed"),
        case("name with backslash", &["create", "a\\b"], 1, "not allowed"),
        case("name empty", &["create", ""], 1, "the name is empty"),
        case("name taken", &["create", "base"], 1, "already exists"),
        case(
            "branch name hostile",
            &["create", "ok", "--branch", "../x"],
            1,
            "invalid branch name `../x`",
        ),
        // Refs.
        case(
            "base that does not exist",
            &["create", "x", "--base", "no-such-branch"],
            1,
            "no such ref",
        ),
        case(
            "base flag-like",
            &["create", "x", "--base=-x"],
            1,
            "no such ref",
        ),
        case(
            "base beyond history",
            &["create", "x", "--base", "HEAD~99"],
            1,
            "no such ref",
        ),
        case(
            "branch checked out in main",
            &["create", "x", "--branch", "main"],
            1,
            "already checked out",
        ),
    ]
}

fn other_commands() -> Vec<Case> {
    vec![
        // Other commands.
        case(
            "destroy unknown",
            &["destroy", "ghost"],
            1,
            "no shard named `ghost`",
        ),
        case(
            "port who not a number",
            &["port", "who", "http"],
            2,
            "invalid value",
        ),
        case(
            "port who above 65535",
            &["port", "who", "70000"],
            2,
            "invalid value",
        ),
        case("adopt a file", &["adopt", "README.md"], 1, "cannot adopt"),
        case(
            "adopt missing path",
            &["adopt", "/nonexistent/x"],
            1,
            "No such file",
        ),
        case("run without command", &["run", "base"], 2, "required"),
        case(
            "-C to a missing folder",
            &["-C", "/nonexistent", "list"],
            1,
            "/nonexistent",
        ),
    ]
}

#[test]
fn every_hostile_input_is_refused_clearly_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut env = TestEnv::new();
        let base = env.create("base");
        let wt = crate::common::shard_path(&base);
        (c.setup)(&mut env, &wt);
        let before = state(&env);
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| a.replace("{wt}", wt.to_str().unwrap()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let dir = if c.in_worktree {
            wt.clone()
        } else {
            env.repo.clone()
        };
        let out = env.shards_in(&dir, &args);
        let after = state(&env);
        if out.code != c.code {
            failures.push(format!(
                "{}: exit {} instead of {}\n{out}",
                c.what, out.code, c.code
            ));
        } else if !out.stderr.contains(c.message) {
            failures.push(format!("{}: message lacks {:?}\n{out}", c.what, c.message));
        } else if c.code != 2 && !out.stderr.contains("hint:") && !out.stderr.contains("Usage") {
            failures.push(format!("{}: no hint\n{out}", c.what));
        } else if before != after {
            failures.push(format!(
                "{}: state changed\n--- before\n{before}--- after\n{after}",
                c.what
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "hostile: {} cases, each refused with its exit code and nothing changed",
        cases.len()
    );
}
#[test]
fn repositories_and_homes_with_spaces_and_bare_repositories_work() {
    let mut env = TestEnv::new();
    let spaced = env.root.join("my repo");
    crate::common::init_repo(&spaced);
    let home = env.root.join("shards home");
    env.set("SHARDS_HOME", home.to_str().unwrap());
    let r = env
        .shards_in(&spaced, &["create", "x", "--json"])
        .ok()
        .json();
    assert!(
        r["shard"]["path"]
            .as_str()
            .unwrap()
            .starts_with(home.to_str().unwrap())
    );
    env.shards_in(&spaced, &["destroy", "x"]).ok();
    // A bare repository hosts shards too.
    let bare = env.root.join("bare.git");
    let status = std::process::Command::new("git")
        .args([
            "clone",
            "-q",
            "--bare",
            env.repo.to_str().unwrap(),
            bare.to_str().unwrap(),
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(status.success());
    let r = env.shards_in(&bare, &["create", "y", "--json"]).ok().json();
    let wt = crate::common::shard_path(&r);
    assert!(wt.join("README.md").is_file());
    assert_eq!(env.git(&wt, &["status", "--porcelain"]), "");
    env.shards_in(&bare, &["destroy", "y"]).ok();
}
