//! Named service ports inside a shard's block, in the ledger.
//!
//! Get-or-allocate is idempotent and all-or-nothing: every name of one call
//! is resolved in one `BEGIN IMMEDIATE` transaction. Configured services
//! (`[ports.services]`) sit at their fixed offset in every block; any other
//! name gets the lowest offset that is neither allocated nor reserved for a
//! configured service, and keeps it until released.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::Ledger;
use crate::alloc;
use crate::error::{Error, Result};
use crate::model::PortBlock;

/// One service port of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Service name.
    pub service: String,
    /// Its port.
    pub port: u16,
}

/// A service port with the shard it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedServicePort {
    /// Shard row id.
    pub shard_id: i64,
    /// Service name.
    pub service: String,
    /// Its port.
    pub port: u16,
}

pub(super) fn services_of(conn: &Connection, shard_id: i64) -> Result<Vec<ServicePort>> {
    let mut stmt = conn.prepare_cached(
        "SELECT service, port FROM service_ports WHERE shard_id = ?1 ORDER BY port",
    )?;
    let rows = stmt.query_map([shard_id], |r| {
        Ok(ServicePort {
            service: r.get(0)?,
            port: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Inserts `names` for the shard (all new or existing), returning the full
/// list afterwards. Runs inside the caller's transaction.
pub(super) fn allocate_in(
    tx: &Connection,
    shard_id: i64,
    shard_name: &str,
    block: PortBlock,
    names: &[String],
    configured: &BTreeMap<String, u16>,
) -> Result<Vec<ServicePort>> {
    let mut current = services_of(tx, shard_id)?;
    for name in names {
        if current.iter().any(|s| &s.service == name) {
            continue;
        }
        let used: Vec<u16> = current.iter().map(|s| s.port - block.start()).collect();
        let offset = match configured.get(name) {
            Some(&fixed) if fixed >= block.len() => {
                return Err(Error::ServicePorts {
                    shard: shard_name.to_string(),
                    message: format!(
                        "service `{name}` is configured at offset {fixed}, outside the block {block} of {} ports",
                        block.len()
                    ),
                });
            }
            Some(&fixed) => {
                if let Some(holder) = current.iter().find(|s| s.port == block.start() + fixed) {
                    return Err(Error::ServicePorts {
                        shard: shard_name.to_string(),
                        message: format!(
                            "service `{name}` is configured at offset {fixed}, but port {} is held by service `{}`; release it with `shards port --release {}`",
                            holder.port, holder.service, holder.service
                        ),
                    });
                }
                fixed
            }
            None => {
                let reserved: Vec<u16> = configured.values().copied().collect();
                alloc::service_offset(block.len(), &used, &reserved).ok_or_else(|| Error::ServicePorts {
                    shard: shard_name.to_string(),
                    message: format!(
                        "no free port for service `{name}`: the block {block} has {} ports, {} allocated and {} reserved for configured services",
                        block.len(),
                        used.len(),
                        reserved.iter().filter(|o| !used.contains(o)).count()
                    ),
                })?
            }
        };
        let port = block.start() + offset;
        tx.execute(
            "INSERT INTO service_ports (shard_id, service, port) VALUES (?1, ?2, ?3)",
            params![shard_id, name, port],
        )?;
        current.push(ServicePort {
            service: name.clone(),
            port,
        });
    }
    current.sort_by_key(|s| s.port);
    Ok(current)
}

impl Ledger {
    /// Returns the service ports of a shard, by port.
    pub fn services(&self, shard_id: i64) -> Result<Vec<ServicePort>> {
        services_of(&self.conn, shard_id)
    }

    /// Returns every service port in the ledger.
    pub fn all_services(&self) -> Result<Vec<OwnedServicePort>> {
        let mut stmt = self
            .conn
            .prepare("SELECT shard_id, service, port FROM service_ports ORDER BY port")?;
        let rows = stmt.query_map([], |r| {
            Ok(OwnedServicePort {
                shard_id: r.get(0)?,
                service: r.get(1)?,
                port: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Gets or allocates the ports of `names` for a shard, all or nothing;
    /// returns every service port of the shard afterwards. Fails with
    /// [`Error::ShardGone`] when the shard's row is gone.
    pub fn allocate_services(
        &mut self,
        shard_id: i64,
        names: &[String],
        configured: &BTreeMap<String, u16>,
    ) -> Result<Vec<ServicePort>> {
        let path = self.path.clone();
        self.write(|tx| {
            let row: Option<(String, u16, u16, String, Option<i64>)> = tx
                .query_row(
                    "SELECT name, port_start, port_end, state, pid FROM shards WHERE id = ?1",
                    [shard_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?;
            let Some((name, start, end, state, pid)) = row else {
                return Err(Error::ShardGone { id: shard_id });
            };
            if state != "active" {
                let action = if state == "creating" {
                    "created"
                } else {
                    "destroyed"
                };
                return Err(Error::Busy {
                    name,
                    action: action.into(),
                    pid: pid.unwrap_or(0),
                });
            }
            let block = end
                .checked_sub(start)
                .and_then(|d| PortBlock::new(start, d + 1))
                .ok_or_else(|| Error::LedgerCorrupt {
                    path,
                    reason: format!("shard `{name}` holds the invalid port block {start}-{end}"),
                    source: None,
                })?;
            allocate_in(tx, shard_id, &name, block, names, configured)
        })
    }

    /// Puts back service ports exactly as they were (undoing a release
    /// whose env file could not be written).
    pub fn restore_services(&mut self, shard_id: i64, ports: &[ServicePort]) -> Result<()> {
        self.write(|tx| {
            for p in ports {
                tx.execute(
                    "INSERT OR IGNORE INTO service_ports (shard_id, service, port) VALUES (?1, ?2, ?3)",
                    params![shard_id, p.service, p.port],
                )?;
            }
            Ok(())
        })
    }

    /// Releases the named service ports of a shard; returns those that were
    /// allocated (names that were not are ignored).
    pub fn release_services(
        &mut self,
        shard_id: i64,
        names: &[String],
    ) -> Result<Vec<ServicePort>> {
        self.write(|tx| {
            let mut released = Vec::new();
            for name in names {
                let port: Option<u16> = tx
                    .query_row("DELETE FROM service_ports WHERE shard_id = ?1 AND service = ?2 RETURNING port", params![shard_id, name], |r| r.get(0))
                    .optional()?;
                if let Some(port) = port {
                    released.push(ServicePort { service: name.clone(), port });
                }
            }
            Ok(released)
        })
    }
}
