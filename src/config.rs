//! Configuration: the TOML schema, built-in defaults, and the layering of
//! user file → project `.shards.toml` → `SHARDS_*` variables → flags.
//!
//! `parse` is pure (text in, a layer out); `load` is the only function here
//! that touches the file system. Every error names where the bad value came
//! from (file and line, variable, or flag) and the key, and stops the
//! command: there is never a silent fallback to a default.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::alloc::Pool;
use crate::error::{Error, Result};

/// The built-in first port of the pool.
pub const DEFAULT_BASE: u16 = 3000;
/// The built-in number of ports per shard.
pub const DEFAULT_BLOCK_SIZE: u16 = 100;
/// The built-in env file name.
pub const DEFAULT_ENV_FILE: &str = ".env";

/// One configuration source as written: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[serde(default)]
    ports: PortsLayer,
    #[serde(default)]
    worktree: WorktreeLayer,
    #[serde(default)]
    env: EnvLayer,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortsLayer {
    base: Option<Spanned<u16>>,
    max: Option<Spanned<u16>>,
    block_size: Option<Spanned<u16>>,
    #[serde(default)]
    services: BTreeMap<String, Spanned<u16>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorktreeLayer {
    root: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvLayer {
    file: Option<Spanned<String>>,
    direnv: Option<Spanned<bool>>,
    compose: Option<Spanned<bool>>,
}

/// A parsed layer together with the name of its source and its text, so
/// that values can be traced back to a line.
#[derive(Debug)]
pub struct Source {
    name: String,
    text: String,
    layer: Layer,
    /// A project file (committed in a repository): it may not choose where
    /// worktrees go on the user's disk.
    project: bool,
}

impl Source {
    /// Marks the source as a repository's project file.
    pub fn into_project(mut self) -> Source {
        self.project = true;
        self
    }
}

fn line_of(text: &str, offset: usize) -> usize {
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
];

/// The effective configuration after every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The pool and block size.
    pub pool: Pool,
    /// Named ports at fixed offsets inside every block.
    pub services: BTreeMap<String, u16>,
    /// Where worktrees go; may hold `{repo}` and `{name}`.
    pub worktree_root: Option<String>,
    /// The env file shards manages in each worktree, relative to its root.
    pub env_file: String,
    /// Also write an `.envrc` that loads the env file.
    pub direnv: bool,
    /// Also write `COMPOSE_PROJECT_NAME`.
    pub compose: bool,
}

struct Builder {
    base: (u16, String),
    max: (u16, String),
    block_size: (u16, String),
    services: BTreeMap<String, (u16, String)>,
    worktree_root: Option<(String, String)>,
    env_file: (String, String),
    direnv: bool,
    compose: bool,
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
            self.services
                .insert(name.clone(), (*v.get_ref(), at(v.span())));
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
            "worktree.root" => self.worktree_root = Some((raw.to_string(), origin.into())),
            "env.file" => self.env_file = (raw.to_string(), origin.into()),
            "env.direnv" => self.direnv = parse_bool(origin, key, raw)?,
            "env.compose" => self.compose = parse_bool(origin, key, raw)?,
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
        for (name, (offset, origin)) in self.services {
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
        Ok(Config {
            pool,
            services,
            worktree_root: self.worktree_root.map(|(root, _)| root),
            env_file: self.env_file.0,
            direnv: self.direnv,
            compose: self.compose,
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
    };
    for src in sources {
        b.add_source(src)?;
    }
    for (origin, key, raw) in &overrides.values {
        b.add_override(origin, key, raw)?;
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Config> {
        resolve(32767, &[parse("c.toml", text)?], &Overrides::default())
    }

    #[test]
    fn defaults() {
        let c = resolve(32767, &[], &Overrides::default()).unwrap();
        assert_eq!(
            (c.pool.base(), c.pool.max(), c.pool.block_size()),
            (3000, 32767, 100)
        );
        assert_eq!(c.env_file, ".env");
        assert!(c.compose && !c.direnv);
    }

    #[test]
    fn later_layers_win() {
        let user = parse("user.toml", "[ports]\nbase = 4000\nblock_size = 10\n").unwrap();
        let project = parse("project.toml", "[ports]\nblock_size = 20\n").unwrap();
        let mut o = Overrides::default();
        o.values
            .push(("SHARDS_PORTS_MAX".into(), "ports.max", "5000".into()));
        let c = resolve(32767, &[user, project], &o).unwrap();
        assert_eq!(
            (c.pool.base(), c.pool.max(), c.pool.block_size()),
            (4000, 5000, 20)
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = one("[ports]\n\nblock_size = \"big\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:3: `block_size`"), "{e}");
        let e = one("[ports]\nbase = 1\nfoo = 2\n").unwrap_err().to_string();
        assert!(e.starts_with("c.toml:3") && e.contains("foo"), "{e}");
        let e = one("[ports]\nblock_size = 0\n").unwrap_err().to_string();
        assert!(e.starts_with("c.toml:2: `ports.block_size`"), "{e}");
        let e = one("[ports]\nmax = 70000\n").unwrap_err().to_string();
        assert!(e.starts_with("c.toml:2: `max`"), "{e}");
        let e = one("[ports]\nbase = 5000\nmax = 4000\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.toml:2 and c.toml:3"), "{e}");
        let e = one("[env]\nfile = \"../x\"\n").unwrap_err().to_string();
        assert!(e.starts_with("c.toml:2: `env.file`"), "{e}");
        let e = one("[ports.services]\nweb = 100\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2: `ports.services.web`"), "{e}");
    }

    #[test]
    fn bad_override_names_the_variable() {
        let mut o = Overrides::default();
        o.values
            .push(("SHARDS_PORTS_BASE".into(), "ports.base", "x".into()));
        let e = resolve(32767, &[], &o).unwrap_err().to_string();
        assert!(e.starts_with("SHARDS_PORTS_BASE: `ports.base`"), "{e}");
    }
}
