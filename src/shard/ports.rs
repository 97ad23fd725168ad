//! Named service ports changed in the ledger and the env file together: the
//! file is checked first, the ledger changed, the file rewritten, and the
//! ledger change undone if the write fails.
//!
//! Lifecycle layer: uses the ledger and [`super::env`].

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::ShardRow;
use crate::ledger::services::{Configured, ServicePort};
use crate::model::{ServiceInfo, ShardState};

use super::{Site, env, lookup};

/// What a change of service ports did.
pub struct Changed {
    /// Every service port the shard holds after the change.
    pub all: Vec<ServicePort>,
    /// Those released by the change.
    pub released: Vec<ServicePort>,
    /// Warnings from rewriting the env file.
    pub warnings: Vec<String>,
}

/// Allocates `services` in the shard's block and sets on each what `set`
/// sets (or releases them with `release`), all or nothing, and rewrites its
/// env file to match. With no services it only reads.
pub fn change(
    site: &mut Site<'_>,
    row: &ShardRow,
    config: &Config,
    services: &[String],
    set: &ServiceInfo,
    release: bool,
) -> Result<Changed> {
    let before = site.ledger.services(row.id)?;
    // A plain listing reads; it never writes the env file.
    let write_file = row.path.exists() && !services.is_empty();
    if write_file {
        // Refuse before the ledger changes if the env file cannot take the
        // section (a symlink, damaged markers), so the two never disagree.
        if let Err(e) = env::prepare(
            &row.path,
            config,
            &env::current_vars(site.ledger, row, config)?,
        ) {
            return Err(explain(site, row, e));
        }
    }
    let (all, released) = if release {
        let released = site.ledger.release_services(row.id, services)?;
        (site.ledger.services(row.id)?, released)
    } else if services.is_empty() {
        (before.clone(), Vec::new())
    } else {
        let all = match site
            .ledger
            .allocate_services(row.id, services, Configured::of(config), set)
        {
            Err(Error::ShardGone { .. }) => return Err(lookup::gone(row)),
            other => other?,
        };
        (all, Vec::new())
    };
    if !write_file {
        return Ok(Changed {
            all,
            released,
            warnings: Vec::new(),
        });
    }
    match env::sync(site.ledger, site.home, row, config) {
        Ok(warnings) => Ok(Changed {
            all,
            released,
            warnings,
        }),
        Err(e) => {
            // The write failed (disk full, read-only): undo the ledger
            // change. A service is new by its name; one that was there
            // gets back its port and what described it.
            let added: Vec<String> = all
                .iter()
                .filter(|s| !before.iter().any(|b| b.service == s.service))
                .map(|s| s.service.clone())
                .collect();
            let _ = site.ledger.release_services(row.id, &added);
            let changed: Vec<ServicePort> = before
                .iter()
                .filter(|b| !all.contains(b))
                .cloned()
                .collect();
            let _ = site.ledger.restore_services(row.id, &changed);
            Err(explain(site, row, e))
        }
    }
}

/// Returns the error to report for a failure to write the shard's env
/// file: a shard destroyed meanwhile is reported as such (gone, or being
/// destroyed), not as git's or the file system's complaint about its
/// vanishing worktree.
fn explain(site: &Site<'_>, row: &ShardRow, e: Error) -> Error {
    match site.ledger.find(&row.repo.git_dir, &row.name) {
        Ok(None) => lookup::gone(row),
        Ok(Some(now)) if now.state != ShardState::Active => lookup::busy(&now),
        _ => e,
    }
}
