//! The proxy's routes: every shard's host names (`SHARD.REPO.localhost`,
//! `SERVICE.SHARD.REPO.localhost`), made from the ledger's rows, and the
//! lookup of a request's `Host`.
//!
//! Names become DNS labels ([`label`]: lower case, `/` and anything else a
//! label cannot hold become `-`, at most 63 bytes). Two names that become
//! one label are told apart without guessing: the one routable first
//! (lowest `order`: made, or claimed from the spares, first) keeps the plain label, and every shard and repository is
//! also reachable at an alias, the label with six hex digits of a hash of
//! its name. A URL written into an env file therefore never goes stale: a
//! newcomer never takes a label from an older shard, and an alias routes
//! for as long as its shard lives. Pure: rows in, routes out; no sockets,
//! no SQLite.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::model::PortBlock;

/// The longest DNS label (RFC 1035).
pub const MAX_LABEL: usize = 63;

/// The service a bare `SHARD.REPO.localhost` goes to when the shard has it.
pub const DEFAULT_SERVICE: &str = "web";

/// The top-level name every route lives under (RFC 6761 resolves it to
/// loopback).
pub const TOP: &str = "localhost";

/// Returns `name` as a DNS label: ASCII lower case, every byte other than
/// a letter, digit or `-` (such as `/`, `.`, `_`) made `-`, no `-` at
/// either end, at most [`MAX_LABEL`] bytes. A name with nothing left is
/// `x`.
pub fn label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    out.truncate(MAX_LABEL);
    let trimmed = out.trim_matches('-');
    match trimmed.is_empty() {
        true => "x".to_string(),
        false => trimmed.to_string(),
    }
}

/// Returns `label` with six hex digits of the hash of `name`, cut to fit
/// in a label: the alias that routes whoever holds the plain label.
fn alias(label: &str, name: &str) -> String {
    let hash = Sha256::digest(name.as_bytes());
    let tag: String = hash[..3].iter().map(|b| format!("{b:02x}")).collect();
    let keep = label.len().min(MAX_LABEL - tag.len() - 1);
    format!("{}-{tag}", label[..keep].trim_end_matches('-'))
}

/// A shard as the proxy routes it: what the ledger says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The shard's row id.
    pub id: i64,
    /// When it became routable (made, or claimed from the spares), as the
    /// ledger's sequence: of two shards whose names become one label, the
    /// lower keeps it.
    pub order: i64,
    /// The repository's row id.
    pub repo_id: i64,
    /// The repository's `{repo}` folder name.
    pub repo: String,
    /// The shard's name.
    pub name: String,
    /// Its block.
    pub block: PortBlock,
    /// Its named services and their ports.
    pub services: Vec<(String, u16)>,
}

/// One routed shard with the labels it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The shard.
    pub shard: Routed,
    /// The shard's label in its URLs: the plain label, or its alias when
    /// an older shard holds the plain one.
    pub label: String,
    /// The repository's label in its URLs.
    pub repo_label: String,
    /// The shard's alias (routes too).
    pub alias: String,
    /// The repository's alias (routes too).
    pub repo_alias: String,
    /// The shard holding the plain label this one lost, if it lost one.
    pub lost_to: Option<String>,
}

impl Route {
    /// Returns the host of the shard (`service: None`) or of one of its
    /// services.
    pub fn host(&self, service: Option<&str>) -> String {
        match service {
            Some(s) => format!("{}.{}.{}.{TOP}", label(s), self.label, self.repo_label),
            None => format!("{}.{}.{TOP}", self.label, self.repo_label),
        }
    }

    /// Returns the URL of the shard or of one of its services through a
    /// proxy on `port`.
    pub fn url(&self, service: Option<&str>, port: u16) -> String {
        format!("http://{}:{port}", self.host(service))
    }

    /// Returns the URL of the shard's alias, which routes it whatever
    /// else is created or destroyed.
    pub fn alias_url(&self, port: u16) -> String {
        format!("http://{}.{}.{TOP}:{port}", self.alias, self.repo_label)
    }

    /// Returns the port a bare host of the shard goes to: its `web`
    /// service, else the first port of its block (`PORT`).
    pub fn default_port(&self) -> (Option<&str>, u16) {
        match self.service(DEFAULT_SERVICE) {
            Some((name, port)) => (Some(name), port),
            None => (None, self.shard.block.start()),
        }
    }

    /// Returns the service whose label is `label_of`, as the shard names
    /// it, and its port.
    pub fn service(&self, label_of: &str) -> Option<(&str, u16)> {
        self.shard
            .services
            .iter()
            .find(|(name, _)| label(name) == label_of)
            .map(|(name, port)| (name.as_str(), *port))
    }
}

/// What a request's host names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A shard's port: its service (`None` for the bare host's `PORT`).
    Found {
        /// The shard.
        route: &'a Route,
        /// The service, as the shard names it.
        service: Option<String>,
        /// The port inside the shard's block.
        port: u16,
    },
    /// A shard, but no service of that name.
    NoService {
        /// The shard.
        route: &'a Route,
        /// The label asked for.
        service: String,
    },
    /// A repository's label with no such shard: its shards.
    NoShard {
        /// The repository's routed shards.
        routes: Vec<&'a Route>,
    },
    /// A host under `.localhost` no repository answers to.
    NoRepo,
    /// Not a `.localhost` host at all: never forwarded anywhere.
    Foreign,
}

/// Every route of the ledger at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    routes: Vec<Route>,
    /// `(repository id, shard label or alias)` → index into `routes`.
    hosts: HashMap<(i64, String), usize>,
    /// Repository label or alias → repository id.
    repos: HashMap<String, i64>,
}

impl Table {
    /// Builds the routes of `shards`, collisions resolved.
    pub fn new(mut shards: Vec<Routed>) -> Table {
        shards.sort_by_key(|s| (s.order, s.id));
        // Repositories: the one registered first keeps a shared label.
        let mut repo_ids: Vec<(i64, &str)> = shards
            .iter()
            .map(|s| (s.repo_id, s.repo.as_str()))
            .collect();
        repo_ids.sort();
        repo_ids.dedup();
        let mut repo_labels: BTreeMap<i64, (String, String)> = BTreeMap::new();
        let mut table = Table::default();
        for (id, dir) in repo_ids {
            let plain = label(dir);
            let alias = alias(&plain, dir);
            let shown = match table.repos.contains_key(&plain) {
                true => alias.clone(),
                false => plain,
            };
            table.repos.insert(shown.clone(), id);
            repo_labels.insert(id, (shown, alias));
        }
        let mut holders: HashMap<(i64, String), String> = HashMap::new();
        for shard in shards {
            let (repo_label, repo_alias) = repo_labels[&shard.repo_id].clone();
            let plain = label(&shard.name);
            let key = (shard.repo_id, plain.clone());
            let lost_to = holders.get(&key).cloned();
            if lost_to.is_none() {
                holders.insert(key, shard.name.clone());
            }
            let alias = alias(&plain, &shard.name);
            table.routes.push(Route {
                label: if lost_to.is_none() {
                    plain
                } else {
                    alias.clone()
                },
                repo_label,
                alias,
                repo_alias,
                lost_to,
                shard,
            });
        }
        // Plain labels first, so an alias never shadows a real name.
        for (i, r) in table.routes.iter().enumerate() {
            table.hosts.insert((r.shard.repo_id, r.label.clone()), i);
        }
        for (i, r) in table.routes.iter().enumerate() {
            table
                .hosts
                .entry((r.shard.repo_id, r.alias.clone()))
                .or_insert(i);
            table
                .repos
                .entry(r.repo_alias.clone())
                .or_insert(r.shard.repo_id);
        }
        table
    }

    /// Returns every route, oldest shard first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Returns the route of the shard with row id `id`.
    pub fn of(&self, id: i64) -> Option<&Route> {
        self.routes.iter().find(|r| r.shard.id == id)
    }

    /// Returns what `host` (a `Host` header's value, port and all) names.
    pub fn lookup(&self, host: &str) -> Lookup<'_> {
        let Some(labels) = parse_host(host) else {
            return Lookup::Foreign;
        };
        let (service, shard, repo) = match labels.as_slice() {
            [shard, repo] => (None, shard, repo),
            [service, shard, repo] => (Some(service), shard, repo),
            _ => return Lookup::NoRepo,
        };
        let Some(&repo_id) = self.repos.get(repo) else {
            return Lookup::NoRepo;
        };
        let Some(&i) = self.hosts.get(&(repo_id, shard.clone())) else {
            return Lookup::NoShard {
                routes: self
                    .routes
                    .iter()
                    .filter(|r| r.shard.repo_id == repo_id)
                    .collect(),
            };
        };
        let route = &self.routes[i];
        let Some(service) = service else {
            let (service, port) = route.default_port();
            return Lookup::Found {
                route,
                service: service.map(str::to_string),
                port,
            };
        };
        match route
            .shard
            .services
            .iter()
            .find(|(n, _)| &label(n) == service)
        {
            Some((name, port)) => Lookup::Found {
                route,
                service: Some(name.clone()),
                port: *port,
            },
            None => Lookup::NoService {
                route,
                service: service.clone(),
            },
        }
    }
}

/// Returns the labels of `host` before `.localhost`, lower case, without
/// a port or a final dot; `None` for a host not under `.localhost`.
fn parse_host(host: &str) -> Option<Vec<String>> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let labels = name.strip_suffix(".localhost")?;
    Some(labels.split('.').map(str::to_string).collect())
}

#[cfg(test)]
mod tests;
