//! `shards list`: the shards of this repository (or all), read from the
//! ledger; the only things checked on disk are whether each worktree exists
//! and is still the shard's. With `--full`, also what each one is doing
//! (`shard::survey`): dirty files, ahead/behind, last commit, named ports.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use std::collections::HashMap;

use crate::cmd::view::{self, ShardView};
use crate::config::Overrides;
use crate::context::Ctx;
use crate::error::Result;
use crate::model::ShardStatus;
use crate::output::{Render, RenderCtx, Table};
use crate::shard::survey::{self, Survey};

/// List shards with their ports and state
///
/// Reads the ledger and checks only that each worktree folder exists and is
/// still the shard's git worktree, so it stays instant with hundreds of
/// shards. A worktree moved with `git worktree move` is followed (the
/// ledger records where git's record points). STATUS is active, missing
/// (the worktree folder is gone),
/// replaced (the folder is no longer the shard's git worktree; `shards
/// prune` frees its block and leaves the folder), creating or destroying.
///
/// With --full, also reads each worktree (in parallel): DIRTY (M modified
/// and ? untracked files, `env` when the env file or .envrc holds lines
/// shards did not write, which destroy also counts as work; or clean), +/-
/// (commits ahead of and behind its
/// repository's default branch: origin/HEAD, else main, else master, else
/// the main worktree's HEAD; named on stderr), LAST (age of the last
/// commit) and SERVICES (each named port, `*` when something listens on
/// it), in place of PORTS, AGE and PATH (all in --json).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List the shards of every repository, not just this one
    #[arg(long)]
    pub all: bool,

    /// Also show dirty files, ahead/behind, last commit and live ports
    #[arg(long)]
    pub full: bool,
}

/// The listed shards.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListReport {
    /// Shards, by repository then port.
    pub shards: Vec<Listed>,
    /// How many spares (made ahead of their names, `shards spares`) the
    /// listed repositories hold, ready or being made.
    pub spares: usize,
}

/// One listed shard: the ledger's view, and with `--full` its state.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Listed {
    /// The shard as the ledger has it.
    #[serde(flatten)]
    pub shard: ShardView,
    /// What it is doing (only with `--full`).
    #[serde(flatten)]
    pub full: Option<FullView>,
}

/// What `list --full` adds to a shard.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FullView {
    /// Tracked files with changes, staged or not (null when the worktree
    /// could not be read).
    pub modified: Option<usize>,
    /// Untracked files or folders (ignored ones, the env file and `.envrc`
    /// not counted).
    pub untracked: Option<usize>,
    /// The default branch ahead/behind count against (`origin/main`,
    /// `main`, ...); null for a repository without one.
    pub base: Option<String>,
    /// How the default branch was found: `origin/HEAD`, `main`, `master`
    /// or `HEAD` (the main worktree's branch).
    pub base_source: Option<String>,
    /// Commits on the shard's HEAD that the default branch lacks.
    pub ahead: Option<usize>,
    /// Commits on the default branch that the shard's HEAD lacks.
    pub behind: Option<usize>,
    /// When its HEAD commit was made (committer time, RFC 3339, UTC).
    pub last_commit_at: Option<String>,
    /// Why its worktree could not be read (it is missing, or git failed).
    pub worktree_error: Option<String>,
    /// The lines of its env file and `.envrc` that shards did not write,
    /// in the words `destroy` refuses with ("1 line in .env that shards did
    /// not write"); null when there are none.
    pub env_work: Option<String>,
    /// Its named ports.
    pub services: Vec<ServiceLive>,
}

/// A named port and whether something listens on it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ServiceLive {
    /// Service name.
    pub service: String,
    /// Its port.
    pub port: u16,
    /// True when a TCP socket listens on it (a UDP socket is bound, for a
    /// `udp` service); null when the host's listen table cannot be read.
    pub listening: Option<bool>,
}

impl FullView {
    fn of(s: Survey) -> FullView {
        let (state, error) = match s.worktree {
            Ok(state) => (Some(state), None),
            Err(e) => (None, Some(e)),
        };
        let at = |secs: i64| {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
            humantime::format_rfc3339_seconds(t).to_string()
        };
        FullView {
            modified: state.as_ref().map(|s| s.modified),
            untracked: state.as_ref().map(|s| s.untracked),
            base: s.base.as_ref().map(|b| b.short.clone()),
            base_source: s.base.as_ref().map(|b| b.source.to_string()),
            ahead: state.as_ref().and_then(|s| s.ahead),
            behind: state.as_ref().and_then(|s| s.behind),
            last_commit_at: state.as_ref().and_then(|s| s.last_commit).map(at),
            worktree_error: error,
            env_work: s.env_work,
            services: s
                .services
                .into_iter()
                .map(|l| ServiceLive {
                    service: l.service,
                    port: l.port,
                    listening: l.listening,
                })
                .collect(),
        }
    }
}

/// Lists shards.
pub fn run(ctx: &Ctx, args: &ListArgs) -> Result<ListReport> {
    let git_dir = if args.all {
        None
    } else {
        Some(ctx.repo()?.git_dir.clone())
    };
    let (spares, rows): (Vec<_>, Vec<_>) = ctx
        .ledger()?
        .list(git_dir.as_deref())?
        .into_iter()
        .partition(|r| r.spare.is_some());
    let spares = spares.len();
    let mut shards: Vec<Listed> = rows
        .iter()
        .map(|row| Listed {
            shard: ShardView::of(row),
            full: None,
        })
        .collect();
    if !args.full {
        return Ok(ListReport { shards, spares });
    }
    let services = ctx.ledger()?.all_services()?;
    // The env file and `.envrc` are shards' own, whatever a repository
    // names its env file; a config that does not load falls back to the
    // user's (list reads, it must not fail on one repository's file).
    let mut own_files = HashMap::new();
    for row in &rows {
        if own_files.contains_key(&row.repo.git_dir) {
            continue;
        }
        let root = row.repo.root.is_dir().then_some(row.repo.root.as_path());
        let env_file = ctx
            .config_in(root, &Overrides::default())
            .or_else(|_| ctx.config_in(None, &Overrides::default()))
            .map(|c| c.env_file)
            .unwrap_or_else(|_| ".env".to_string());
        own_files.insert(
            row.repo.git_dir.clone(),
            vec![env_file, ".envrc".to_string()],
        );
    }
    for (listed, s) in shards
        .iter_mut()
        .zip(survey::survey(&rows, &own_files, &services))
    {
        listed.full = Some(FullView::of(s));
    }
    Ok(ListReport { shards, spares })
}

/// How DIRTY shows a shard's files.
fn dirty(f: &FullView) -> String {
    match (f.modified, f.untracked) {
        (Some(0), Some(0)) if f.env_work.is_none() => "clean".to_string(),
        (Some(m), Some(u)) => {
            let mut parts = Vec::new();
            if m > 0 {
                parts.push(format!("{m}M"));
            }
            if u > 0 {
                parts.push(format!("{u}?"));
            }
            if f.env_work.is_some() {
                parts.push("env".to_string());
            }
            parts.join(" ")
        }
        _ => "-".to_string(),
    }
}

/// How SERVICES shows a shard's named ports.
fn services(f: &FullView) -> String {
    let words: Vec<String> = f
        .services
        .iter()
        .map(|s| {
            let mark = match s.listening {
                Some(true) => "*",
                Some(false) => "",
                None => "?",
            };
            format!("{}:{}{mark}", s.service, s.port)
        })
        .collect();
    if words.is_empty() {
        "-".to_string()
    } else {
        words.join(" ")
    }
}

/// Renders with a REPO column when `opts` (`--all`) is set; with `--full`
/// (shards that carry their state), DIRTY, +/-, LAST and SERVICES replace
/// PORTS, AGE and PATH, so the table stays readable in 100 columns.
impl Render<bool> for ListReport {
    fn render(&self, w: &mut dyn Write, cx: &RenderCtx<'_, bool>) -> io::Result<()> {
        let all = cx.opts;
        let full = self.shards.iter().any(|s| s.full.is_some());
        let mut headers = if full {
            vec![
                "NAME", "BRANCH", "STATUS", "DIRTY", "+/-", "LAST", "SERVICES",
            ]
        } else {
            vec!["NAME", "BRANCH", "PORTS", "STATUS", "AGE", "PATH"]
        };
        if all {
            headers.insert(0, "REPO");
        }
        let now = std::time::SystemTime::now();
        let mut table = Table::new(headers);
        for listed in &self.shards {
            let s = &listed.shard;
            let status = match s.status {
                ShardStatus::Active => s.status.to_string(),
                other => cx.style.paint("33", other.as_str()),
            };
            let mut row = vec![s.name.clone(), s.branch.clone()];
            if listed.full.is_none() {
                row.push(format!("{}-{}", s.ports.start, s.ports.end));
            }
            row.push(status);
            match &listed.full {
                Some(f) => {
                    let vs = match (f.ahead, f.behind) {
                        (Some(a), Some(b)) => format!("+{a}/-{b}"),
                        _ => "-".to_string(),
                    };
                    let last = f
                        .last_commit_at
                        .as_deref()
                        .and_then(|t| humantime::parse_rfc3339(t).ok())
                        .map(|t| {
                            let secs = now.duration_since(t).map_or(0, |d| d.as_secs());
                            view::age(secs as i64)
                        })
                        .unwrap_or_else(|| "-".to_string());
                    row.extend([dirty(f), vs, last, services(f)]);
                }
                None => row.extend([view::age(s.age_secs(now)), cx.path(&s.path)]),
            }
            if all {
                row.insert(0, cx.path(&s.repo));
            }
            table.row(row);
        }
        table.write(w, cx.style)
    }

    fn notes(&self, _: &RenderCtx<'_, bool>) -> Vec<String> {
        let missing = self
            .shards
            .iter()
            .filter(|s| s.shard.status != ShardStatus::Active)
            .count();
        let mut notes = Vec::new();
        match self.spares {
            0 => {}
            1 => notes.push("1 spare held (`shards spares`).".to_string()),
            n => notes.push(format!("{n} spares held (`shards spares`).")),
        }
        let mut said = std::collections::BTreeSet::new();
        for listed in &self.shards {
            let Some(f) = &listed.full else { continue };
            if let (Some(base), Some(source)) = (&f.base, &f.base_source) {
                let how = match source.as_str() {
                    "origin/HEAD" => "what origin/HEAD points to",
                    "HEAD" => "the main worktree's branch",
                    _ => "the local branch",
                };
                let repo = listed.shard.repo.display();
                if said.insert(format!("{repo}{base}")) {
                    notes.push(format!(
                        "+/-: commits ahead of/behind `{base}` ({how}) in {repo}."
                    ));
                }
            }
            if !f.services.is_empty() && said.insert(String::new()) {
                notes.push("SERVICES: `*` after a port: something listens on it.".to_string());
            }
            if let Some(e) = &f.worktree_error
                && listed.shard.status == ShardStatus::Active
            {
                notes.push(format!("{}: {e}", listed.shard.name));
            }
            if let Some(w) = &f.env_work {
                notes.push(format!("{}: {w}.", listed.shard.name));
            }
        }
        if self.shards.is_empty() {
            notes.push("No shards yet: `shards create NAME` makes one.".to_string());
        } else if missing > 0 {
            notes.push(format!(
                "{missing} shard(s) are not active; `shards prune` reclaims those whose worktree or creator is gone, or whose folder was replaced."
            ));
        }
        notes
    }
}
