//! Configuration: the TOML schema, built-in defaults, and the layering of
//! user file → project `.shards.toml` → `SHARDS_*` variables → flags.
//!
//! `parse` (text in, a layer out) and `resolve` (layers in, a checked
//! [`Config`] out) are pure; [`load`], here, is the only function of the
//! module that touches the file system (an adapter: it must not read the
//! environment, which `paths` does). Every error names where the bad value
//! came from (file and line, variable, or flag) and the key, and stops the
//! command: there is never a silent fallback to a default.

pub mod hooks;
mod parse;
mod resolve;

use std::collections::BTreeMap;
use std::path::Path;

use crate::alloc::Pool;
use crate::error::{Error, Result};
use crate::model::ServiceInfo;

pub use parse::{Layer, Source, parse};
pub use resolve::{ENV_KEYS, Overrides, resolve};

/// The built-in first port of the pool.
pub const DEFAULT_BASE: u16 = 3000;
/// The built-in number of ports per shard.
pub const DEFAULT_BLOCK_SIZE: u16 = 100;
/// The built-in port of `shards proxy`.
pub const DEFAULT_PROXY_PORT: u16 = 1355;
/// The built-in env file name.
pub const DEFAULT_ENV_FILE: &str = ".env";

/// The effective configuration after every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The pool and block size.
    pub pool: Pool,
    /// Named ports at fixed offsets inside every block.
    pub services: BTreeMap<String, u16>,
    /// What describes those of them that say more than an offset.
    pub service_info: BTreeMap<String, ServiceInfo>,
    /// Where worktrees go; may hold `{repo}` and `{name}`.
    pub worktree_root: Option<String>,
    /// The env file shards manages in each worktree, relative to its root.
    pub env_file: String,
    /// Also write an `.envrc` that loads the env file.
    pub direnv: bool,
    /// Also write `COMPOSE_PROJECT_NAME`.
    pub compose: bool,
    /// `[hooks]`: setup, start, teardown, each with the file it came from.
    pub hooks: hooks::Hooks,
    /// `copy.symlink`: gitignore patterns of ignored paths linked to the
    /// main worktree instead of copied, each with where it was set.
    pub copy_symlink: Vec<(String, String)>,
    /// `[spares]`: how many spares to keep ready, and what a fit depends on.
    pub spares: Spares,
    /// `[proxy]`: where `shards proxy` listens, and whether env files name
    /// its URLs.
    pub proxy: Proxy,
}

/// `[proxy]`: the loopback proxy that gives every shard stable URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proxy {
    /// The port it listens on, on 127.0.0.1 and ::1.
    pub port: u16,
    /// Env files carry `SHARD_URL` and `<SERVICE>_URL`.
    pub enabled: bool,
}

impl Default for Proxy {
    fn default() -> Proxy {
        Proxy {
            port: DEFAULT_PROXY_PORT,
            enabled: false,
        }
    }
}

/// `[spares]`: shards made ahead of their names, claimed by `create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spares {
    /// How many to keep ready per repository (0: none).
    pub count: u16,
    /// Files (relative to the repository root) the setup depends on: a
    /// spare fits only a base at which they hold what they held at its fill.
    pub key: Vec<String>,
    /// The ref spares track (default: the repository's default branch).
    pub base: Option<String>,
}

/// Reads and parses a configuration file; a missing file is `None`.
pub fn load(path: &Path) -> Result<Option<Source>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| Error::Config {
                origin: path.display().to_string(),
                message: "the file is not valid UTF-8".into(),
            })?;
            parse(&path.display().to_string(), &text).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests;
