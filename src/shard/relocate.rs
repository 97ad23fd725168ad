//! Repositories and shard folders that changed under shards: a repository
//! moved with `mv` (before or after `git worktree repair`) keeps its
//! shards, a worktree moved with `git worktree move` is followed (by every
//! command, as the ledger opens), a shard folder that is no longer its
//! worktree is `replaced`, and a path that cannot be checked is never
//! taken for gone.
//!
//! A moved repository is known by git's own links, not by its path: after
//! `git worktree repair` a shard folder's `.git` file names the new
//! repository, which names the folder back; before it, the repository
//! shards runs in still names the shard's folder (or the folder it moved
//! to) in its worktree records. Either way the shard's git name must match
//! and its branch exist there.
//!
//! Lifecycle layer: reads git's links through the worktree adapter; writes
//! only a moved repository's or worktree's new place to the ledger.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::host;
use crate::ledger::{Ledger, RepoRow, ShardRow};
use crate::model::{ShardState, ShardStatus};
use crate::worktree::{self, Link, Repo};

use super::debris::Diagnosis;
use super::lookup;

/// Follows what moved under shards since the last run, as the ledger
/// opens, so every command sees the shards where git has them: moved
/// repositories ([`follow_moved_repos`]), then worktrees moved with `git
/// worktree move` ([`follow_moved_worktrees`]). Returns the first error,
/// after trying both.
pub fn follow_moves<'r>(
    ledger: &mut Ledger,
    here: impl FnOnce() -> Option<&'r Repo>,
) -> Result<()> {
    let repos = follow_moved_repos(ledger, here);
    let worktrees = follow_moved_worktrees(ledger);
    repos.and(worktrees).map(|_| ())
}

/// Follows every active shard whose folder is gone and whose repository's
/// own record says it lives elsewhere now (`git worktree move` rewrites
/// `worktrees/<wt_name>/gitdir`; the folder there must point back, see
/// [`lookup::moved`]); records the new folders in one write. Costs a
/// `stat` per shard, and a read of git's record per missing one. Returns
/// how many moved.
pub fn follow_moved_worktrees(ledger: &mut Ledger) -> Result<usize> {
    let moves: Vec<(i64, PathBuf, PathBuf)> = ledger
        .list(None)?
        .into_iter()
        .filter(|s| s.state == ShardState::Active)
        .filter(|s| matches!(worktree::exists(&s.path), Ok(false)))
        .filter_map(|s| lookup::moved(&s).map(|new| (s.id, s.path, new)))
        .collect();
    if moves.is_empty() {
        return Ok(0);
    }
    ledger.set_moved_paths(&moves)
}

/// Follows every repository of the ledger whose git dir is gone and which
/// moved, as git's links show (see the module doc), to its new place;
/// `here` gives the repository shards runs in, if any (asked only when a
/// repository is gone). Returns how many moved.
pub fn follow_moved_repos<'r>(
    ledger: &mut Ledger,
    here: impl FnOnce() -> Option<&'r Repo>,
) -> Result<usize> {
    let repos = ledger.repos()?;
    let gone: Vec<&RepoRow> = repos
        .iter()
        .filter(|r| matches!(worktree::exists(&r.git_dir), Ok(false)))
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    // Only now, with a repository gone, is the one shards runs in looked up.
    let here = here().filter(|h| !repos.iter().any(|r| r.git_dir == h.git_dir));
    let mut moved = 0;
    for old in gone {
        let shards = ledger.list(Some(&old.git_dir))?;
        let Some(repo) = new_place(&shards, here) else {
            continue;
        };
        // Worktrees that moved with the repository (and were repaired)
        // follow it too.
        let paths: Vec<(i64, PathBuf)> = shards
            .iter()
            .filter(|s| matches!(worktree::exists(&s.path), Ok(false)))
            .filter_map(|s| {
                worktree::moved_to(&repo.git_dir, &s.wt_name, &s.path).map(|p| (s.id, p))
            })
            .collect();
        if ledger.move_repo(old.id, &repo.git_dir, &repo.root, &paths)? {
            moved += 1;
        }
    }
    Ok(moved)
}

/// Returns the repository the shards of a gone repository now belong to,
/// if git's links show one (see the module doc).
fn new_place(shards: &[ShardRow], here: Option<&Repo>) -> Option<Repo> {
    for s in shards {
        if let Link::Worktree { git_dir, wt_name } = worktree::link_of(&s.path)
            && wt_name == s.wt_name
            && let Ok(repo) = Repo::discover(&git_dir)
            && repo.git_dir == git_dir
            && repo.branch_exists(&s.branch)
        {
            return Some(repo);
        }
    }
    let here = here?;
    shards
        .iter()
        .any(|s| {
            let named = worktree::names_folder(&here.git_dir, &s.wt_name, &s.path).unwrap_or(false)
                || worktree::moved_to(&here.git_dir, &s.wt_name, &s.path).is_some();
            named && here.branch_exists(&s.branch)
        })
        .then(|| Repo::discover(&here.git_dir).ok())
        .flatten()
}

/// Tells whether the folder of an active shard is still its worktree, as
/// either link says; `Err` (why) when that cannot be checked.
fn still_ours(row: &ShardRow) -> std::result::Result<bool, String> {
    if worktree::linked_as_written(&row.path, &row.repo.git_dir, &row.wt_name) {
        return Ok(true);
    }
    match worktree::link_of(&row.path) {
        Link::Worktree { git_dir, wt_name } => {
            Ok(git_dir == row.repo.git_dir && wt_name == row.wt_name)
        }
        Link::Unreadable(why) => Err(why),
        Link::Other => worktree::names_folder(&row.repo.git_dir, &row.wt_name, &row.path)
            .map_err(|e| e.to_string()),
    }
}

/// Returns what `list` shows for a shard: its state, `missing` when its
/// folder is gone, `replaced` when the folder is no longer a worktree of
/// its repository. A folder that cannot be checked, or whose repository is
/// gone, is taken as it was recorded.
pub fn status(row: &ShardRow) -> ShardStatus {
    if row.state == ShardState::Active
        && worktree::linked_as_written(&row.path, &row.repo.git_dir, &row.wt_name)
    {
        return ShardStatus::Active;
    }
    let exists = !matches!(worktree::exists(&row.path), Ok(false));
    match ShardStatus::of(row.state, exists) {
        // Without its repository, nothing can say whose the folder is.
        ShardStatus::Active
            if still_ours(row) == Ok(false)
                && matches!(worktree::exists(&row.repo.git_dir), Ok(true)) =>
        {
            ShardStatus::Replaced
        }
        status => status,
    }
}

/// Decides, before [`super::debris::diagnose`]'s own rules, the shards
/// whose paths changed: kept when its repository or folder cannot be read,
/// or when its folder is a live worktree of another repository; reclaimable
/// when its folder was replaced. `None` leaves the shard to those rules.
pub fn precheck(row: &ShardRow) -> Option<Diagnosis> {
    if row.state != ShardState::Active && lookup::owner_alive(row) {
        return None;
    }
    // A path that cannot be checked is kept, and the reason says who may
    // check it (in a shared home, a shard's owner may read what others may not).
    let why = |what: &str, e: std::io::Error| match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!("this user may not read its {what}"),
        _ => e.to_string(),
    };
    let keep = |what: &str, path: &Path, why: &dyn Display| {
        let owner = match row.owner_uid {
            Some(uid) if uid != host::current_uid() => format!("its owner (uid {uid})"),
            _ => "a user who may read it".to_string(),
        };
        Some(Diagnosis::Debris {
            reason: format!(
                "its {what} {} cannot be read ({why}), so shards cannot tell whether it is gone; kept: run `shards prune` as {owner}",
                path.display()
            ),
            reclaimable: false,
        })
    };
    let repo_exists = match worktree::exists(&row.repo.git_dir) {
        Ok(found) => found,
        Err(e) => return keep("repository", &row.repo.git_dir, &why("repository", e)),
    };
    let folder_exists = match worktree::exists(&row.path) {
        Ok(found) => found,
        Err(e) => return keep("worktree", &row.path, &why("worktree", e)),
    };
    if row.state != ShardState::Active
        || !folder_exists
        || worktree::linked_as_written(&row.path, &row.repo.git_dir, &row.wt_name)
    {
        return None;
    }
    match worktree::link_of(&row.path) {
        Link::Worktree { git_dir, wt_name }
            if git_dir == row.repo.git_dir && wt_name == row.wt_name =>
        {
            None
        }
        Link::Worktree { git_dir, .. } => Some(Diagnosis::Debris {
            reason: format!(
                "its folder is a live worktree of {}, not of {}; kept with its block",
                git_dir.display(),
                row.repo.git_dir.display()
            ),
            reclaimable: false,
        }),
        Link::Unreadable(text) => keep("worktree", &row.path, &text),
        // The repository is gone: the folder stays, the block goes.
        Link::Other if !repo_exists => None,
        Link::Other => match worktree::names_folder(&row.repo.git_dir, &row.wt_name, &row.path) {
            Ok(true) => None,
            Ok(false) => Some(Diagnosis::Debris {
                reason: "its folder was replaced by one that is not its git worktree".into(),
                reclaimable: true,
            }),
            Err(e) => keep("worktree", &row.path, &why("worktree", e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortBlock;

    fn row(git_dir: PathBuf, path: PathBuf) -> ShardRow {
        ShardRow {
            id: 1,
            repo: RepoRow {
                id: 1,
                root: git_dir.parent().unwrap().to_path_buf(),
                git_dir,
                dir_name: "repo".into(),
            },
            name: "a".into(),
            branch: "a".into(),
            path,
            wt_name: "a".into(),
            made_branch: true,
            state: ShardState::Active,
            pid: None,
            created_at: 0,
            routed: 1,
            block: PortBlock::new(3000, 10).unwrap(),
            owner_uid: None,
            found_clean: false,
            env_copied: None,
            spare: None,
        }
    }

    fn kept(d: Option<Diagnosis>) -> String {
        match d {
            Some(Diagnosis::Debris {
                reason,
                reclaimable: false,
            }) => reason,
            _ => panic!("expected the shard to be kept"),
        }
    }

    #[test]
    fn a_repository_that_cannot_be_checked_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        // A loop of symlinks cannot be resolved, even by root.
        std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();
        let r = row(root.join("loop/repo/.git"), root.join("gone"));
        assert!(kept(precheck(&r)).contains("its repository"));
        assert_eq!(status(&r), ShardStatus::Missing);
    }

    #[test]
    fn a_folder_that_cannot_be_checked_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();
        let r = row(root.join("gone/.git"), root.join("loop/a"));
        assert!(kept(precheck(&r)).contains("its worktree"));
        // Its `.git` names a record behind the loop: not checkable either.
        let folder = root.join("a");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(
            folder.join(".git"),
            format!("gitdir: {}\n", root.join("loop/.git/worktrees/a").display()),
        )
        .unwrap();
        let r = row(root.join("repo/.git"), folder);
        std::fs::create_dir_all(root.join("repo/.git")).unwrap();
        assert!(kept(precheck(&r)).contains("cannot be read"));
        assert_eq!(status(&r), ShardStatus::Active);
    }

    #[test]
    fn a_plain_folder_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("repo/.git/worktrees/a")).unwrap();
        std::fs::create_dir(root.join("a")).unwrap();
        let r = row(root.join("repo/.git"), root.join("a"));
        assert_eq!(status(&r), ShardStatus::Replaced);
        assert!(matches!(
            precheck(&r),
            Some(Diagnosis::Debris {
                reclaimable: true,
                ..
            })
        ));
        // Without its repository, the older rule decides (block freed,
        // folder left).
        let r = row(root.join("gone/.git"), root.join("a"));
        assert!(precheck(&r).is_none());
        assert_eq!(status(&r), ShardStatus::Active);
    }
}
