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
use crate::model::{PortBlock, Protocol, ServiceInfo};

/// One service port of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Service name.
    pub service: String,
    /// Its port.
    pub port: u16,
    /// What describes it.
    pub info: ServiceInfo,
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
    /// What describes it.
    pub info: ServiceInfo,
}

/// The services every shard gets: their offsets (`[ports.services]`) and
/// what describes those that say more.
#[derive(Debug, Clone, Copy)]
pub struct Configured<'a> {
    /// Name → fixed offset in every block.
    pub offsets: &'a BTreeMap<String, u16>,
    /// Name → what describes it, for those that say.
    pub info: &'a BTreeMap<String, ServiceInfo>,
}

static NONE_OFFSETS: BTreeMap<String, u16> = BTreeMap::new();
static NONE_INFO: BTreeMap<String, ServiceInfo> = BTreeMap::new();

impl Configured<'_> {
    /// Returns the services `config` configures.
    pub fn of(config: &crate::config::Config) -> Configured<'_> {
        Configured {
            offsets: &config.services,
            info: &config.service_info,
        }
    }

    /// Returns the names of those whose offset lies inside `block`: what a
    /// new shard of that block is given.
    pub fn fitting(&self, block: PortBlock) -> Vec<String> {
        self.offsets
            .iter()
            .filter(|(_, offset)| **offset < block.len())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Returns no configured services.
    pub fn none() -> Configured<'static> {
        Configured {
            offsets: &NONE_OFFSETS,
            info: &NONE_INFO,
        }
    }
}

const INFO_COLUMNS: &str = "describe, protocol, health";

/// Reads a row's info columns from column `at` on.
fn info_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ServiceInfo> {
    let protocol: Option<String> = r.get(at + 1)?;
    Ok(ServiceInfo {
        describe: r.get(at)?,
        // The column's CHECK allows only these two.
        protocol: protocol.as_deref().and_then(Protocol::parse),
        health: r.get(at + 2)?,
    })
}

pub(super) fn services_of(conn: &Connection, shard_id: i64) -> Result<Vec<ServicePort>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT service, port, {INFO_COLUMNS} FROM service_ports WHERE shard_id = ?1 ORDER BY port"
    ))?;
    let rows = stmt.query_map([shard_id], |r| {
        Ok(ServicePort {
            service: r.get(0)?,
            port: r.get(1)?,
            info: info_at(r, 2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// How [`write_info`] meets fields a service has already.
#[derive(Clone, Copy)]
enum Write {
    /// The fields `info` sets replace what is there (a command said so);
    /// an empty description or health path clears it.
    Set,
    /// Only fields nobody set are filled (from the config).
    Fill,
    /// Every field becomes what `info` says, unset ones included (an undo).
    Exact,
}

/// Writes the fields `info` sets on a shard's service, as `how` says.
fn write_info(
    tx: &Connection,
    shard_id: i64,
    service: &str,
    info: &ServiceInfo,
    how: Write,
) -> Result<()> {
    if info.is_empty() && !matches!(how, Write::Exact) {
        return Ok(());
    }
    let sql = match how {
        Write::Set => {
            // An empty text clears its field.
            "UPDATE service_ports SET describe = CASE WHEN ?3 IS NULL THEN describe ELSE NULLIF(?3, '') END, protocol = COALESCE(?4, protocol), health = CASE WHEN ?5 IS NULL THEN health ELSE NULLIF(?5, '') END WHERE shard_id = ?1 AND service = ?2"
        }
        Write::Fill => {
            "UPDATE service_ports SET describe = COALESCE(describe, NULLIF(?3, '')), protocol = COALESCE(protocol, ?4), health = COALESCE(health, NULLIF(?5, '')) WHERE shard_id = ?1 AND service = ?2"
        }
        Write::Exact => {
            "UPDATE service_ports SET describe = ?3, protocol = ?4, health = ?5 WHERE shard_id = ?1 AND service = ?2"
        }
    };
    tx.execute(
        sql,
        params![
            shard_id,
            service,
            info.describe,
            info.protocol.map(Protocol::as_str),
            info.health
        ],
    )?;
    Ok(())
}

/// Inserts `names` for the shard (all new or existing), returning the full
/// list afterwards. Runs inside the caller's transaction.
pub(super) fn allocate_in(
    tx: &Connection,
    shard_id: i64,
    shard_name: &str,
    block: PortBlock,
    names: &[String],
    configured: Configured<'_>,
) -> Result<Vec<ServicePort>> {
    let mut current = services_of(tx, shard_id)?;
    for name in names {
        let info = configured.info.get(name);
        if current.iter().any(|s| &s.service == name) {
            // Configured later than allocated: what the config says fills
            // what nobody set.
            if let Some(info) = info {
                write_info(tx, shard_id, name, info, Write::Fill)?;
            }
            continue;
        }
        let used: Vec<u16> = current.iter().map(|s| s.port - block.start()).collect();
        let offset = match configured.offsets.get(name) {
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
                let reserved: Vec<u16> = configured.offsets.values().copied().collect();
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
        if let Some(info) = info {
            write_info(tx, shard_id, name, info, Write::Fill)?;
        }
        // The next name of this call sees this one's offset as used.
        current.push(ServicePort {
            service: name.clone(),
            port,
            info: ServiceInfo::default(),
        });
    }
    services_of(tx, shard_id)
}

impl Ledger {
    /// Returns the service ports of a shard, by port.
    pub fn services(&self, shard_id: i64) -> Result<Vec<ServicePort>> {
        services_of(&self.conn, shard_id)
    }

    /// Returns every service port in the ledger.
    pub fn all_services(&self) -> Result<Vec<OwnedServicePort>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT shard_id, service, port, {INFO_COLUMNS} FROM service_ports ORDER BY port"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(OwnedServicePort {
                shard_id: r.get(0)?,
                service: r.get(1)?,
                port: r.get(2)?,
                info: info_at(r, 3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Gets or allocates the ports of `names` for a shard, all or nothing,
    /// and sets on each the fields `set` sets; returns every service port
    /// of the shard afterwards. Fails with [`Error::ShardGone`] when the
    /// shard's row is gone.
    pub fn allocate_services(
        &mut self,
        shard_id: i64,
        names: &[String],
        configured: Configured<'_>,
        set: &ServiceInfo,
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
            allocate_in(tx, shard_id, &name, block, names, configured)?;
            for service in names {
                write_info(tx, shard_id, service, set, Write::Set)?;
            }
            services_of(tx, shard_id)
        })
    }

    /// Puts back service ports exactly as they were, what describes them
    /// included (undoing a change whose env file could not be written).
    pub fn restore_services(&mut self, shard_id: i64, ports: &[ServicePort]) -> Result<()> {
        self.write(|tx| {
            for p in ports {
                tx.execute(
                    "INSERT OR IGNORE INTO service_ports (shard_id, service, port) VALUES (?1, ?2, ?3)",
                    params![shard_id, p.service, p.port],
                )?;
                write_info(tx, shard_id, &p.service, &p.info, Write::Exact)?;
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
                let port: Option<(u16, ServiceInfo)> = tx
                    .query_row(&format!("DELETE FROM service_ports WHERE shard_id = ?1 AND service = ?2 RETURNING port, {INFO_COLUMNS}"), params![shard_id, name], |r| Ok((r.get(0)?, info_at(r, 1)?)))
                    .optional()?;
                if let Some((port, info)) = port {
                    released.push(ServicePort { service: name.clone(), port, info });
                }
            }
            Ok(released)
        })
    }
}
