//! Planning a create: the name, branch, base and path checked against the
//! repository and the ledger, before anything is written.
//!
//! Lifecycle layer: uses the ledger and worktree adapters.

use std::path::Path;

use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::model::{MAX_NAME_LEN, ShardName};
use crate::template::WorktreePlace;
use crate::worktree::{CommitId, Repo, Start};

use crate::shard::build::{Spec, invalid};

/// A shard name and its branch, both checked.
pub struct Names {
    name: ShardName,
    branch: String,
}

impl Names {
    /// Checks a shard name and its branch (the name unless `branch`); pure,
    /// so bad input stops before anything is opened or written.
    pub fn parse(name: &str, branch: Option<&str>) -> Result<Names> {
        let name = ShardName::parse(name).map_err(|r| invalid(name, r))?;
        let branch = match branch {
            // A shard's branch follows its name's rules, but it is the
            // branch that is wrong, and `--branch` that mends it.
            Some(b) => ShardName::parse(b)
                .map_err(|reason| Error::InvalidBranch {
                    name: b.to_string(),
                    reason,
                    hint: format!("pass a --branch of letters, digits, `.`, `_`, `-` and `/` (like a git branch name), up to {MAX_NAME_LEN} characters, not starting with `-`"),
                })?
                .to_string(),
            None => name.to_string(),
        };
        Ok(Names { name, branch })
    }
}

/// What a create was asked for.
pub struct CreateRequest<'a> {
    /// The commit a new branch starts from, when not HEAD.
    pub base: Option<&'a str>,
    /// The worktree path template (`worktree.root` or the default).
    pub root_template: String,
    /// The user's home, for `~/` in the template.
    pub user_home: Option<&'a Path>,
}

/// Where the shard's branch comes from: what `git worktree add` is given.
#[derive(Clone)]
pub(super) enum BranchSource {
    /// A new branch from the user's base (HEAD without one), made by
    /// `git worktree add -b`, so git sets its upstream as it would.
    New { base: Option<String> },
    /// A new branch that git makes from the one remote that has it, and
    /// tracks (git's own DWIM of `git worktree add PATH BRANCH`).
    Remote {
        /// The remote-tracking branch it starts at (`origin/BRANCH`).
        tracking: String,
    },
    /// The local branch as it is.
    Existing,
    /// No branch: a spare, detached at this commit.
    Detached { commit: String },
}

impl BranchSource {
    /// Returns true when the create makes the branch.
    fn makes_branch(&self) -> bool {
        matches!(self, BranchSource::New { .. } | BranchSource::Remote { .. })
    }

    /// Returns what the branch starts at, as the user would name it: the
    /// base (`HEAD` without one), the remote-tracking branch, the existing
    /// branch `branch`, or a spare's commit.
    pub(super) fn start_ref(&self, branch: &str) -> String {
        match self {
            BranchSource::New { base } => base.clone().unwrap_or_else(|| "HEAD".into()),
            BranchSource::Remote { tracking } => tracking.clone(),
            BranchSource::Existing => branch.to_string(),
            BranchSource::Detached { commit } => commit.clone(),
        }
    }

    /// Returns how `git worktree add` starts the worktree.
    pub(super) fn start(&self) -> Start<'_> {
        match self {
            BranchSource::New { base } => Start::New(base.as_deref()),
            BranchSource::Remote { .. } | BranchSource::Existing => Start::Existing,
            BranchSource::Detached { commit } => Start::Detached(commit),
        }
    }
}

/// A validated create, before anything is written.
#[derive(Clone)]
pub struct CreatePlan {
    pub(super) spec: Spec,
    pub(super) source: BranchSource,
    /// The commit the branch starts at (for the undo: a branch this create
    /// made is deleted only while it is still there).
    pub(super) base: CommitId,
    pub(super) warnings: Vec<String>,
}

/// Validates a create against the repository and the ledger; writes nothing.
pub fn plan_create(
    ledger: &Ledger,
    repo: &Repo,
    names: Names,
    req: &CreateRequest<'_>,
) -> Result<CreatePlan> {
    let Names { name, branch } = names;
    if let Some(existing) = ledger.find(&repo.git_dir, name.as_str())? {
        return Err(Error::NameTaken {
            name: name.to_string(),
            repo: repo.root.clone(),
            state: existing.state,
        });
    }
    let mut warnings = Vec::new();
    let source = if repo.branch_exists(&branch) {
        BranchSource::Existing
    } else {
        // Found only on one remote: git makes it from there and tracks it.
        match req.base.is_none().then(|| repo.only_remote_with(&branch)) {
            Some(Some(tracking)) => BranchSource::Remote { tracking },
            _ => BranchSource::New {
                base: req.base.map(str::to_string),
            },
        }
    };
    if source.makes_branch() && repo.is_remote_tracking(&branch) {
        let local = branch.split_once('/').map(|(_, b)| b).unwrap_or(&branch);
        return Err(Error::InvalidBranch {
            name: branch.clone(),
            reason: "it names a remote-tracking branch".to_string(),
            hint: format!("to work on it, use `--branch {local} --base {branch}`"),
        });
    }
    let base = match &source {
        BranchSource::Remote { tracking } => {
            repo.resolve_base(Some(&format!("refs/remotes/{tracking}")))?
        }
        BranchSource::New { base } => repo.resolve_base(base.as_deref())?,
        BranchSource::Detached { commit } => repo.resolve_base(Some(commit))?,
        BranchSource::Existing => {
            if let Some(at) = repo.checked_out_at(&branch)? {
                return Err(Error::BranchCheckedOut { branch, path: at });
            }
            if req.base.is_some() {
                warnings.push(format!(
                    "branch `{branch}` exists, so it is checked out as it is and --base is ignored"
                ));
            }
            repo.resolve_base(Some(&format!("refs/heads/{branch}")))?
        }
    };
    // `{repo}` is the folder name the ledger gives this repository; the
    // path is checked now with the name it would get, and made again with
    // the name it gets inside the transaction that reserves the shard.
    let place = WorktreePlace::Template {
        template: req.root_template.clone(),
        name_folder: name.folder(),
        user_home: req.user_home.map(Path::to_path_buf),
        repo_root: repo.root.clone(),
    };
    let path = place.resolve(&ledger.repo_dir_name(&repo.git_dir, &repo.root, &repo.name)?)?;
    let folder = path
        .file_name()
        .and_then(|f| f.to_str())
        .map(str::to_string);
    Ok(CreatePlan {
        spec: Spec {
            wt_name: repo.free_worktree_name(&folder.unwrap_or_else(|| name.folder())),
            name,
            branch,
            place,
            made_branch: source.makes_branch(),
            spare: None,
        },
        source,
        base,
        warnings,
    })
}

/// Plans a spare of `repo`: a worktree detached at `base` under the home
/// (`template`, with `{repo}` and `{name}`), named `name`, made to fit
/// `fit`; writes nothing.
pub fn plan_spare(
    ledger: &Ledger,
    repo: &Repo,
    name: ShardName,
    template: String,
    base: CommitId,
    fit: String,
) -> Result<CreatePlan> {
    let place = WorktreePlace::Template {
        template,
        name_folder: name.folder(),
        user_home: None,
        repo_root: repo.root.clone(),
    };
    place.resolve(&ledger.repo_dir_name(&repo.git_dir, &repo.root, &repo.name)?)?;
    let commit = base.to_string();
    Ok(CreatePlan {
        spec: Spec {
            wt_name: repo.free_worktree_name(&name.folder()),
            name,
            branch: String::new(),
            place,
            made_branch: false,
            spare: Some(crate::ledger::SpareOf {
                fit,
                base: commit.clone(),
            }),
        },
        source: BranchSource::Detached { commit },
        base,
        warnings: Vec::new(),
    })
}
