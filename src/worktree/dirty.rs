//! The work a removal would lose, for `destroy`'s and `prune`'s checks:
//! uncommitted or untracked files in a worktree, and a detached HEAD whose
//! commit no ref contains.
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. It only reads.

use std::path::Path;

use git2::{Repository, StatusOptions};

use crate::error::Result;

/// Summarises uncommitted or untracked work in the worktree at `path`
/// (ignored files do not count); `None` when it is clean.
pub fn dirty_summary(path: &Path) -> Result<Option<String>> {
    let repo = Repository::open(path)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts))?;
    // A shards process rewriting the env file leaves a temp file for an
    // instant; it is shards' own, not the user's work.
    let work: Vec<_> = statuses
        .iter()
        .filter(|s| {
            !s.path().is_ok_and(|p| {
                Path::new(p)
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".shards-tmp-"))
            })
        })
        .collect();
    if work.is_empty() {
        return stray_head(&repo);
    }
    let (mut untracked, mut changed) = (0, 0);
    let mut names = Vec::new();
    for s in &work {
        if s.status().is_wt_new() {
            untracked += 1;
        } else {
            changed += 1;
        }
        if names.len() < 3 {
            names.push(s.path().unwrap_or("?").to_string());
        }
    }
    let more = if work.len() > names.len() {
        ", …"
    } else {
        ""
    };
    Ok(Some(format!(
        "{changed} changed, {untracked} untracked: {}{more}",
        names.join(", ")
    )))
}

/// Describes a detached HEAD whose commit no ref contains: commits made
/// there would be lost with the worktree.
fn stray_head(repo: &Repository) -> Result<Option<String>> {
    if !repo.head_detached().unwrap_or(false) {
        return Ok(None);
    }
    let Some(head) = repo.head()?.target() else {
        return Ok(None);
    };
    for r in repo.references()?.flatten() {
        if r.name()
            .is_ok_and(|n| n == "HEAD" || n.starts_with("refs/stash"))
        {
            continue;
        }
        if let Ok(c) = r.peel_to_commit()
            && (c.id() == head || repo.graph_descendant_of(c.id(), head)?)
        {
            return Ok(None);
        }
    }
    let short = head.to_string()[..10].to_string();
    Ok(Some(format!(
        "HEAD is detached at {short}, a commit no branch or tag contains"
    )))
}
