//! What commands share about one shard: how it is shown, the variables its
//! env file holds, writing that file, and taking a shard apart.
//!
//! This is where a shard is "block + worktree + env file"; the adapters
//! below each know only their own part.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::context::Ctx;
use crate::envfile;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::host;
use crate::ledger::ShardRow;
use crate::ledger::services::ServicePort;
use crate::model::{PortBlock, ShardState, compose_project_name, service_var};
use crate::worktree::{self, Repo};

/// A port block as printed in JSON.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PortsView {
    /// First port.
    pub start: u16,
    /// Last port (inclusive).
    pub end: u16,
    /// Number of ports.
    pub count: u16,
}

/// A shard as reports show it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ShardView {
    /// Shard name.
    pub name: String,
    /// Repository root.
    pub repo: PathBuf,
    /// Branch.
    pub branch: String,
    /// Port block.
    pub ports: PortsView,
    /// `active`, `missing` (worktree gone), `creating` or `destroying`.
    pub status: String,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// Worktree folder.
    pub path: PathBuf,
}

impl ShardView {
    /// Builds the view of a ledger row, checking only whether the worktree exists.
    pub fn of(row: &ShardRow) -> ShardView {
        let status = match row.state {
            ShardState::Active if !row.path.exists() => "missing".to_string(),
            state => state.to_string(),
        };
        let created =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(row.created_at.max(0) as u64);
        ShardView {
            name: row.name.clone(),
            repo: row.repo.root.clone(),
            branch: row.branch.clone(),
            ports: PortsView {
                start: row.block.start(),
                end: row.block.end(),
                count: row.block.len(),
            },
            status,
            created_at: humantime::format_rfc3339_seconds(created).to_string(),
            path: row.path.clone(),
        }
    }
}

/// Returns the seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Returns the shard `name` of the current repository.
pub fn require_shard(ctx: &Ctx, name: &str) -> Result<ShardRow> {
    let repo = ctx.repo()?;
    ctx.ledger()?
        .find(&repo.git_dir, name)?
        .ok_or_else(|| Error::ShardNotFound {
            name: name.to_string(),
            repo: repo.root.clone(),
        })
}

/// Returns the host's "is any port of this block in use" test: the kernel's
/// listen table when readable, else a bind test on every port.
pub fn host_busy() -> impl FnMut(PortBlock) -> bool {
    let listening = host::listening_tcp_ports();
    move |b: PortBlock| match &listening {
        Some(ports) => ports.range(b.start()..=b.end()).next().is_some(),
        None => (b.start()..=b.end()).any(host::port_busy_by_bind),
    }
}

/// Follows a worktree that git says was moved: when the recorded folder is
/// gone but git's record of the worktree points at a folder that points
/// back, the ledger is updated to the new folder and the row returned with
/// it. Otherwise the row comes back as it was.
pub fn follow_move(ctx: &Ctx, mut row: ShardRow) -> Result<ShardRow> {
    if row.path.exists() || !row.repo.git_dir.exists() {
        return Ok(row);
    }
    if let Some(new) = worktree::moved_to(&row.repo.git_dir, &row.wt_name, &row.path) {
        ctx.ledger()?.set_path(row.id, &new)?;
        row.path = new;
    }
    Ok(row)
}

/// Returns true when the process recorded on a row is still running.
pub fn owner_alive(row: &ShardRow) -> bool {
    row.pid
        .is_some_and(|(pid, start)| host::process_alive(pid, start))
}

/// Returns the variables of a shard's managed env section, in file order:
/// the block, the shard, compose's project name, then service ports.
pub fn env_vars(
    row: &ShardRow,
    config: &Config,
    services: &[ServicePort],
) -> Vec<(String, String)> {
    let b = row.block;
    let mut vars = vec![
        ("PORT_RANGE_START".to_string(), b.start().to_string()),
        ("PORT_RANGE_END".to_string(), b.end().to_string()),
        ("PORT_COUNT".to_string(), b.len().to_string()),
        ("PORT".to_string(), b.start().to_string()),
        ("SHARD_NAME".to_string(), row.name.clone()),
    ];
    if config.compose {
        vars.push((
            "COMPOSE_PROJECT_NAME".to_string(),
            compose_project_name(&row.repo.dir_name, &row.name),
        ));
    }
    for s in services {
        vars.push((service_var(&s.service), s.port.to_string()));
    }
    vars
}

/// Rewrites the shard's env file from the ledger, so the file and the
/// ledger agree; returns warnings as [`write_env`] does.
///
/// Reading the ledger and writing the file happen under a per-shard file
/// lock, so of two processes changing a shard's ports at once the last
/// writer always writes the newest ledger state, never an older one.
pub fn sync_env(ctx: &Ctx, row: &ShardRow, config: &Config) -> Result<Vec<String>> {
    let locks = ctx.env.home.join("locks");
    fsutil::create_private_dir(&locks)?;
    let lock_path = locks.join(format!("shard-{}.lock", row.id));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    let services = ctx.ledger()?.services(row.id)?;
    let result = write_env(&row.path, config, &env_vars(row, config, &services));
    let _ = lock.unlock();
    result
}

/// Returns the shard named `name`, or without a name the shard whose
/// worktree holds the working directory.
pub fn resolve_shard(ctx: &Ctx, name: Option<&str>) -> Result<ShardRow> {
    if let Some(name) = name {
        return require_shard(ctx, name);
    }
    let repo = ctx.repo()?;
    let here = repo.workdir.clone().ok_or_else(|| Error::NotInShard {
        path: ctx.cwd.clone(),
    })?;
    let rows = ctx.ledger()?.list(Some(&repo.git_dir))?;
    rows.into_iter()
        .find(|r| std::fs::canonicalize(&r.path).is_ok_and(|p| p == here))
        .ok_or(Error::NotInShard {
            path: ctx.cwd.clone(),
        })
}

/// An env file write that has been checked but not done yet.
pub struct EnvWrite {
    path: PathBuf,
    /// The new content, or `None` when nothing changes or the file is
    /// tracked (and so left alone).
    bytes: Option<Vec<u8>>,
    /// False when the file is tracked by git and so not shards' to manage.
    managed: bool,
    warnings: Vec<String>,
}

/// Checks everything about writing the managed section into the worktree's
/// env file (tracked, symlinks, damaged markers) without writing anything.
pub fn prepare_env(
    worktree: &Path,
    config: &Config,
    vars: &[(String, String)],
) -> Result<EnvWrite> {
    let file = &config.env_file;
    let path = worktree.join(file);
    if worktree::is_tracked(worktree, file)? {
        let warning = format!(
            "{} is tracked by git, so shards left it alone; set `env.file` (for example `.env.shard`) to a file the repository does not track",
            path.display()
        );
        return Ok(EnvWrite {
            path,
            bytes: None,
            managed: false,
            warnings: vec![warning],
        });
    }
    // A folder on the way that is a link could lead out of the worktree.
    let root = std::fs::canonicalize(worktree).map_err(|e| Error::io(worktree, e))?;
    let mut dir = path.parent().unwrap_or(worktree).to_path_buf();
    while !dir.exists() {
        dir = dir.parent().unwrap_or(worktree).to_path_buf();
    }
    let real = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
    if !real.starts_with(&root) {
        return Err(Error::EnvFile {
            path,
            message: "leads outside the worktree through a symbolic link".into(),
        });
    }
    let existing = fsutil::read_editable(&path).map_err(|e| match e {
        Error::Io { err: source, .. } => Error::EnvFile {
            path: path.clone(),
            message: source.to_string(),
        },
        other => other,
    })?;
    let applied = envfile::apply(&existing, vars).map_err(|message| Error::EnvFile {
        path: path.clone(),
        message,
    })?;
    let warnings = applied
        .shadowed
        .iter()
        .map(|k| {
            format!(
                "{} also sets {k} outside the shards section; loaders may use either value",
                path.display()
            )
        })
        .collect();
    let bytes = (applied.bytes != existing).then_some(applied.bytes);
    Ok(EnvWrite {
        path,
        bytes,
        managed: true,
        warnings,
    })
}

/// Does a checked env file write (and the `.envrc` when `env.direnv` is on);
/// returns warnings.
pub fn commit_env(worktree: &Path, config: &Config, write: EnvWrite) -> Result<Vec<String>> {
    let mut warnings = write.warnings;
    // Everything that can fail goes before the env file's own atomic write,
    // so a failure leaves the env file as it was (and so in step with the
    // ledger, which the caller then rolls back).
    if config.direnv {
        warnings.extend(write_envrc(worktree, &config.env_file)?);
    }
    if write.managed {
        worktree::ensure_ignored(worktree, &config.env_file)?;
    }
    if let Some(bytes) = write.bytes {
        // Make missing folders one by one from the worktree root down, so a
        // worktree removed meanwhile (a racing destroy) is never recreated.
        let rel = write.path.strip_prefix(worktree).unwrap_or(&write.path);
        let mut dir = worktree.to_path_buf();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::io(&dir, e));
                }
                _ => {}
            }
        }
        fsutil::write_atomically(&write.path, &bytes)?;
    }
    Ok(warnings)
}

/// Writes the managed section into the worktree's env file; returns
/// warnings (a tracked file left alone, user keys that shadow ours).
pub fn write_env(
    worktree: &Path,
    config: &Config,
    vars: &[(String, String)],
) -> Result<Vec<String>> {
    let write = prepare_env(worktree, config, vars)?;
    commit_env(worktree, config, write)
}

/// Makes the worktree's `.envrc` load the env file (`dotenv_if_exists`),
/// keeping every line already there. A tracked `.envrc` is left alone.
fn write_envrc(worktree: &Path, env_file: &str) -> Result<Vec<String>> {
    let path = worktree.join(".envrc");
    let line = format!("dotenv_if_exists {}", crate::cmd::env::sh_quote(env_file));
    let has_line = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .lines()
            .any(|l| l.trim() == line)
    };
    if worktree::is_tracked(worktree, ".envrc")? {
        if fsutil::read_editable(&path).is_ok_and(|t| has_line(&t)) {
            return Ok(Vec::new());
        }
        return Ok(vec![format!(
            "{} is tracked by git, so shards left it alone; add `{line}` to it to load the shard's ports",
            path.display()
        )]);
    }
    let mut text = fsutil::read_editable(&path)?;
    if has_line(&text) {
        return Ok(Vec::new());
    }
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend_from_slice(
        format!("# added by shards: load this shard's ports\n{line}\n").as_bytes(),
    );
    fsutil::write_atomically(&path, &text)?;
    worktree::ensure_ignored(worktree, ".envrc")?;
    Ok(Vec::new())
}

/// What taking a shard apart did.
pub struct Teardown {
    /// True when the shard's branch was deleted.
    pub branch_deleted: bool,
    /// What was kept or left in place, and why.
    pub notes: Vec<String>,
}

/// Removes a shard's worktree and git's record of it, then its branch when
/// the shard made it and nothing on it would be lost. Does not touch the
/// ledger.
pub fn take_apart(repo: &Repo, row: &ShardRow) -> Result<Teardown> {
    let mut notes = Vec::new();
    if let Some(left) = repo.remove_worktree(&row.wt_name, &row.path)? {
        notes.push(format!(
            "left {} in place: it is not this shard's git worktree",
            left.display()
        ));
    }
    let kept = if row.made_branch {
        repo.delete_branch_if_merged(&row.branch)?
    } else {
        Some("it existed before the shard".to_string())
    };
    if let Some(why) = &kept {
        notes.push(format!("kept branch `{}`: {why}", row.branch));
    }
    Ok(Teardown {
        branch_deleted: kept.is_none(),
        notes,
    })
}

/// The error for a shard another live process is creating or destroying.
pub fn busy(row: &ShardRow) -> Error {
    Error::Busy {
        name: row.name.clone(),
        action: if row.state == ShardState::Creating {
            "created"
        } else {
            "destroyed"
        }
        .into(),
        pid: row.pid.map(|p| p.0).unwrap_or(0),
    }
}
