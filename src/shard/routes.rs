//! The proxy's routes read from the ledger: every shard that is not a
//! spare, with its services, as a [`Table`]; and a reader that keeps one
//! open ledger and reads the rows again only when another process has
//! committed since (SQLite's `data_version`), so a created or destroyed
//! shard is routed, or gone, at the next request.
//!
//! Lifecycle layer: the ledger and the pure route table; the proxy's
//! sockets (`proxy`) only ask it for the table.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::error::Result;
use crate::ledger::Ledger;
use crate::model::ShardState;
use crate::route::{Route, Routed, Table};

/// Returns the routes of every shard in the ledger that is not a spare.
pub fn table(ledger: &Ledger) -> Result<Table> {
    let mut services: HashMap<i64, Vec<(String, u16)>> = HashMap::new();
    for s in ledger.all_services()? {
        services
            .entry(s.shard_id)
            .or_default()
            .push((s.service, s.port));
    }
    let routed = ledger
        .list(None)?
        .into_iter()
        .filter(|row| row.spare.is_none() && row.state != ShardState::Spare)
        .map(|row| Routed {
            services: services.remove(&row.id).unwrap_or_default(),
            id: row.id,
            order: row.routed,
            repo_id: row.repo.id,
            repo: row.repo.dir_name,
            name: row.name,
            block: row.block,
        })
        .collect();
    Ok(Table::new(routed))
}

/// The routes whose URLs env files and reports name, with `[proxy]
/// enabled`: the table and the proxy's port.
pub struct Urls {
    table: Table,
    port: u16,
}

impl Urls {
    /// Reads the routes when `config` enables the proxy's URLs; `None`
    /// (and no read) when it does not.
    pub fn load(ledger: &Ledger, config: &Config) -> Result<Option<Urls>> {
        if !config.proxy.enabled {
            return Ok(None);
        }
        Ok(Some(Urls {
            table: table(ledger)?,
            port: config.proxy.port,
        }))
    }

    /// Returns the route of shard `id` and the port its URLs name.
    pub fn of(&self, id: i64) -> Option<(&Route, u16)> {
        self.table.of(id).map(|r| (r, self.port))
    }
}

/// The ledger as the proxy reads it: one connection, the last table, and
/// the `data_version` it was read at.
pub struct LedgerRoutes {
    cached: Mutex<Cached>,
}

struct Cached {
    ledger: Ledger,
    version: Option<i64>,
    table: Arc<Table>,
}

impl LedgerRoutes {
    /// Opens the ledger at `path` for routes.
    pub fn open(path: &Path, timeout: Duration) -> Result<LedgerRoutes> {
        let ledger = Ledger::open(path, timeout)?;
        Ok(LedgerRoutes {
            cached: Mutex::new(Cached {
                ledger,
                version: None,
                table: Arc::new(Table::default()),
            }),
        })
    }

    fn current(&self) -> Result<Arc<Table>> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let version = cached.ledger.data_version()?;
        if cached.version != Some(version) {
            cached.table = Arc::new(table(&cached.ledger)?);
            cached.version = Some(version);
        }
        Ok(cached.table.clone())
    }
}

impl crate::proxy::Routes for LedgerRoutes {
    fn table(&self) -> std::result::Result<Arc<Table>, String> {
        self.current().map_err(|e| e.to_string())
    }
}
