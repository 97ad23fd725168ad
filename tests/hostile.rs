//! Hostile input, table-driven: names, refs, config files and values, env
//! files and ledger files. Every case must give a clear message and the
//! documented exit code, and leave the ledger, the repository and every
//! user file exactly as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::TestEnv;

type Setup = fn(&mut TestEnv, &Path);

struct Case {
    what: &'static str,
    setup: Setup,
    /// Arguments; `{wt}` is replaced by the existing shard's worktree.
    args: Vec<String>,
    /// Run inside the existing shard's worktree instead of the repository.
    in_worktree: bool,
    code: i32,
    message: &'static str,
}

fn case(what: &'static str, args: &[&str], code: i32, message: &'static str) -> Case {
    Case {
        what,
        setup: |_, _| {},
        args: args.iter().map(|a| a.to_string()).collect(),
        in_worktree: false,
        code,
        message,
    }
}

fn with(mut c: Case, setup: Setup) -> Case {
    c.setup = setup;
    c
}

fn in_wt(mut c: Case) -> Case {
    c.in_worktree = true;
    c
}

/// Everything a failed command must leave alone: the ledger's rows, git's
/// refs and worktrees, and every file under the test's root (outside `.git`
/// and the ledger's own files), by content.
fn state(env: &TestEnv) -> String {
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

fn cases() -> Vec<Case> {
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
            "invalid shard name",
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
        // Config files and values.
        with(
            case("config wrong type", &["create", "x"], 2, "config.toml:2"),
            |e, _| {
                e.without_port_vars();
                e.write_config("[ports]\nbase = \"3000\"\n");
            },
        ),
        with(
            case(
                "config unknown key",
                &["create", "x"],
                2,
                "unknown field `colour`",
            ),
            |e, _| e.write_config("colour = 1\n"),
        ),
        with(
            case(
                "config block_size 0",
                &["create", "x"],
                2,
                "`ports.block_size`: must be at least 1",
            ),
            |e, _| e.write_config("[ports]\nblock_size = 0\n"),
        ),
        with(
            case(
                "config pool smaller than a block",
                &["create", "x"],
                2,
                "fewer than one block",
            ),
            |e, _| {
                // The file is what is tested: no SHARDS_PORTS_* over it.
                e.without_port_vars();
                e.write_config("[ports]\nbase = 4000\nmax = 4009\nblock_size = 20\n");
            },
        ),
        with(
            case("config port above 65535", &["create", "x"], 2, "`max`"),
            |e, _| {
                e.without_port_vars();
                e.write_config("[ports]\nmax = 70000\n");
            },
        ),
        with(
            case(
                "config base above max",
                &["create", "x"],
                2,
                "is below ports.base",
            ),
            |e, _| {
                e.without_port_vars();
                e.write_config("[ports]\nbase = 9000\nmax = 8000\n");
            },
        ),
        with(
            case("config not TOML", &["create", "x"], 2, "config.toml:1"),
            |e, _| e.write_config("[ports\n"),
        ),
        with(
            case("config not UTF-8", &["create", "x"], 2, "not valid UTF-8"),
            |e, _| {
                let dir = e.home.join(".config/shards");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("config.toml"), [0xff, 0xfe, 0x00]).unwrap();
            },
        ),
        with(
            case("config env.file escapes", &["create", "x"], 2, "`env.file`"),
            |e, _| e.write_config("[env]\nfile = \"../../outside.env\"\n"),
        ),
        with(
            case(
                "config env.file absolute",
                &["create", "x"],
                2,
                "`env.file`",
            ),
            |e, _| e.write_config("[env]\nfile = \"/etc/passwd\"\n"),
        ),
        with(
            case(
                "config service outside block",
                &["create", "x"],
                2,
                "outside a block",
            ),
            |e, _| e.write_config("[ports.services]\nweb = 500\n"),
        ),
        with(
            case(
                "config service name",
                &["create", "x"],
                2,
                "a service name is a lowercase letter",
            ),
            |e, _| e.write_config("[ports.services]\n\"we b\" = 1\n"),
        ),
        with(
            case(
                "project config wrong type",
                &["create", "x"],
                2,
                ".shards.toml:1",
            ),
            |e, _| {
                std::fs::write(e.repo.join(".shards.toml"), "ports = 3\n").unwrap();
            },
        ),
        with(
            case(
                "variable not a number",
                &["create", "x"],
                2,
                "SHARDS_PORTS_BASE",
            ),
            |e, _| {
                e.set("SHARDS_PORTS_BASE", "lots");
            },
        ),
        with(
            case(
                "variable not a bool",
                &["create", "x"],
                2,
                "SHARDS_ENV_DIRENV",
            ),
            |e, _| {
                e.set("SHARDS_ENV_DIRENV", "maybe");
            },
        ),
        with(
            case(
                "SHARDS_CONFIG missing",
                &["create", "x"],
                2,
                "does not exist",
            ),
            |e, _| {
                e.set("SHARDS_CONFIG", "/nonexistent/shards.toml");
            },
        ),
        // Env files (rewritten by `port`).
        with(
            in_wt(case(
                "env file symlink outside",
                &["port", "web"],
                1,
                "symbolic link",
            )),
            |e, wt| {
                std::fs::write(e.root.join("outside.env"), "SECRET=1\n").unwrap();
                std::fs::remove_file(wt.join(".env")).unwrap();
                std::os::unix::fs::symlink(e.root.join("outside.env"), wt.join(".env")).unwrap();
            },
        ),
        with(
            in_wt(case(
                "env file symlink inside",
                &["port", "web"],
                1,
                "symbolic link",
            )),
            |_, wt| {
                std::fs::rename(wt.join(".env"), wt.join("real.env")).unwrap();
                std::os::unix::fs::symlink("real.env", wt.join(".env")).unwrap();
            },
        ),
        with(
            in_wt(case(
                "env file is a directory",
                &["port", "web"],
                1,
                "not a regular file",
            )),
            |_, wt| {
                std::fs::remove_file(wt.join(".env")).unwrap();
                std::fs::create_dir(wt.join(".env")).unwrap();
            },
        ),
        with(
            in_wt(case(
                "env file markers damaged",
                &["port", "web"],
                1,
                "no `# <<< shards <<<` line",
            )),
            |_, wt| {
                std::fs::write(wt.join(".env"), "A=1\n# >>> shards >>>\nPORT=1\n").unwrap();
            },
        ),
        with(
            in_wt(case(
                "env folder is a link out",
                &["port", "web"],
                1,
                "leads outside the worktree",
            )),
            |e, wt| {
                std::fs::create_dir_all(e.root.join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(e.root.join("elsewhere"), wt.join("conf")).unwrap();
                e.set("SHARDS_ENV_FILE", "conf/.env");
            },
        ),
        // Ledger files.
        with(
            case(
                "ledger corrupt",
                &["create", "x"],
                3,
                "is not a readable shards database",
            ),
            |e, _| {
                e.use_ledger_fixture("corrupt.sqlite");
            },
        ),
        with(
            case(
                "ledger from the future",
                &["create", "x"],
                3,
                "schema version 999",
            ),
            |e, _| {
                e.use_ledger_fixture("future.sqlite");
            },
        ),
        // Found by the adversarial review.
        with(
            case(
                "config env.file inside .git",
                &["create", "x"],
                2,
                "`env.file`",
            ),
            |e, _| e.write_config("[env]\nfile = \".git\"\n"),
        ),
        with(
            case(
                "config worktree.root empty",
                &["create", "x"],
                2,
                "must not be empty",
            ),
            |e, _| {
                e.set("SHARDS_WORKTREE_ROOT", "");
            },
        ),
        with(
            case(
                "project file chooses worktree.root",
                &["create", "x"],
                2,
                "can only be set in your user config",
            ),
            |e, _| {
                std::fs::write(
                    e.repo.join(".shards.toml"),
                    "[worktree]\nroot = \"~/.config/autostart/{name}\"\n",
                )
                .unwrap();
            },
        ),
        with(
            case(
                "worktree.root inside the repository",
                &["create", "x"],
                2,
                "inside the repository",
            ),
            |e, _| {
                e.set("SHARDS_WORKTREE_ROOT", ".");
            },
        ),
        with(
            case(
                "relative SHARDS_HOME",
                &["list"],
                2,
                "must be an absolute path",
            ),
            |e, _| {
                e.set("SHARDS_HOME", "relative/home");
            },
        ),
        with(
            case(
                "ledger that is another program's database",
                &["list"],
                3,
                "is not a readable shards database",
            ),
            |e, _| {
                e.set("SHARDS_HOME", e.root.join("other_home").to_str().unwrap());
                std::fs::create_dir_all(e.root.join("other_home")).unwrap();
                let conn = rusqlite::Connection::open(e.root.join("other_home/shards.db")).unwrap();
                conn.execute_batch(
                    "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');",
                )
                .unwrap();
            },
        ),
        with(
            case(
                "dangling symlink where the worktree goes",
                &["create", "dl"],
                1,
                "already exists",
            ),
            |e, _| {
                std::os::unix::fs::symlink("/nonexistent", e.shards_home.join("worktrees/repo/dl"))
                    .unwrap();
            },
        ),
        with(
            case(
                "branch that names a remote branch",
                &["create", "rf", "--branch", "origin/feat"],
                1,
                "remote-tracking branch",
            ),
            |e, _| {
                e.git(&e.repo, &["update-ref", "refs/remotes/origin/feat", "HEAD"]);
            },
        ),
        case(
            "service name with a dash",
            &["port", "web-api", "--shard", "base"],
            1,
            "invalid service name",
        ),
        case(
            "service name starting with a digit",
            &["port", "1web", "--shard", "base"],
            1,
            "invalid service name",
        ),
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

/// The one ledger file that is no error: an empty file is a new SQLite
/// database, which shards sets up as a fresh ledger and uses.
#[test]
fn an_empty_ledger_file_is_set_up_as_a_new_ledger() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.shards_home).unwrap();
    std::fs::write(env.ledger(), "").unwrap();
    let r = env.create("x");
    assert_eq!(crate::common::ports(&r["shard"]), env.block(0));
    let names: Vec<_> = env.list().iter().map(|s| s["name"].clone()).collect();
    assert_eq!(names, vec!["x"]);
    let bytes = std::fs::read(env.ledger()).unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"), "not set up");
    // The same schema as a ledger shards made from nothing.
    let fresh = TestEnv::new();
    fresh.create("x");
    let version = |env: &TestEnv| -> i64 {
        rusqlite::Connection::open(env.ledger())
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    };
    assert_eq!(version(&env), version(&fresh));
    assert!(version(&env) > 0);
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
fn hostile_env_file_content_survives_byte_for_byte() {
    for (what, content) in [
        ("binary", vec![0u8, 159, 146, 150, 255, b'\n', 7]),
        ("crlf", b"A=1\r\nB=2\r\n".to_vec()),
        ("unterminated", b"A=1\nB=2".to_vec()),
        ("large", "K=v\n".repeat(500_000).into_bytes()),
    ] {
        let env = TestEnv::new();
        let r = env.create("x");
        let wt = crate::common::shard_path(&r);
        let file = wt.join(".env");
        let section = std::fs::read(&file).unwrap();
        let mut user = content.clone();
        user.extend_from_slice(b"\n");
        user.extend_from_slice(&section);
        user.extend_from_slice(&content);
        std::fs::write(&file, &user).unwrap();
        env.shards_in(&wt, &["port", "web"]).ok();
        let after = std::fs::read(&file).unwrap();
        assert!(
            after.starts_with(&[&content[..], b"\n"].concat()),
            "{what}: the lines before the section changed"
        );
        assert!(
            after.ends_with(&content),
            "{what}: the lines after the section changed"
        );
        assert!(
            String::from_utf8_lossy(&after).contains(&format!("WEB_PORT={}", env.base())),
            "{what}"
        );
    }
}

#[test]
fn a_ledger_locked_longer_than_the_timeout_is_exit_3_and_nothing_changes() {
    let mut env = TestEnv::new();
    env.create("base");
    let before = state(&env);
    let lock = env.lock_ledger(300);
    env.shards(&["create", "x"])
        .code(3)
        .says(&["stayed locked by another process", "hint:"]);
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    assert_eq!(state(&env), before);
    env.create("x");
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
