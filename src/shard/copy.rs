//! Gitignored essentials brought into a new shard from the main worktree:
//! what `.worktreeinclude` (gitignore syntax, at the main worktree's root)
//! matches and git ignores is copied (a matched ignored folder whole), what
//! `copy.symlink` matches is linked; and a copied env file gives up the
//! keys the shard sets itself, so its own values win for every loader.
//!
//! Lifecycle layer: asks `worktree` what git ignores, has `fsutil::copy`
//! move the files and `envfile` (pure) edit the copied env file; knows
//! nothing of the command line.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::config::Config;
use crate::envfile;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::fsutil::copy::{Brought, Entry, Way};
use crate::worktree::{self, Repo};

/// The file at the main worktree's root that says what to copy.
pub const INCLUDE_FILE: &str = ".worktreeinclude";

/// What was brought into a new shard.
#[derive(Debug, Clone, Default)]
pub struct Copied {
    /// False when there was nothing to do: no `.worktreeinclude` and no
    /// `copy.symlink` (or a bare repository).
    pub configured: bool,
    /// Files, bytes, links and folders made.
    pub brought: Brought,
    /// Keys of the copied env file that the shard sets itself, commented
    /// out so the shard's values win.
    pub disowned: Vec<String>,
    /// The copied env file as it was left (keys disowned), `None` when no
    /// env file was copied.
    pub env_copied: Option<Vec<u8>>,
    /// How long finding, copying and disowning took.
    pub elapsed: std::time::Duration,
}

/// Brings what `.worktreeinclude` and `copy.symlink` select from the main
/// worktree of `repo` into `worktree`, then disowns the shard's `keys` in a
/// copied env file. Without `.worktreeinclude` and `copy.symlink` it does
/// nothing. `None` when `stop` said to stop; what was made stays for the
/// caller's undo.
pub fn bring_over(
    repo: &Repo,
    worktree: &Path,
    config: &Config,
    keys: &[&str],
    stop: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<Copied>> {
    let source = repo.root.as_path();
    if source == repo.git_dir || source == worktree {
        // A bare repository has no main worktree to copy from.
        return Ok(Some(Copied::default()));
    }
    let include = load_include(source)?;
    if include.is_none() && config.copy_symlink.is_empty() {
        return Ok(Some(Copied::default()));
    }
    let started = std::time::Instant::now();
    let link = symlink_matcher(source, &config.copy_symlink)?;
    let selector = Selector {
        source,
        target: worktree,
        include: include.as_ref(),
        link: &link,
        env_file: Path::new(&config.env_file),
    };
    let mut entries = Vec::new();
    let mut ignored = worktree::ignored_entries(source)?;
    ignored.sort_by(|a, b| a.path.cmp(&b.path));
    for found in ignored {
        selector.select(found.path, found.dir, &mut entries)?;
    }
    let Some(brought) = fsutil::copy::bring(source, worktree, &entries, stop, progress)? else {
        return Ok(None);
    };
    let copied_env = entries
        .iter()
        .any(|e| e.way != Way::Link && selector.env_file.starts_with(&e.rel));
    let (disowned, env_copied) = if copied_env {
        let (disowned, bytes) = disown_in(&worktree.join(&config.env_file), keys)?;
        (disowned, Some(bytes))
    } else {
        (Vec::new(), None)
    };
    Ok(Some(Copied {
        configured: true,
        brought,
        disowned,
        env_copied,
        elapsed: started.elapsed(),
    }))
}

/// Reads and compiles `.worktreeinclude`; `None` when there is none.
fn load_include(source: &Path) -> Result<Option<Gitignore>> {
    let path = source.join(INCLUDE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    // A byte-order mark (Windows editors) is not part of the first
    // pattern, as git skips it in its own ignore files.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut builder = GitignoreBuilder::new(source);
    for (i, line) in text.lines().enumerate() {
        builder
            .add_line(Some(path.clone()), line)
            .map_err(|e| bad_pattern(format!("{}:{}", path.display(), i + 1), line, &e))?;
    }
    let matcher = builder
        .build()
        .map_err(|e| bad_pattern(path.display().to_string(), "", &e))?;
    Ok(Some(matcher))
}

/// Compiles the `copy.symlink` patterns, each error naming where it was set.
fn symlink_matcher(source: &Path, patterns: &[(String, String)]) -> Result<Gitignore> {
    let mut builder = GitignoreBuilder::new(source);
    for (pattern, origin) in patterns {
        builder
            .add_line(None, pattern)
            .map_err(|e| bad_pattern(origin.clone(), pattern, &e))?;
    }
    builder
        .build()
        .map_err(|e| bad_pattern("copy.symlink".into(), "", &e))
}

fn bad_pattern(origin: String, line: &str, err: &ignore::Error) -> Error {
    Error::Config {
        origin,
        message: format!("pattern {line:?}: {err}"),
    }
}

/// Decides, for what git ignores, what is copied, linked or looked into.
struct Selector<'a> {
    source: &'a Path,
    /// The new worktree, which may lie inside the main one.
    target: &'a Path,
    include: Option<&'a Gitignore>,
    link: &'a Gitignore,
    /// The env file, relative to the root: never linked (shards writes it).
    env_file: &'a Path,
}

impl Selector<'_> {
    /// Adds the entry for ignored `rel`, or looks inside an ignored folder
    /// that no pattern takes whole (a pattern such as `.env` matches at
    /// any depth).
    fn select(&self, rel: PathBuf, dir: bool, out: &mut Vec<Entry>) -> Result<()> {
        let full = self.source.join(&rel);
        if full == self.target {
            return Ok(());
        }
        // A worktree root placed inside the main worktree is never copied
        // into itself: its folders are looked into instead.
        let holds_target = self.target.starts_with(&full);
        // A folder holding the env file is never linked whole, or shards
        // would write its section through the link into the main
        // worktree's file; nor copied whole, where the env file may be a
        // link: its entries are taken one by one, the env file as a file.
        let holds_env = dir && self.env_file.starts_with(&rel);
        let linked = self.link.matched_path_or_any_parents(&rel, dir).is_ignore();
        let included = self
            .include
            .is_some_and(|m| m.matched_path_or_any_parents(&rel, dir).is_ignore());
        if !holds_target && !holds_env && (linked || included) {
            // The env file is shards' to write: a file of its own even
            // when the main worktree's is a link (to secrets kept
            // elsewhere, which must never be written through).
            let way = if rel == self.env_file {
                Way::Content
            } else if linked {
                Way::Link
            } else {
                Way::Copy
            };
            out.push(Entry { rel, way });
            return Ok(());
        }
        // Not into another repository or worktree (another shard's, when
        // worktrees live inside the main one): git does not count its
        // files as this repository's either.
        if dir && std::fs::symlink_metadata(full.join(".git")).is_err() {
            let mut names = fsutil::copy::list_dir(&full)?;
            names.sort();
            for (name, is_dir) in names {
                self.select(rel.join(name), is_dir, out)?;
            }
        }
        Ok(())
    }
}

/// Comments out the shard's `keys` in the copied env file at `path`;
/// returns the keys and the file's bytes as left.
fn disown_in(path: &Path, keys: &[&str]) -> Result<(Vec<String>, Vec<u8>)> {
    let existing = fsutil::read_editable(path)?;
    let (bytes, disowned) = envfile::disown(&existing, keys);
    if !disowned.is_empty() {
        fsutil::write_atomically(path, &bytes)?;
    }
    Ok((disowned, bytes))
}
