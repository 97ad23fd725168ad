//! Making a shard: reserve → build → activate, with one undo path.
//!
//! [`create`] and [`adopt`] differ only in what they build between the
//! reservation and activation (a branch and a checkout, or nothing on disk)
//! and so in what their undo removes; [`establish`] owns the sequence: the
//! row and block in one transaction, the build, the env file, then
//! `active`. If any step fails, the build's own undo runs and the row goes,
//! so a failed create leaves what was there before, and so does one that
//! SIGINT or SIGTERM stops (`halt`, between steps); a killed one leaves a
//! `creating` row that `prune` reclaims.
//!
//! Lifecycle layer: uses the ledger, worktree and host adapters.

pub use super::adopt::{AdoptPlan, adopt, plan_adopt};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::config::hooks::Hooks;
use crate::error::{Error, Result};
use crate::host;
use crate::ledger::{Ledger, NewShard, ShardRow};
use crate::model::{ShardName, ShardState};
use crate::template;
use crate::worktree::{CommitId, Outcome, Repo, Start};

use super::copy::{Copied, bring_over};
use super::{Site, env, lookup, now};

/// A shard that was made.
pub struct Made {
    /// Its row, now `active`.
    pub row: ShardRow,
    /// Warnings about the env file or the branch.
    pub warnings: Vec<String>,
    /// What was brought over from the main worktree (`.worktreeinclude`).
    pub copied: Copied,
}

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
            Some(b) => ShardName::parse(b).map_err(|r| invalid(b, r))?.to_string(),
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

/// Returns a shard's worktree folder given its repository's `{repo}` name.
type PathFor = Box<dyn Fn(&str) -> Result<PathBuf>>;

/// What a shard will be, whatever builds it.
pub(super) struct Spec {
    pub(super) name: ShardName,
    pub(super) branch: String,
    /// git's name for its worktree.
    pub(super) wt_name: String,
    pub(super) path_for: PathFor,
    /// Whether this shard makes (and so may delete) its branch.
    pub(super) made_branch: bool,
}

/// A validated create, before anything is written.
pub struct CreatePlan {
    spec: Spec,
    /// The commit the branch starts at (for the undo: a branch this create
    /// made is deleted only while it is still there).
    base: CommitId,
    /// What `git worktree add` is given: a new branch from the user's base
    /// (so git sets its upstream as it would), or the branch as it is.
    from: Option<Option<String>>,
    warnings: Vec<String>,
}

impl CreatePlan {
    /// Returns true when this create makes the branch.
    pub fn makes_branch(&self) -> bool {
        self.spec.made_branch
    }
}

pub(super) fn invalid(name: &str, reason: String) -> Error {
    Error::InvalidName {
        name: name.to_string(),
        reason,
    }
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
    let make_branch = !repo.branch_exists(&branch);
    // Found only on one remote: git makes it from there and tracks it.
    let remote = match (make_branch, req.base) {
        (true, None) => repo.only_remote_with(&branch),
        _ => None,
    };
    if make_branch && repo.is_remote_tracking(&branch) {
        let local = branch.split_once('/').map(|(_, b)| b).unwrap_or(&branch);
        return Err(invalid(
            &branch,
            format!(
                "it names a remote-tracking branch; to work on it, use `--branch {local} --base {branch}`"
            ),
        ));
    }
    let base = if let Some(remote) = &remote {
        repo.resolve_base(Some(&format!("refs/remotes/{remote}")))?
    } else if make_branch {
        repo.resolve_base(req.base)?
    } else {
        if let Some(at) = repo.checked_out_at(&branch)? {
            return Err(Error::BranchCheckedOut { branch, path: at });
        }
        if req.base.is_some() {
            warnings.push(format!(
                "branch `{branch}` exists, so it is checked out as it is and --base is ignored"
            ));
        }
        repo.resolve_base(Some(&format!("refs/heads/{branch}")))?
    };
    // `{repo}` is the folder name the ledger gives this repository; the
    // path is checked now with the name it would get, and made again with
    // the name it gets inside the transaction that reserves the shard.
    let (template, folder) = (req.root_template.clone(), name.folder());
    let (home, root) = (req.user_home.map(Path::to_path_buf), repo.root.clone());
    let path_for: PathFor = Box::new(move |dir: &str| {
        Ok(template::worktree_path(
            &template,
            dir,
            &folder,
            home.as_deref(),
            &root,
        )?)
    });
    let path = path_for(&ledger.repo_dir_name(&repo.git_dir, &repo.root, &repo.name)?)?;
    let folder = path
        .file_name()
        .and_then(|f| f.to_str())
        .map(str::to_string);
    let from = (make_branch && remote.is_none()).then(|| req.base.map(str::to_string));
    Ok(CreatePlan {
        spec: Spec {
            wt_name: repo.free_worktree_name(&folder.unwrap_or_else(|| name.folder())),
            name,
            branch,
            path_for,
            made_branch: make_branch,
        },
        base,
        from,
        warnings,
    })
}

/// Where a create says how it goes.
pub struct Tell<'a> {
    /// Hears the hook steps' announcements.
    pub say: super::hooks::Say<'a>,
    /// Hears (done, total) as the checkout goes.
    pub checkout: &'a mut dyn FnMut(usize, usize),
    /// Hears (done, total) as the copy goes.
    pub copying: &'a mut dyn FnMut(usize, usize),
}

/// Creates a planned shard: block, then branch and worktree by the user's
/// `git worktree add`, then the gitignored files `.worktreeinclude` names
/// (`shard::copy`), then the env file, then the `setup` hook of `hooks`
/// (those [`super::hooks::allowed`] let run; its steps announced through
/// `tell.say`).
pub fn create(
    site: &mut Site<'_>,
    repo: &Repo,
    plan: CreatePlan,
    config: &Config,
    hooks: &Hooks,
    tell: Tell<'_>,
) -> Result<Made> {
    let Tell {
        say,
        checkout: progress,
        copying,
    } = tell;
    // Set once the path is known to be free, under the repository's
    // worktree lock: before that, nothing at the path is ours and the undo
    // must leave it alone. With it, what git may add is told apart from
    // what was there: the worktree records, and whether the branch existed.
    let started = std::cell::Cell::new(false);
    let records_before = std::cell::RefCell::new(std::collections::HashSet::new());
    let branch_was_there = std::cell::Cell::new(true);
    let said = std::cell::RefCell::new(Vec::new());
    let copied = std::cell::RefCell::new(Copied::default());
    let build = |site: &mut Site<'_>, row: &ShardRow| -> Result<()> {
        halt(row)?;
        // Taken before the path and branch are checked, so no other shards
        // process adds a worktree there between the check and git's run;
        // a Ctrl-C while another create holds it ends the wait.
        let lock = super::worktree_lock(site.home, site.held_lock, row.repo.id, &|| halt(row))?;
        if std::fs::symlink_metadata(&row.path).is_ok() {
            return Err(Error::PathTaken {
                path: row.path.clone(),
            });
        }
        *records_before.borrow_mut() = repo.worktree_records();
        branch_was_there.set(repo.branch_exists(&row.branch));
        started.set(true);
        site.crash_point("create:branch");
        halt(row)?;
        crate::fsutil::create_worktree_parent(site.home, &row.path)?;
        let start = match &plan.from {
            Some(base) => Start::New(base.as_deref()),
            None => Start::Existing,
        };
        // A crash point mid-checkout kills git first, as a power cut would.
        let crash = site.crash_at == Some("create:checkout");
        let mut checking = false;
        // A shards that git's hooks start must not wait for this lock.
        let held = lock.as_ref().map(|(_, path)| path.as_os_str());
        let env: Vec<(&str, &std::ffi::OsStr)> = held
            .map(|p| (crate::paths::SHARDS_HELD_REPO_LOCK, p))
            .into_iter()
            .collect();
        let outcome = repo.add_worktree(&row.path, &row.branch, start, &env, &mut |p| {
            if let Some((done, total)) = p {
                checking = true;
                progress(done, total);
            }
            !(crash && checking) && host::interrupt::caught().is_none()
        });
        drop(lock);
        let outcome = outcome?;
        site.crash_point("create:checkout");
        halt(row)?;
        let Outcome::Added(added) = outcome else {
            return Err(Error::GitFailed {
                command: "git worktree add".into(),
                code: None,
                output: "it was stopped".into(),
            });
        };
        if added.wt_name != row.wt_name {
            site.ledger.set_wt_name(row.id, &added.wt_name)?;
        }
        *said.borrow_mut() = added.said;
        // Before the env file is written, so its section lands in a copied
        // env file, whose lines setting the shard's keys are disowned.
        let vars = env::current_vars(site.ledger, row, config)?;
        let keys: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        let stop = || host::interrupt::caught().is_some();
        let brought = bring_over(repo, &row.path, config, &keys, &stop, copying)?;
        if let Some(bytes) = brought.as_ref().and_then(|b| b.env_copied.as_deref()) {
            site.ledger.set_env_copied(row.id, bytes)?;
        }
        site.crash_point("create:copied");
        halt(row)?;
        *copied.borrow_mut() = brought.unwrap_or_default();
        Ok(())
    };
    // Undoes what this create's git made: the folder and git's record of
    // it (only a record that was not there before), and the branch if git
    // made it and nobody committed on it. Returns whether the row may go:
    // it stays only if our own worktree folder could not be removed, for
    // `prune` to retry.
    let (home, held) = (site.home, site.held_lock);
    let undo = |row: &ShardRow| -> bool {
        if !started.get() {
            return true;
        }
        // The path was free when this create began: what runs from it now
        // was started by the create (its setup hook's daemons, out of the
        // steps' process groups). It goes with the folder, or it would
        // hold the freed block's ports.
        stop_leftovers(row);
        let _lock = super::worktree_lock(home, held, row.repo.id, &|| Ok(()));
        let before = records_before.borrow();
        // git's name for the record, which may differ from the one planned.
        let ours = repo
            .worktree_name_at(&row.path)
            .filter(|name| !before.contains(name));
        // Each step is tried on its own, so one that fails does not keep
        // the others from undoing their part.
        let folder = match &ours {
            Some(name) => repo.remove_worktree(name, &row.path).map(|_| ()),
            None => Ok(()),
        };
        // git killed part-way can leave a record and a folder holding only
        // an unfinished `.git` file, which no `.git` link names yet.
        let _ = repo.remove_unfinished(&row.path, &before, true);
        if row.made_branch && !branch_was_there.get() {
            let _ = repo.delete_branch_if_at(&row.branch, plan.base);
        }
        !(folder.is_err() && ours.is_some_and(|name| repo.owns_folder(&name, &row.path)))
    };
    // The setup hook runs in the checked-out worktree with its env file;
    // a failing step (or a signal) fails the create, whose undo runs.
    let setup = |site: &mut Site<'_>, row: &ShardRow| -> Result<Vec<String>> {
        let Some(hook) = &hooks.setup else {
            return Ok(Vec::new());
        };
        let vars = super::hooks::vars(site.ledger, row, config)?;
        super::hooks::run("setup", hook, row, &vars, say, &|| halt(row), true)
    };
    let mut made = establish(site, "create", repo, &plan.spec, config, build, setup, undo)?;
    let mut warnings = plan.warnings;
    warnings.extend(said.take().into_iter().map(|l| format!("git: {l}")));
    warnings.append(&mut made.warnings);
    made.warnings = warnings;
    made.copied = copied.take();
    if let Some(name) = repo.worktree_name_at(&made.row.path) {
        made.row.wt_name = name;
    }
    Ok(made)
}

/// How long a process left running by an undone create gets between
/// SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// Stops what still runs from an undone create's worktree (see
/// `reap::find`, which spares shards and its ancestors); a process that
/// cannot be stopped is left, as the undo goes on.
fn stop_leftovers(row: &ShardRow) {
    let found = super::reap::find(&[row], &[None]);
    let procs: Vec<&[super::reap::Running]> = found.iter().map(|f| f.procs.as_slice()).collect();
    if procs.iter().any(|p| !p.is_empty()) {
        let _ = super::reap::stop(&procs, LEFTOVER_GRACE);
    }
}

/// Fails with [`Error::Interrupted`] once SIGINT or SIGTERM came while
/// they are caught (`host::interrupt`), so the undo runs.
fn halt(row: &ShardRow) -> Result<()> {
    match host::interrupt::caught() {
        Some(signal) => Err(Error::Interrupted {
            signal,
            name: row.name.clone(),
        }),
        None => Ok(()),
    }
}

/// Reserves the row and block for operation `op` (which names the crash
/// points), runs `build`, writes the env file, runs `setup` (which returns
/// warnings) and marks the shard `active`. On any failure runs `undo`
/// (which says whether the row may go) and removes the row.
#[allow(clippy::too_many_arguments)]
pub(super) fn establish(
    site: &mut Site<'_>,
    op: &str,
    repo: &Repo,
    spec: &Spec,
    config: &Config,
    build: impl FnOnce(&mut Site<'_>, &ShardRow) -> Result<()>,
    setup: impl FnOnce(&mut Site<'_>, &ShardRow) -> Result<Vec<String>>,
    undo: impl FnOnce(&ShardRow) -> bool,
) -> Result<Made> {
    let new = NewShard {
        git_dir: &repo.git_dir,
        root: &repo.root,
        dir_name: &repo.name,
        name: spec.name.as_str(),
        branch: &spec.branch,
        path_for: &spec.path_for,
        wt_name: &spec.wt_name,
        made_branch: spec.made_branch,
        owner_uid: host::current_uid(),
        pid: host::current_process(),
        now: now(),
        services: &config.services,
    };
    let mut row = site
        .ledger
        .reserve(&new, &config.pool, lookup::host_busy())?;
    site.crash_point(&format!("{op}:reserved"));
    let built = build(site, &row).and_then(|()| {
        site.crash_point(&format!("{op}:worktree"));
        let mut warnings = env::sync(site.ledger, site.home, &row, config)?;
        site.crash_point(&format!("{op}:env"));
        halt(&row)?;
        warnings.extend(setup(site, &row)?);
        halt(&row)?;
        site.ledger.set_state(row.id, ShardState::Active, None)?;
        Ok(warnings)
    });
    match built {
        Ok(warnings) => {
            row.state = ShardState::Active;
            row.pid = None;
            Ok(Made {
                row,
                warnings,
                copied: Copied::default(),
            })
        }
        Err(cause) => {
            // Errors of the undo are ignored on purpose: the first cause is
            // the one to report, and anything left is still `creating`,
            // which `prune` reclaims.
            if undo(&row) {
                let _ = site.ledger.remove(row.id);
            }
            Err(cause)
        }
    }
}
