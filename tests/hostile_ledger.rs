//! Hostile input, continued (the table and its runner are in `hostile`):
//! ledger files, and what the adversarial review found; an empty ledger
//! file and a ledger locked past the timeout.

use crate::common::TestEnv;
use crate::hostile::{Case, bad_config, case, state, with};

/// The ledger and adversarial-review cases of the table.
pub(crate) fn cases() -> Vec<Case> {
    vec![
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
        bad_config("config env.file inside .git", "`env.file`", |e, _| {
            e.write_config("[env]\nfile = \".git\"\n")
        }),
        bad_config("config worktree.root empty", "must not be empty", |e, _| {
            e.set("SHARDS_WORKTREE_ROOT", "");
        }),
        bad_config(
            "project file chooses worktree.root",
            "can only be set in your user config",
            |e, _| {
                std::fs::write(
                    e.repo.join(".shards.toml"),
                    "[worktree]\nroot = \"~/.config/autostart/{name}\"\n",
                )
                .unwrap();
            },
        ),
        bad_config(
            "worktree.root inside the repository",
            "inside the repository",
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
