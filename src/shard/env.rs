//! The env file in step with the ledger: the variables of a shard's
//! managed section, a write checked before anything changes (prepare), and
//! the write itself (commit), done under a per-shard lock (sync).
//!
//! Lifecycle layer: reads the ledger, edits files through `envfile` (pure)
//! and `fsutil`, asks `worktree` what git tracks and ignores.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::envfile;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::ledger::services::ServicePort;
use crate::ledger::{Ledger, ShardRow};
use crate::model::{compose_project_name, service_url_var, service_var};
use crate::route::Route;
use crate::worktree;

use super::routes;

/// Returns the variables of a shard's managed env section, in file order:
/// the block, the shard, compose's project name, service ports, then, with
/// the shard's route and the proxy's port (`[proxy] enabled`), its URLs.
pub fn vars(
    row: &ShardRow,
    config: &Config,
    services: &[ServicePort],
    urls: Option<(&Route, u16)>,
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
    if let Some((route, port)) = urls {
        vars.push(("SHARD_URL".to_string(), route.url(None, port)));
        for s in services {
            let var = service_url_var(&s.service);
            // A service named `shard` would say SHARD_URL too: the shard's
            // own URL keeps the name (its service's URL is still routed).
            if var != "SHARD_URL" {
                vars.push((var, route.url(Some(&s.service), port)));
            }
        }
    }
    vars
}

/// Returns a shard's variables as the ledger has them now: with `[proxy]
/// enabled`, its URLs as the proxy routes it (a spare has none).
///
/// A URL stays good while the shard lives: the shard that took a label
/// first keeps it, and a later one with the same label is named by its
/// alias, which always routes (`route::Table`).
pub fn current_vars(
    ledger: &Ledger,
    row: &ShardRow,
    config: &Config,
) -> Result<Vec<(String, String)>> {
    let services = ledger.services(row.id)?;
    let urls = match row.spare {
        Some(_) => None,
        None => routes::Urls::load(ledger, config)?,
    };
    Ok(vars(
        row,
        config,
        &services,
        urls.as_ref().and_then(|u| u.of(row.id)),
    ))
}

/// Rewrites the shard's env file from the ledger, so the file and the
/// ledger agree; returns warnings (a tracked file left alone, user keys
/// that shadow ours).
///
/// Reading the ledger and writing the file happen under a per-shard file
/// lock in `<home>/locks`, so of two processes changing a shard's ports at
/// once the last writer always writes the newest ledger state, never an
/// older one.
pub fn sync(ledger: &Ledger, home: &Path, row: &ShardRow, config: &Config) -> Result<Vec<String>> {
    let locks = home.join("locks");
    let sharing = fsutil::Sharing::of(home);
    fsutil::create_home_dir(&locks, sharing)?;
    let lock_path = locks.join(format!("shard-{}.lock", row.id));
    let lock = fsutil::open_lock(&lock_path, sharing)?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    let result = current_vars(ledger, row, config).and_then(|vars| write(&row.path, config, &vars));
    let _ = lock.unlock();
    result
}

/// Writes the managed section into the worktree's env file: [`prepare`],
/// then [`commit`]; returns warnings.
pub fn write(worktree: &Path, config: &Config, vars: &[(String, String)]) -> Result<Vec<String>> {
    commit(worktree, config, prepare(worktree, config, vars)?)
}

/// An env file write that has been checked but not done yet.
pub struct EnvWrite {
    path: PathBuf,
    /// The section's variables, or `None` when the file as read holds them
    /// already or is tracked (and so left alone).
    vars: Option<Vec<(String, String)>>,
    /// False when the file is tracked by git and so not shards' to manage.
    managed: bool,
    warnings: Vec<String>,
    /// The worktree, opened once for the checks of both steps.
    files: worktree::Files,
}

/// Checks everything about writing the managed section into the worktree's
/// env file (tracked, symlinks, damaged markers) without writing anything.
pub fn prepare(worktree: &Path, config: &Config, vars: &[(String, String)]) -> Result<EnvWrite> {
    let file = &config.env_file;
    let path = worktree.join(file);
    let files = worktree::Files::open(worktree)?;
    if files.is_tracked(file)? {
        let warning = format!(
            "{} is tracked by git, so shards left it alone; set `env.file` (for example `.env.shard`) to a file the repository does not track",
            path.display()
        );
        return Ok(EnvWrite {
            path,
            vars: None,
            managed: false,
            warnings: vec![warning],
            files,
        });
    }
    // A folder on the way that is a link could lead out of the worktree.
    let root = std::fs::canonicalize(worktree).map_err(|e| Error::io(worktree, e))?;
    let mut dir = path.parent().unwrap_or(worktree).to_path_buf();
    while !dir.exists() {
        dir = dir.parent().unwrap_or(worktree).to_path_buf();
    }
    let real = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
    let env_error = |message: String| Error::EnvFile {
        path: path.clone(),
        message,
    };
    if !real.starts_with(&root) {
        return Err(env_error(
            "leads outside the worktree through a symbolic link".into(),
        ));
    }
    let existing = fsutil::read_editable(&path).map_err(|e| match e {
        Error::Io { err, .. } => env_error(err.to_string()),
        other => other,
    })?;
    let applied = envfile::apply(&existing, vars).map_err(env_error)?;
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
    let vars = (applied.bytes != existing).then(|| vars.to_vec());
    Ok(EnvWrite {
        path,
        vars,
        managed: true,
        warnings,
        files,
    })
}

/// Does a checked env file write (and the `.envrc` when `env.direnv` is on);
/// returns warnings.
pub fn commit(worktree: &Path, config: &Config, write: EnvWrite) -> Result<Vec<String>> {
    let mut warnings = write.warnings;
    // Everything that can fail goes before the env file's own write (which
    // fails before changing a byte, see `fsutil::edit`), so a failure
    // leaves the env file as it was (and so in step with the
    // ledger, which the caller then rolls back).
    if config.direnv {
        warnings.extend(write_envrc(worktree, &write.files, &config.env_file)?);
    }
    if write.managed {
        write.files.ensure_ignored(&config.env_file)?;
    }
    if let Some(vars) = write.vars {
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
        // In place, with the file read again under the lease: lines other
        // programs append meanwhile stay (see `fsutil::edit`).
        let path = &write.path;
        fsutil::edit(path, |existing| {
            let applied = envfile::apply(existing, &vars).map_err(|message| Error::EnvFile {
                path: path.clone(),
                message,
            })?;
            let changed = applied.bytes != existing;
            Ok(changed.then_some(fsutil::Rewrite {
                slack: applied.end_at,
                bytes: applied.bytes,
            }))
        })?;
    }
    Ok(warnings)
}

/// The lines shards writes into `.envrc` (see [`write_envrc`]).
fn envrc_lines(env_file: &str) -> [String; 2] {
    [
        "# added by shards: load this shard's ports".to_string(),
        format!("dotenv_if_exists {}", envfile::sh_quote(env_file)),
    ]
}

/// Returns the env file and `.envrc` of the worktree when they hold lines
/// shards did not write (the user's own keys, or a whole file that was
/// there before), with how many. shards hides both files from `git
/// status`, so a destroy must count this work itself. Tracked files are
/// left out (git status sees them), and so are symbolic links (removing a
/// link loses nothing). Lines that the same file in the `main` worktree
/// holds (as they are, or disowned by a copy) are not work either: they
/// came from there (`.worktreeinclude`) and are still there. When create
/// recorded what it copied into the env file (`copied`), that record
/// stands in for the main worktree's env file: lines the user later adds
/// there or changes are not the shard's work, and a line added in the
/// shard stays work even if the main file gets it too.
pub fn user_content(
    worktree: &Path,
    main: &Path,
    copied: Option<&[u8]>,
    env_file: &str,
) -> Result<Vec<(PathBuf, usize)>> {
    let mut found = Vec::new();
    for file in [env_file, ".envrc"] {
        let path = worktree.join(file);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        if !meta.is_file() || worktree::is_tracked(worktree, file)? {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        // What create copied into the env file, if it recorded that; else
        // the main worktree's own file, unless it is this one or cannot be
        // read (then every line counts). Only read: it may be a link to
        // secrets kept elsewhere, which the copy took the content of.
        let recorded = copied.filter(|_| file != ".envrc" && main != worktree);
        let base = recorded
            .map(<[u8]>::to_vec)
            .or_else(|| {
                (main != worktree)
                    .then(|| {
                        // A regular file only: a named pipe (secrets tools serve
                        // one) would block the read.
                        let base = main.join(file);
                        let is_file = std::fs::metadata(&base).is_ok_and(|m| m.is_file());
                        is_file.then(|| std::fs::read(&base).ok()).flatten()
                    })
                    .flatten()
            })
            .unwrap_or_default();
        let n = if file == ".envrc" {
            let ours = envrc_lines(env_file);
            let base = String::from_utf8_lossy(&base).into_owned();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !ours.iter().any(|o| o == l))
                .filter(|l| !base.lines().any(|b| b.trim() == *l))
                .count()
        } else {
            envfile::user_lines_beyond(&bytes, &base)
        };
        if n > 0 {
            found.push((path, n));
        }
    }
    Ok(found)
}

/// Makes the worktree's `.envrc` load the env file (`dotenv_if_exists`),
/// keeping every line already there. A tracked `.envrc` is left alone.
fn write_envrc(worktree: &Path, files: &worktree::Files, env_file: &str) -> Result<Vec<String>> {
    let path = worktree.join(".envrc");
    let [comment, line] = envrc_lines(env_file);
    let has_line = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .lines()
            .any(|l| l.trim() == line)
    };
    if files.is_tracked(".envrc")? {
        if fsutil::read_editable(&path).is_ok_and(|t| has_line(&t)) {
            return Ok(Vec::new());
        }
        return Ok(vec![format!(
            "{} is tracked by git, so shards left it alone; add `{line}` to it to load the shard's ports",
            path.display()
        )]);
    }
    if has_line(&fsutil::read_editable(&path)?) {
        return Ok(Vec::new());
    }
    // In place, like the env file: the user's lines stay.
    fsutil::edit(&path, |existing| {
        if has_line(existing) {
            return Ok(None);
        }
        let mut text = existing.to_vec();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        text.extend_from_slice(format!("{comment}\n{line}\n").as_bytes());
        Ok(Some(fsutil::Rewrite::at_end(text)))
    })?;
    files.ensure_ignored(".envrc")?;
    Ok(Vec::new())
}
