//! Parsing one configuration source: TOML text in, a [`Layer`] out, every
//! value kept with its span so errors can name the file and line.
//!
//! Pure core: no file system, no environment (reading the file is
//! `config::load`), no git, SQLite or command line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};

/// One configuration source as written: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[serde(default)]
    pub(super) ports: PortsLayer,
    #[serde(default)]
    pub(super) worktree: WorktreeLayer,
    #[serde(default)]
    pub(super) env: EnvLayer,
    #[serde(default)]
    pub(super) hooks: HooksLayer,
    #[serde(default)]
    pub(super) copy: CopyLayer,
    #[serde(default)]
    pub(super) spares: SparesLayer,
    #[serde(default)]
    pub(super) proxy: ProxyLayer,
}

/// `[proxy]`: the user's own setting; a project file may not set it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxyLayer {
    pub(super) port: Option<Spanned<u16>>,
    pub(super) enabled: Option<Spanned<bool>>,
}

/// `[spares]`: shards made ahead of their names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SparesLayer {
    pub(super) count: Option<Spanned<u16>>,
    pub(super) key: Option<Vec<Spanned<String>>>,
    pub(super) base: Option<Spanned<String>>,
}

/// `[hooks]`: each checked by `config::hooks::hook_from` as it is layered.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HooksLayer {
    pub(super) setup: Option<Spanned<toml::Value>>,
    pub(super) start: Option<Spanned<toml::Value>>,
    pub(super) teardown: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PortsLayer {
    pub(super) base: Option<Spanned<u16>>,
    pub(super) max: Option<Spanned<u16>>,
    pub(super) block_size: Option<Spanned<u16>>,
    /// A service: an offset (`web = 0`) or a table (`web = { offset = 0,
    /// describe = "…", protocol = "udp", health = "/healthz" }`), read in
    /// `resolve` so each mistake gets its own message.
    #[serde(default)]
    pub(super) services: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorktreeLayer {
    pub(super) root: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnvLayer {
    pub(super) file: Option<Spanned<String>>,
    pub(super) direnv: Option<Spanned<bool>>,
    pub(super) compose: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CopyLayer {
    pub(super) symlink: Option<Vec<Spanned<String>>>,
}

/// A parsed layer together with the name of its source and its text, so
/// that values can be traced back to a line.
#[derive(Debug)]
pub struct Source {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) layer: Layer,
    /// A project file (committed in a repository): it may not choose where
    /// worktrees go on the user's disk.
    pub(super) project: bool,
}

impl Source {
    /// Marks the source as a repository's project file.
    pub fn into_project(mut self) -> Source {
        self.project = true;
        self
    }
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses configuration text; `name` (a path) is used in error messages.
pub fn parse(name: &str, text: &str) -> Result<Source> {
    let layer: Layer = toml::from_str(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => {
                let line = line_of(text, span.start);
                let key = text
                    .lines()
                    .nth(line - 1)
                    .and_then(|l| l.split_once('='))
                    .map(|(k, _)| k.trim().to_string());
                (Some(line), key)
            }
            None => (None, None),
        };
        let origin = match line {
            Some(line) => format!("{name}:{line}"),
            None => name.to_string(),
        };
        let message = e.message().trim().to_string();
        Error::Config {
            origin,
            message: match key {
                Some(key) => format!("`{key}`: {message}"),
                None => message,
            },
        }
    })?;
    Ok(Source {
        name: name.to_string(),
        text: text.to_string(),
        layer,
        project: false,
    })
}
