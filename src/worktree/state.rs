//! A worktree measured against the repository's default branch, for
//! `list --full` and `prune --merged`: which branch is the default, the
//! worktree's modified and untracked counts, its HEAD ahead of and behind
//! the default branch, its last commit's time (`read_state`), and whether a
//! branch's changes are already in the default branch, squash merges
//! included (`merge_state`).
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. Every function opens its own `git2::Repository`, so
//! callers may run them on many threads at once. Reads only (a merge check
//! may write tree objects to the object store, as `git merge-tree` does).

use std::path::Path;

use git2::{BranchType, Oid, Repository, StatusOptions};

use super::CommitId;
use crate::error::Result;

/// The branch a repository's work is merged into: where `list --full`
/// counts ahead/behind from and what `prune --merged` checks against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultBranch {
    /// The full ref name (`refs/remotes/origin/main`, `refs/heads/main`),
    /// or `HEAD` for a detached main worktree.
    pub refname: String,
    /// How people name it: `origin/main`, `main`, `HEAD`.
    pub short: String,
    /// How it was found: `origin/HEAD`, `main`, `master` or `HEAD` (the
    /// main worktree's branch).
    pub source: &'static str,
}

/// Finds the default branch of the repository whose common git dir is
/// `git_dir`: what `origin/HEAD` points to when set, else a local `main`,
/// else `master`, else the main worktree's HEAD. `None` for a repository
/// without commits.
pub fn default_branch(git_dir: &Path) -> Result<Option<DefaultBranch>> {
    let repo = Repository::open(git_dir)?;
    if let Ok(r) = repo.find_reference("refs/remotes/origin/HEAD")
        && let Ok(Some(target)) = r.symbolic_target()
        && repo.refname_to_id(target).is_ok()
    {
        let short = target.strip_prefix("refs/remotes/").unwrap_or(target);
        return Ok(Some(DefaultBranch {
            refname: target.to_string(),
            short: short.to_string(),
            source: "origin/HEAD",
        }));
    }
    for (name, source) in [("main", "main"), ("master", "master")] {
        if repo.find_branch(name, BranchType::Local).is_ok() {
            return Ok(Some(DefaultBranch {
                refname: format!("refs/heads/{name}"),
                short: name.to_string(),
                source,
            }));
        }
    }
    let Ok(head) = repo.head() else {
        return Ok(None);
    };
    let (refname, short) = match head.name().ok().filter(|n| n.starts_with("refs/heads/")) {
        Some(n) => (n.to_string(), n["refs/heads/".len()..].to_string()),
        None => ("HEAD".to_string(), "HEAD".to_string()),
    };
    Ok(Some(DefaultBranch {
        refname,
        short,
        source: "HEAD",
    }))
}

/// A worktree's state as `list --full` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorktreeState {
    /// Tracked files with staged or unstaged changes (renames and deletions
    /// included).
    pub modified: usize,
    /// Untracked entries, as `git status` lists them (a new folder is one);
    /// ignored files, shards' own env file and `.envrc` are not counted.
    pub untracked: usize,
    /// Commits on HEAD that the default branch lacks (`None` without one,
    /// or when HEAD has no commit).
    pub ahead: Option<usize>,
    /// Commits on the default branch that HEAD lacks.
    pub behind: Option<usize>,
    /// Unix seconds of HEAD's commit (committer time).
    pub last_commit: Option<i64>,
}

/// Reads the state of the worktree at `path`: its status (not counting
/// the root files named in `own`, shards' env file and `.envrc`) and its
/// HEAD against the ref `base` (a [`DefaultBranch::refname`]).
pub fn read_state(path: &Path, base: Option<&str>, own: &[&str]) -> Result<WorktreeState> {
    let repo = Repository::open(path)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(false);
    let mut state = WorktreeState::default();
    for s in repo.statuses(Some(&mut opts))?.iter() {
        let p = s.path().unwrap_or("");
        let name = Path::new(p).file_name().map(|n| n.to_string_lossy());
        // A shards process rewriting the env file leaves a temp file for
        // an instant: its own, not the user's work.
        if name.is_some_and(|n| n.starts_with(".shards-tmp-")) {
            continue;
        }
        if s.status().is_wt_new() {
            if !own.contains(&p) {
                state.untracked += 1;
            }
        } else {
            state.modified += 1;
        }
    }
    let head = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    if let Some(head) = &head {
        state.last_commit = Some(head.committer().when().seconds());
        let base = base.and_then(|b| repo.revparse_single(b).ok()?.peel_to_commit().ok());
        if let Some(base) = base {
            let (ahead, behind) = repo.graph_ahead_behind(head.id(), base.id())?;
            state.ahead = Some(ahead);
            state.behind = Some(behind);
        }
    }
    Ok(state)
}

/// How a branch's changes reached the default branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    /// Its tip is in the default branch's history (a merge, fast-forward
    /// or rebase that kept the commits).
    Ancestor,
    /// Its commits are not, but it changes something since its merge base
    /// and merging it would change nothing: its changes are there already
    /// (a squash merge, a rebase or cherry-picks).
    Changes,
}

/// What [`merge_state`] found for a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeState {
    /// Merged, and the tip it was found at (delete it only while it is still there).
    Merged(Merged, CommitId),
    /// Its tip is in the default branch's history but no commit was ever
    /// made on it (its reflog holds only its creation): nothing to merge yet.
    Untouched,
    /// Not merged: merging it would change the default branch.
    Open,
    /// Not merged, and nothing to merge: it has commits the default branch
    /// does not hold, but its tree is its merge base's (empty commits, a
    /// change added then reverted), so merging it would change nothing
    /// though the default branch holds none of it.
    NoNetChange,
    /// The branch does not exist.
    Absent,
}

/// Tells whether local branch `branch` of the repository at `git_dir` is
/// merged into the ref `base`: by ancestry, else (when it changes
/// something since its merge base with `base`) by merging it into `base`
/// in memory (as `git merge-tree --write-tree BASE BRANCH`) and finding
/// `base`'s own tree, which is what a squash merge leaves.
pub fn merge_state(git_dir: &Path, branch: &str, base: &str) -> Result<MergeState> {
    let repo = Repository::open(git_dir)?;
    let Ok(b) = repo.find_branch(branch, BranchType::Local) else {
        return Ok(MergeState::Absent);
    };
    let tip = b.get().peel_to_commit()?;
    let base = repo.revparse_single(base)?.peel_to_commit()?;
    if tip.id() == base.id() || repo.graph_descendant_of(base.id(), tip.id())? {
        let refname = format!("refs/heads/{branch}");
        // A branch made from the default branch and never committed on
        // is "in" it too; its reflog tells the two apart.
        let entries = repo.reflog(&refname).map(|r| r.len()).unwrap_or(0);
        if entries == 1 && only_created(&repo, &refname) {
            return Ok(MergeState::Untouched);
        }
        return Ok(MergeState::Merged(Merged::Ancestor, CommitId(tip.id())));
    }
    // A branch whose commits change nothing merges as a no-op too, but
    // there is no change of its for the default branch to hold.
    if let Ok(fork) = repo.merge_base(base.id(), tip.id())
        && repo.find_commit(fork)?.tree_id() == tip.tree_id()
    {
        return Ok(MergeState::NoNetChange);
    }
    let mut index = repo.merge_commits(&base, &tip, None)?;
    if index.has_conflicts() {
        return Ok(MergeState::Open);
    }
    let tree: Oid = index.write_tree_to(&repo)?;
    if tree == base.tree_id() {
        return Ok(MergeState::Merged(Merged::Changes, CommitId(tip.id())));
    }
    Ok(MergeState::Open)
}

/// True when the only reflog entry of `refname` is its creation.
fn only_created(repo: &Repository, refname: &str) -> bool {
    repo.reflog(refname).is_ok_and(|log| {
        log.get(0).is_some_and(|e| {
            e.message()
                .is_ok_and(|m| m.is_some_and(|m| m.starts_with("branch: Created from")))
        })
    })
}
