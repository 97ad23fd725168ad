//! Commits that live only in a worktree's submodule clones.
//!
//! git clones the submodules of a linked worktree into that worktree's own
//! admin folder (`<common>/worktrees/<name>/modules/<submodule>`), so
//! removing the worktree deletes those clones, and with them every commit
//! that was made there and never pushed. A commit is safe elsewhere when
//! the clone's remote-tracking refs reach it, or when the superproject's
//! object store or the main worktree's clone of the same submodule
//! (`<common>/modules/<submodule>`) holds it.
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. It only reads.

use std::path::Path;

use git2::{Oid, Repository};

use crate::error::Result;

/// A commit found only in a submodule clone that goes with the worktree.
struct Stranded {
    /// The submodule's path from the worktree root.
    submodule: String,
    commit: Oid,
    /// Where it sits: "branch `x`", "HEAD" or "the stash".
    at: String,
}

/// Describes commits in the initialised submodules (and theirs, nested) of
/// the worktree at `path` that no remote-tracking ref of their clone
/// reaches and that neither the superproject's object store nor the main
/// worktree's clone of the submodule holds; `None` when there are none.
pub fn submodule_work(path: &Path) -> Result<Option<String>> {
    let repo = Repository::open(path)?;
    let keeper = Repository::open(repo.commondir())?;
    let mut found = Vec::new();
    scan(
        &repo,
        &keeper,
        &repo.commondir().join("modules"),
        "",
        &mut found,
    )?;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let short = &first.commit.to_string()[..10];
    let more = match found.len() {
        1 => String::new(),
        n => format!(", and {} more", n - 1),
    };
    Ok(Some(format!(
        "submodule `{}`: commit {short} on {} is in none of its remote-tracking branches{more}",
        first.submodule, first.at
    )))
}

/// Adds to `found` the stranded commits of `superproject`'s initialised
/// submodules, then looks into theirs. `main_modules` is where the main
/// worktree keeps its clones of these submodules.
fn scan(
    superproject: &Repository,
    keeper: &Repository,
    main_modules: &Path,
    prefix: &str,
    found: &mut Vec<Stranded>,
) -> Result<()> {
    for sm in superproject.submodules()? {
        // Not initialised (an empty folder): nothing of it is on disk.
        let Ok(clone) = sm.open() else {
            continue;
        };
        let shown = format!("{prefix}{}", sm.path().display());
        let name = sm.name().unwrap_or_default().to_string();
        let main_clone = Repository::open(main_modules.join(&name)).ok();
        for (commit, at) in tips(&clone)? {
            let safe = reaches(&clone, commit, |r| r.starts_with("refs/remotes/"))
                || holds(keeper, commit)
                || main_clone.as_ref().is_some_and(|m| holds(m, commit));
            if !safe {
                found.push(Stranded {
                    submodule: shown.clone(),
                    commit,
                    at,
                });
            }
        }
        scan(
            &clone,
            keeper,
            &main_modules.join(&name).join("modules"),
            &format!("{shown}/"),
            found,
        )?;
    }
    Ok(())
}

/// Returns the commits a user may have made in `clone`: its HEAD, its local
/// branches and its stash, each once, with where it sits.
fn tips(clone: &Repository) -> Result<Vec<(Oid, String)>> {
    let mut tips: Vec<(Oid, String)> = Vec::new();
    let mut add = |id: Oid, at: String| {
        if !tips.iter().any(|(t, _)| *t == id) {
            tips.push((id, at));
        }
    };
    for r in clone.references()?.flatten() {
        let Ok(name) = r.name().map(str::to_string) else {
            continue;
        };
        let at = match name.strip_prefix("refs/heads/") {
            Some(branch) => format!("branch `{branch}`"),
            None if name == "refs/stash" => "the stash".to_string(),
            None => continue,
        };
        if let Ok(c) = r.peel_to_commit() {
            add(c.id(), at);
        }
    }
    if let Ok(head) = clone.head()
        && let Ok(c) = head.peel_to_commit()
    {
        add(c.id(), "HEAD".to_string());
    }
    Ok(tips)
}

/// Returns true when a ref of `repo` whose name passes `wanted` is
/// `commit` or descends from it.
fn reaches(repo: &Repository, commit: Oid, wanted: impl Fn(&str) -> bool) -> bool {
    let Ok(refs) = repo.references() else {
        return false;
    };
    refs.flatten().any(|r| {
        r.name().is_ok_and(&wanted)
            && r.peel_to_commit().is_ok_and(|c| {
                c.id() == commit || repo.graph_descendant_of(c.id(), commit).unwrap_or(false)
            })
    })
}

/// Returns true when the object store of `repo` holds `commit`.
fn holds(repo: &Repository, commit: Oid) -> bool {
    repo.odb().is_ok_and(|odb| odb.exists(commit))
}
