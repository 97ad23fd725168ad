//! Ordered schema migrations keyed on `PRAGMA user_version`.
//!
//! Each migration is an SQL file under `sql/`, embedded at build time and
//! never edited once shipped. Migrations above the file's version run in one
//! `BEGIN IMMEDIATE` transaction together with the version bump, so racing
//! processes that open a new ledger at once migrate it exactly once.

use rusqlite::{Connection, TransactionBehavior};

/// The migrations, in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[
    include_str!("sql/0001_create_ledger.sql"),
    include_str!("sql/0002_add_service_ports.sql"),
    include_str!("sql/0003_add_unique_branch.sql"),
    include_str!("sql/0004_add_owner_and_checked_destroy.sql"),
    include_str!("sql/0005_add_hook_approvals_and_starts.sql"),
    include_str!("sql/0006_add_env_copied.sql"),
    include_str!("sql/0007_add_ledger_id.sql"),
    include_str!("sql/0008_add_spares.sql"),
    include_str!("sql/0009_add_service_info.sql"),
    include_str!("sql/0010_add_routed_order.sql"),
];

/// The newest schema version this binary knows.
pub const SUPPORTED: i64 = MIGRATIONS.len() as i64;

/// Reads the schema version of the open database.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Applies every migration above the current version; returns the version
/// found before migrating.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found < SUPPORTED {
        for sql in &MIGRATIONS[found.max(0) as usize..] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", SUPPORTED)?;
    }
    tx.commit()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(version(&conn).unwrap(), SUPPORTED);
        assert_eq!(migrate(&mut conn).unwrap(), SUPPORTED);
    }

    #[test]
    fn every_older_version_migrates_to_the_newest() {
        for start in 0..SUPPORTED {
            let mut conn = Connection::open_in_memory().unwrap();
            for sql in &MIGRATIONS[..start as usize] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", start).unwrap();
            assert_eq!(migrate(&mut conn).unwrap(), start);
            assert_eq!(version(&conn).unwrap(), SUPPORTED);
            conn.execute_batch("SELECT shard_id, service, port FROM service_ports")
                .unwrap();
            let id: String = conn
                .query_row("SELECT value FROM meta WHERE key = 'ledger_id'", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(id.len(), 16);
            conn.execute_batch("SELECT spare_fit, spare_base FROM shards")
                .unwrap();
            conn.execute_batch("SELECT describe, protocol, health FROM service_ports")
                .unwrap();
            conn.execute_batch("SELECT routed FROM shards").unwrap();
        }
    }

    #[test]
    fn making_the_shards_table_anew_keeps_every_row_that_refers_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shards.db");
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..7] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 7;
             INSERT INTO repos VALUES (1, '/r/.git', '/r', 'r');
             INSERT INTO shards (id, repo_id, name, branch, path, wt_name, made_branch, state, created_at, port_start, port_end)
                 VALUES (1, 1, 'a', 'a', '/w/a', 'a', 1, 'active', 0, 3000, 3099);
             INSERT INTO service_ports VALUES (1, 'web', 3000);
             INSERT INTO hook_starts VALUES (1, 10, 20, '/log', 0);",
        )
        .unwrap();
        drop(conn);
        let ledger = crate::ledger::Ledger::open(&path, std::time::Duration::from_secs(5)).unwrap();
        let services = ledger.services(1).unwrap();
        assert_eq!(services.len(), 1);
        // A service of an older ledger says nothing more than its port.
        assert!(services[0].info.is_empty(), "{services:?}");
        assert!(ledger.start_of(1).unwrap().is_some());
        assert_eq!(ledger.list(None).unwrap().len(), 1);
    }
}
