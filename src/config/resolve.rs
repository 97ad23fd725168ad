//! Layering: built-in defaults, then each parsed source, then `SHARDS_*`
//! variables and flags, checked into one [`Config`]. Every error names the
//! source, line or variable the bad value came from.
//!
//! Pure core: no file system, no environment (the caller passes the
//! overrides and the default top of the pool), no git, SQLite or command
//! line.

use std::collections::BTreeMap;
use std::path::Path;

use super::hooks::{Hooks, hook_from};
use super::parse::{Source, line_of};
use super::{Config, DEFAULT_BASE, DEFAULT_BLOCK_SIZE, DEFAULT_ENV_FILE};
use crate::alloc::Pool;
use crate::error::{Error, Result};
use crate::model::{Protocol, ServiceInfo, check_describe, check_health};

/// Settings given as `SHARDS_*` variables or command-line flags, each with
/// the name it was given under.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `(origin, key, raw value)`, in increasing precedence.
    pub values: Vec<(String, &'static str, String)>,
}

/// Keys that may be set by variables and flags, with their variable names.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("SHARDS_PORTS_BASE", "ports.base"),
    ("SHARDS_PORTS_MAX", "ports.max"),
    ("SHARDS_PORTS_BLOCK_SIZE", "ports.block_size"),
    ("SHARDS_WORKTREE_ROOT", "worktree.root"),
    ("SHARDS_ENV_FILE", "env.file"),
    ("SHARDS_ENV_DIRENV", "env.direnv"),
    ("SHARDS_ENV_COMPOSE", "env.compose"),
    ("SHARDS_SPARES_COUNT", "spares.count"),
    ("SHARDS_PROXY_PORT", "proxy.port"),
    ("SHARDS_PROXY_ENABLED", "proxy.enabled"),
];

struct Builder {
    base: (u16, String),
    max: (u16, String),
    block_size: (u16, String),
    services: BTreeMap<String, (u16, ServiceInfo, String)>,
    worktree_root: Option<(String, String)>,
    env_file: (String, String),
    direnv: bool,
    compose: bool,
    hooks: Hooks,
    copy_symlink: Vec<(String, String)>,
    spares: crate::config::Spares,
    proxy: (crate::config::Proxy, String),
    /// Where each `spares.key` entry was set, for its error.
    key_origins: Vec<String>,
}

fn parse_value<T: std::str::FromStr>(origin: &str, key: &str, raw: &str, want: &str) -> Result<T> {
    raw.trim().parse().map_err(|_| Error::Config {
        origin: origin.to_string(),
        message: format!("`{key}`: expected {want}, found {raw:?}"),
    })
}

fn parse_bool(origin: &str, key: &str, raw: &str) -> Result<bool> {
    match raw.trim() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config {
            origin: origin.to_string(),
            message: format!("`{key}`: expected true or false, found {raw:?}"),
        }),
    }
}

/// Reads one `[ports.services]` entry: an offset, or a table with an
/// `offset` and what describes the service; returns why not.
fn service_entry(
    name: &str,
    value: &toml::Value,
) -> std::result::Result<(u16, ServiceInfo), String> {
    let key = format!("`ports.services.{name}`");
    let offset_of = |v: &toml::Value| {
        v.as_integer()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("{key}: the offset is a number from 0 to 65535, found {v}"))
    };
    let toml::Value::Table(table) = value else {
        return Ok((offset_of(value)?, ServiceInfo::default()));
    };
    let mut offset = None;
    let mut info = ServiceInfo::default();
    for (field, v) in table {
        let text = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{key}: `{field}` is a string, found {v}"))
        };
        match field.as_str() {
            "offset" => offset = Some(offset_of(v)?),
            "describe" => {
                let d = text()?;
                check_describe(&d).map_err(|m| format!("{key}: `describe`: {m}"))?;
                info.describe = Some(d);
            }
            "protocol" => {
                let p = text()?;
                info.protocol = Some(Protocol::parse(&p).ok_or_else(|| {
                    format!("{key}: `protocol` is \"tcp\" or \"udp\", found {p:?}")
                })?);
            }
            "health" => {
                let h = text()?;
                check_health(&h).map_err(|m| format!("{key}: `health`: {m}"))?;
                info.health = Some(h);
            }
            other => {
                return Err(format!(
                    "{key}: unknown field `{other}` (a service has `offset`, `describe`, `protocol` and `health`)"
                ));
            }
        }
    }
    let offset = offset.ok_or_else(|| format!("{key}: a service table needs its `offset`"))?;
    Ok((offset, info))
}

impl Builder {
    fn add_source(&mut self, src: &Source) -> Result<()> {
        let at = |span: std::ops::Range<usize>| {
            format!("{}:{}", src.name, line_of(&src.text, span.start))
        };
        let l = &src.layer;
        if let Some(v) = &l.ports.base {
            self.base = (*v.get_ref(), at(v.span()));
        }
        if let Some(v) = &l.ports.max {
            self.max = (*v.get_ref(), at(v.span()));
        }
        if let Some(v) = &l.ports.block_size {
            self.block_size = (*v.get_ref(), at(v.span()));
        }
        for (name, v) in &l.ports.services {
            let origin = at(v.span());
            let (offset, info) =
                service_entry(name, v.get_ref()).map_err(|message| Error::Config {
                    origin: origin.clone(),
                    message,
                })?;
            self.services.insert(name.clone(), (offset, info, origin));
        }
        if let Some(v) = &l.worktree.root {
            if src.project {
                return Err(Error::Config {
                    origin: at(v.span()),
                    message: "`worktree.root` can only be set in your user config or SHARDS_WORKTREE_ROOT: a repository's file must not choose where checkouts go on your disk".into(),
                });
            }
            self.worktree_root = Some((v.get_ref().clone(), at(v.span())));
        }
        if let Some(v) = &l.env.file {
            self.env_file = (v.get_ref().clone(), at(v.span()));
        }
        if let Some(v) = &l.env.direnv {
            self.direnv = *v.get_ref();
        }
        if let Some(v) = &l.env.compose {
            self.compose = *v.get_ref();
        }
        // Later layers win per hook; each remembers its file (trust).
        let h = &l.hooks;
        for (slot, value, name) in [
            (&mut self.hooks.setup, &h.setup, "setup"),
            (&mut self.hooks.start, &h.start, "start"),
            (&mut self.hooks.teardown, &h.teardown, "teardown"),
        ] {
            if let Some(v) = value {
                *slot = Some(hook_from(name, v.get_ref(), &at(v.span()), src.project)?);
            }
        }
        if let Some(v) = &l.spares.count {
            self.spares.count = *v.get_ref();
        }
        if let Some(list) = &l.spares.key {
            self.spares.key = list.iter().map(|v| v.get_ref().clone()).collect();
            self.key_origins = list.iter().map(|v| at(v.span())).collect();
        }
        if let Some(v) = &l.spares.base {
            self.spares.base = Some(v.get_ref().clone());
        }
        for (key, span) in [
            ("port", l.proxy.port.as_ref().map(|v| v.span())),
            ("enabled", l.proxy.enabled.as_ref().map(|v| v.span())),
        ] {
            if let Some(span) = span
                && src.project
            {
                return Err(Error::Config {
                    origin: at(span),
                    message: format!(
                        "`proxy.{key}` can only be set in your user config (or SHARDS_PROXY_PORT): the proxy serves every repository, so a repository's file does not choose it"
                    ),
                });
            }
        }
        if let Some(v) = &l.proxy.port {
            self.proxy = (
                crate::config::Proxy {
                    port: *v.get_ref(),
                    ..self.proxy.0
                },
                at(v.span()),
            );
        }
        if let Some(v) = &l.proxy.enabled {
            self.proxy.0.enabled = *v.get_ref();
        }
        if let Some(list) = &l.copy.symlink {
            self.copy_symlink = list
                .iter()
                .map(|v| (v.get_ref().clone(), at(v.span())))
                .collect();
        }
        Ok(())
    }

    fn add_override(&mut self, origin: &str, key: &str, raw: &str) -> Result<()> {
        let port = "a port number from 1 to 65535";
        match key {
            "ports.base" => self.base = (parse_value(origin, key, raw, port)?, origin.into()),
            "ports.max" => self.max = (parse_value(origin, key, raw, port)?, origin.into()),
            "ports.block_size" => {
                self.block_size = (
                    parse_value(origin, key, raw, "a number from 1 to 65535")?,
                    origin.into(),
                )
            }
            "proxy.enabled" => {
                self.proxy = (
                    crate::config::Proxy {
                        enabled: parse_bool(origin, key, raw)?,
                        ..self.proxy.0
                    },
                    origin.into(),
                )
            }
            "worktree.root" => self.worktree_root = Some((raw.to_string(), origin.into())),
            "env.file" => self.env_file = (raw.to_string(), origin.into()),
            "env.direnv" => self.direnv = parse_bool(origin, key, raw)?,
            "env.compose" => self.compose = parse_bool(origin, key, raw)?,
            "spares.count" => {
                self.spares.count = parse_value(origin, key, raw, "a number from 0 to 65535")?
            }
            "proxy.port" => {
                self.proxy = (
                    crate::config::Proxy {
                        port: parse_value(origin, key, raw, port)?,
                        ..self.proxy.0
                    },
                    origin.into(),
                )
            }
            _ => {
                return Err(Error::Config {
                    origin: origin.to_string(),
                    message: format!("unknown key `{key}`"),
                });
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Config> {
        let bad = |origin: &str, message: String| Error::Config {
            origin: origin.to_string(),
            message,
        };
        if self.block_size.0 == 0 {
            return Err(bad(
                &self.block_size.1,
                "`ports.block_size`: must be at least 1".into(),
            ));
        }
        if self.base.0 == 0 {
            return Err(bad(&self.base.1, "`ports.base`: must be at least 1".into()));
        }
        let pool = Pool::new(self.base.0, self.max.0, self.block_size.0).map_err(|m| {
            let origin = format!("{} and {}", self.base.1, self.max.1);
            bad(
                &origin,
                format!("`ports.base`/`ports.max`/`ports.block_size`: {m}"),
            )
        })?;
        let mut services = BTreeMap::new();
        let mut service_info = BTreeMap::new();
        for (name, (offset, info, origin)) in self.services {
            if !crate::model::valid_service_name(&name) {
                return Err(bad(
                    &origin,
                    format!(
                        "`ports.services.{name}`: a service name is a lowercase letter, then lowercase letters, digits and `_`, up to 40 characters"
                    ),
                ));
            }
            if offset >= pool.block_size() {
                return Err(bad(
                    &origin,
                    format!(
                        "`ports.services.{name}`: offset {offset} is outside a block of {} ports",
                        pool.block_size()
                    ),
                ));
            }
            if let Some((other, _)) = services.iter().find(|(_, o)| **o == offset) {
                return Err(bad(
                    &origin,
                    format!(
                        "`ports.services.{name}`: offset {offset} is already the offset of `{other}`"
                    ),
                ));
            }
            if !info.is_empty() {
                service_info.insert(name.clone(), info);
            }
            services.insert(name, offset);
        }
        let file = &self.env_file.0;
        let path = Path::new(file);
        let plain = !file.is_empty()
            && path.is_relative()
            && path
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && path
                .components()
                .next()
                .is_some_and(|c| c.as_os_str() != ".git");

        if !plain {
            return Err(bad(
                &self.env_file.1,
                format!(
                    "`env.file`: {file:?} must be a relative path inside the worktree, without `..`"
                ),
            ));
        }
        if let Some((root, origin)) = &self.worktree_root
            && root.trim().is_empty()
        {
            return Err(bad(origin, "`worktree.root`: must not be empty".into()));
        }
        for (pattern, origin) in &self.copy_symlink {
            let body = pattern.trim().trim_start_matches('!');
            if body.is_empty() || body.starts_with('#') || body.split('/').any(|p| p == "..") {
                return Err(bad(
                    origin,
                    format!(
                        "`copy.symlink`: {pattern:?} must be a path or pattern relative to the repository root, without `..`"
                    ),
                ));
            }
        }
        if self.proxy.0.port == 0 {
            return Err(bad(
                &self.proxy.1,
                "`proxy.port`: must be at least 1".into(),
            ));
        }
        for (file, origin) in self.spares.key.iter().zip(&self.key_origins) {
            let path = Path::new(file);
            let inside = !file.is_empty()
                && path.is_relative()
                && path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                return Err(bad(
                    origin,
                    format!(
                        "`spares.key`: {file:?} must be a file path relative to the repository root, without `..`"
                    ),
                ));
            }
        }
        Ok(Config {
            pool,
            services,
            service_info,
            worktree_root: self.worktree_root.map(|(root, _)| root),
            env_file: self.env_file.0,
            direnv: self.direnv,
            compose: self.compose,
            hooks: self.hooks,
            copy_symlink: self.copy_symlink,
            spares: self.spares,
            proxy: self.proxy.0,
        })
    }
}

/// Layers the sources (lowest precedence first) and overrides over the
/// defaults, then checks the result.
///
/// `default_max` is the built-in top of the pool (the port before the OS
/// ephemeral range).
pub fn resolve(default_max: u16, sources: &[Source], overrides: &Overrides) -> Result<Config> {
    let builtin = "built-in default".to_string();
    let mut b = Builder {
        base: (DEFAULT_BASE, builtin.clone()),
        max: (default_max, builtin.clone()),
        block_size: (DEFAULT_BLOCK_SIZE, builtin.clone()),
        services: BTreeMap::new(),
        worktree_root: None,
        env_file: (DEFAULT_ENV_FILE.to_string(), builtin),
        direnv: false,
        compose: true,
        hooks: Hooks::default(),
        copy_symlink: Vec::new(),
        spares: crate::config::Spares::default(),
        proxy: (crate::config::Proxy::default(), "built-in default".into()),
        key_origins: Vec::new(),
    };
    for src in sources {
        b.add_source(src)?;
    }
    for (origin, key, raw) in &overrides.values {
        b.add_override(origin, key, raw)?;
    }
    b.finish()
}
