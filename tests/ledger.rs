//! The ledger file: privacy, migration of an old schema, and a corrupt or
//! newer file left exactly as it was.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::common::TestEnv;

/// Runs each command line expecting exit 3 and every one of `says` on
/// stderr, then `list --json` expecting the error `kind`; returns its JSON.
#[track_caller]
fn refused(env: &TestEnv, commands: &[&[&str]], says: &[&str], kind: &str) -> Value {
    for args in commands {
        env.shards(args).code(3).says(says);
    }
    let json = env.shards(&["list", "--json"]).code(3).json();
    assert_eq!(json["error"]["kind"], kind);
    json
}

#[test]
fn the_ledger_is_private_to_its_user() {
    let env = TestEnv::new();
    env.create("a");
    let mode = std::fs::metadata(env.ledger())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let home = std::fs::metadata(&env.shards_home)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(home, 0o700);
}

#[test]
fn a_corrupt_ledger_is_a_clear_error_and_is_not_overwritten() {
    let env = TestEnv::new();
    let fixture = env.use_ledger_fixture("corrupt.sqlite");
    refused(
        &env,
        &[&["create", "x"], &["list"], &["prune"], &["destroy", "x"]],
        &[
            "is not a readable shards database",
            "hint: shards leaves the file as it is",
        ],
        "ledger_corrupt",
    );
    assert_eq!(std::fs::read(env.ledger()).unwrap(), fixture);
    assert_eq!(env.branches(&env.repo), vec!["main"]);
    assert!(!env.shards_home.join("worktrees").exists());
}

/// `fixtures/db/future.sqlite` holds the schema of migrations 0001-0003 with
/// `PRAGMA user_version = 999`, as a later shards would leave it. Made with
/// python3's sqlite3:
///
/// ```text
/// c = sqlite3.connect("fixtures/db/future.sqlite")
/// for f in sorted(glob.glob("src/ledger/sql/*.sql")): c.executescript(open(f).read())
/// c.execute("PRAGMA user_version = 999"); c.commit()
/// ```
#[test]
fn a_ledger_from_a_newer_shards_is_refused_and_left_as_it_is() {
    let env = TestEnv::new();
    let fixture = env.use_ledger_fixture("future.sqlite");
    refused(
        &env,
        &[
            &["create", "x"],
            &["list"],
            &["prune"],
            &["port", "--shard", "x", "web"],
        ],
        &["schema version 999", "hint: "],
        "ledger_too_new",
    );
    assert_eq!(std::fs::read(env.ledger()).unwrap(), fixture);
    assert_eq!(env.branches(&env.repo), vec!["main"]);
}

#[test]
fn a_ledger_from_schema_version_1_migrates_and_keeps_its_blocks() {
    let env = TestEnv::new();
    env.use_ledger_fixture("v1.sqlite");
    // The copy's one shard holds 3000-3099: moved to the test's first block
    // (in the old schema, before shards migrates it).
    let (start, end) = env.block(0);
    rusqlite::Connection::open(env.ledger())
        .unwrap()
        .execute(
            "UPDATE shards SET port_start = ?1, port_end = ?2 WHERE name = 'legacy'",
            [start as i64, end as i64],
        )
        .unwrap();
    let all = env.shards(&["list", "--all", "--json"]).ok().json();
    let legacy = &all["shards"][0];
    assert_eq!(legacy["name"], "legacy");
    assert_eq!(legacy["status"], "missing");
    assert_eq!(crate::common::ports(legacy), (start, end));
    // The old shard still holds its block, and the new schema works.
    let r = env.create("new");
    assert_eq!(crate::common::ports(&r["shard"]), env.block(1));
    let wt = crate::common::shard_path(&r);
    env.shards_in(&wt, &["port", "web", "--describe", "after the migration"])
        .ok();
    let conn = rusqlite::Connection::open(env.ledger()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 10);
    // Services say what they are since 0009.
    let describe: Option<String> = conn
        .query_row(
            "SELECT describe FROM service_ports WHERE service = 'web'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(describe.as_deref(), Some("after the migration"));
    // The old shard has no record of a copied env file (0006).
    let copied: Option<Vec<u8>> = conn
        .query_row(
            "SELECT env_copied FROM shards WHERE name = 'legacy'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(copied, None);
}

#[test]
fn another_programs_sqlite_file_is_refused_with_its_true_reason() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.shards_home).unwrap();
    let conn = rusqlite::Connection::open(env.ledger()).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    drop(conn);
    let before = std::fs::read(env.ledger()).unwrap();
    for args in [&["list"][..], &["create", "x"]] {
        let out = env.shards(args).code(3).says(&[
            "is not a readable shards database",
            "it holds tables that are not shards'",
            "hint: shards leaves the file as it is",
        ]);
        // SQLite reported nothing wrong, so no SQLite cause is printed.
        assert!(!out.stderr.contains("caused by"), "{args:?}: {out}");
        assert!(!out.stderr.contains("read-only"), "{args:?}: {out}");
    }
    let json = env.shards(&["list", "--json"]).code(3).json();
    assert_eq!(json["error"]["kind"], "ledger_corrupt");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tables that are not shards'"),
        "{json}"
    );
    assert!(
        std::fs::read(env.ledger()).unwrap() == before,
        "the foreign file was changed"
    );
    assert!(!env.shards_home.join("worktrees").exists());
}

#[test]
fn a_corrupt_ledger_names_sqlites_own_cause() {
    let env = TestEnv::new();
    env.use_ledger_fixture("corrupt.sqlite");
    env.shards(&["list"]).code(3).says(&[
        "SQLite cannot read it as a database",
        "caused by: file is not a database",
    ]);
}
