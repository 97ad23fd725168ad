//! MCP's `port_summary`: one shard's block (start, end, named ports, free
//! offsets, utilization) and the pool's figures, read from the ledger.

use std::path::PathBuf;

use serde::Serialize;

use crate::cmd::port::ServiceView;
use crate::cmd::view::PortsView;
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::shard::lookup;
use crate::shard::routes::Urls;

/// The pool's figures as the ledger has them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PoolSummary {
    /// First port of the pool.
    pub base: u16,
    /// Last port of the pool.
    pub max: u16,
    /// Ports per block.
    pub block_size: u16,
    /// Blocks in the pool.
    pub blocks_total: u32,
    /// Blocks shards of this ledger hold (every repository).
    pub blocks_held: u32,
    /// Held blocks as a percentage of the pool.
    pub utilization: f64,
}

/// The result of `port_summary`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PortSummary {
    /// Always 1.
    pub version: u32,
    /// The shard.
    pub shard: String,
    /// Its repository's root.
    pub repo: PathBuf,
    /// Its block.
    pub ports: PortsView,
    /// Its named ports, with what describes them.
    pub named: Vec<ServiceView>,
    /// Offsets in the block (0 is its first port) that a new named port
    /// could get: neither held nor reserved for a configured service.
    pub free_offsets: Vec<u16>,
    /// Named ports as a percentage of the block.
    pub utilization: f64,
    /// The pool.
    pub pool: PoolSummary,
}

fn percent(part: u32, whole: u32) -> f64 {
    (f64::from(part) * 1000.0 / f64::from(whole.max(1))).round() / 10.0
}

/// Summarises the ports of the shard `shard` (default: the one whose
/// worktree holds the working directory).
pub fn run(ctx: &Ctx, shard: Option<&str>) -> Result<PortSummary> {
    let repo = ctx.repo()?;
    let ledger = ctx.ledger()?;
    let row = lookup::resolve(&ledger, repo, &ctx.cwd, shard)?;
    let services = ledger.services(row.id)?;
    let config = ctx.config(&Overrides::default())?;
    let pool = config.pool;
    let urls = Urls::load(&ledger, &config)?;
    let urls = urls.as_ref().and_then(|u| u.of(row.id));
    let held = ledger
        .list(None)?
        .iter()
        .filter(|r| pool.blocks().any(|b| b.overlaps(&r.block)))
        .count() as u32;
    let block = row.block;
    let free_offsets = (0..block.len())
        .filter(|o| !services.iter().any(|s| s.port == block.start() + o))
        .filter(|o| !config.services.values().any(|c| c == o))
        .collect();
    Ok(PortSummary {
        version: 1,
        shard: row.name.clone(),
        repo: row.repo.root.clone(),
        ports: PortsView::of(block),
        named: services.iter().map(|s| ServiceView::of(s, urls)).collect(),
        free_offsets,
        utilization: percent(services.len() as u32, u32::from(block.len())),
        pool: PoolSummary {
            base: pool.base(),
            max: pool.max(),
            block_size: pool.block_size(),
            blocks_total: pool.total(),
            blocks_held: held,
            utilization: percent(held, pool.total()),
        },
    })
}
