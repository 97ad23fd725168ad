//! git through git2: find the repository, resolve refs, add and remove
//! worktrees, and decide whether a branch or a worktree holds work.
//!
//! A linked worktree is written in git's own on-disk layout
//! (`<common>/worktrees/<name>/{gitdir,commondir,HEAD}` and a `.git` file in
//! the folder), then checked out through libgit2 with a progress callback;
//! `git worktree list`, `git status` and `git worktree remove` treat it like
//! one made by `git worktree add`. Adapter: knows git, nothing of ports,
//! SQLite or the command line.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{BranchType, Oid, Repository, StatusOptions, build::CheckoutBuilder};

use crate::error::{Error, Result};

/// A repository found from a working directory.
pub struct Repo {
    /// The repository opened where shards was run (maybe a linked worktree).
    pub repo: Repository,
    /// Canonical path of the common git dir: the repository's identity.
    pub git_dir: PathBuf,
    /// The main worktree, or the git dir of a bare repository.
    pub root: PathBuf,
    /// The root of the worktree shards was run in, if any.
    pub workdir: Option<PathBuf>,
    /// A folder-friendly name for the repository.
    pub name: String,
}

fn canonical(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).map_err(|e| Error::io(path, e))
}

impl Repo {
    /// Finds the repository containing `dir` (also from inside a linked
    /// worktree, which resolves to the same repository).
    pub fn discover(dir: &Path) -> Result<Repo> {
        let repo = Repository::discover(dir).map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => Error::NotARepo {
                path: dir.to_path_buf(),
            },
            _ => Error::Git(e),
        })?;
        let git_dir = canonical(repo.commondir())?;
        let main = Repository::open(&git_dir)?;
        let root = match main.workdir() {
            Some(w) => canonical(w)?,
            None => git_dir.clone(),
        };
        let workdir = repo.workdir().map(canonical).transpose()?;
        let raw = root.file_name().and_then(|n| n.to_str()).unwrap_or("repo");
        let raw = raw
            .strip_suffix(".git")
            .filter(|s| !s.is_empty())
            .unwrap_or(raw);
        let name: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let name = name.trim_start_matches('.').to_string();
        Ok(Repo {
            repo,
            git_dir,
            root,
            workdir,
            name: if name.is_empty() { "repo".into() } else { name },
        })
    }

    /// Returns the commit `base` names, or HEAD's commit without one.
    pub fn resolve_base(&self, base: Option<&str>) -> Result<Oid> {
        match base {
            Some(spec) => {
                let not_found = || Error::RefNotFound { name: spec.to_string(), repo: self.root.clone() };
                // A spec starting with `-` would read as an option to git users; refuse it plainly.
                if spec.starts_with('-') || spec.is_empty() {
                    return Err(not_found());
                }
                let obj = self.repo.revparse_single(spec).map_err(|_| not_found())?;
                let kind = obj.kind().map(|k| k.str()).unwrap_or("object");
                obj.peel_to_commit().map(|c| c.id()).map_err(|_| Error::RepoUnsupported {
                    message: format!("`{spec}` names a {kind}, not a commit"),
                    hint: "pass a branch, tag or commit to --base".into(),
                })
            }
            None => match self.repo.head() {
                Ok(head) => Ok(head.peel_to_commit()?.id()),
                Err(e) if matches!(e.code(), git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound) => {
                    Err(Error::RepoUnsupported {
                        message: format!("the repository {} has no commits yet", self.root.display()),
                        hint: "make a first commit (`git commit --allow-empty -m init`), or pass --base".into(),
                    })
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Returns true when the local branch exists.
    pub fn branch_exists(&self, branch: &str) -> bool {
        self.repo.find_branch(branch, BranchType::Local).is_ok()
    }

    /// Returns the worktree folder where `branch` is checked out, if any.
    pub fn checked_out_at(&self, branch: &str) -> Result<Option<PathBuf>> {
        let full = format!("refs/heads/{branch}");
        let main = Repository::open(&self.git_dir)?;
        let head_is = |r: &Repository| {
            r.find_reference("HEAD")
                .ok()
                .and_then(|h| h.symbolic_target().ok().flatten().map(|t| t == full))
                .unwrap_or(false)
        };
        if !main.is_bare() && head_is(&main) {
            return Ok(Some(self.root.clone()));
        }
        for name in main.worktrees()?.iter().flatten().flatten() {
            let Ok(wt) = main.find_worktree(name) else {
                continue;
            };
            let Ok(r) = Repository::open_from_worktree(&wt) else {
                continue;
            };
            if head_is(&r) {
                return Ok(Some(wt.path().to_path_buf()));
            }
        }
        Ok(None)
    }

    /// Returns the admin folder git uses for worktree `wt_name`.
    pub fn admin_dir(&self, wt_name: &str) -> PathBuf {
        self.git_dir.join("worktrees").join(wt_name)
    }

    /// Returns `wanted`, or `wanted-2`, `wanted-3`, … : the first worktree
    /// name git does not already use.
    pub fn free_worktree_name(&self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut n = 1;
        while self.admin_dir(&name).exists() {
            n += 1;
            name = format!("{wanted}-{n}");
        }
        name
    }

    /// Creates the local branch `branch` at commit `base`.
    pub fn create_branch(&self, branch: &str, base: Oid) -> Result<()> {
        let commit = self.repo.find_commit(base)?;
        self.repo.branch(branch, &commit, false)?;
        Ok(())
    }

    /// Returns true when a checkout of `commit` may need git's filters
    /// (line endings, `ident`, LFS and other drivers): when the tree holds a
    /// `.gitattributes`, the repository has `info/attributes`, one of
    /// `attribute_files` (global and system attribute files) exists, or the
    /// config sets `core.autocrlf`, `core.eol` or `core.attributesFile`.
    pub fn filters_may_apply(&self, commit: Oid, attribute_files: &[PathBuf]) -> Result<bool> {
        let config = self.repo.config()?;
        let set = |key: &str| {
            config
                .get_string(key)
                .is_ok_and(|v| !v.is_empty() && v != "false")
        };
        if set("core.autocrlf") || set("core.eol") || set("core.attributesFile") {
            return Ok(true);
        }
        if self.git_dir.join("info/attributes").exists()
            || attribute_files.iter().any(|f| f.exists())
        {
            return Ok(true);
        }
        let tree = self.repo.find_commit(commit)?.tree()?;
        let mut found = false;
        tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
            if entry.name_bytes() == b".gitattributes" {
                found = true;
                git2::TreeWalkResult::Abort
            } else {
                git2::TreeWalkResult::Ok
            }
        })
        .or_else(|e| if found { Ok(()) } else { Err(e) })?;
        Ok(found)
    }

    /// Adds a worktree for the existing `branch` at `path`, reporting
    /// checkout progress as (done, total); `filters` is false only when
    /// [`Repo::filters_may_apply`] said no filter can apply.
    ///
    /// On error, what this call made may be left behind; [`Repo::remove_worktree`]
    /// undoes it.
    pub fn add_worktree(
        &self,
        wt_name: &str,
        path: &Path,
        branch: &str,
        filters: bool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<()> {
        let admin = self.admin_dir(wt_name);
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| Error::io(p, e)
        };
        fs::create_dir_all(self.git_dir.join("worktrees")).map_err(io(&self.git_dir))?;
        fs::create_dir(&admin).map_err(io(&admin))?;
        // `locked` keeps `git worktree prune` away while the checkout runs, as git does.
        fs::write(admin.join("locked"), "initializing\n").map_err(io(&admin))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::create_dir(path).map_err(io(path))?;
        let path = canonical(path)?;
        let dot_git = path.join(".git");
        fs::write(admin.join("gitdir"), format!("{}\n", dot_git.display())).map_err(io(&admin))?;
        fs::write(admin.join("commondir"), "../..\n").map_err(io(&admin))?;
        fs::write(admin.join("HEAD"), format!("ref: refs/heads/{branch}\n")).map_err(io(&admin))?;
        fs::write(&dot_git, format!("gitdir: {}\n", admin.display())).map_err(io(&dot_git))?;
        let wt = Repository::open(&path)?;
        let mut co = CheckoutBuilder::new();
        co.force();
        // Loading filters costs about 18 failed readlink calls per file in
        // libgit2 (attribute lookups); skip them when no attribute or
        // config could make a filter apply, which changes nothing written.
        if !filters {
            co.disable_filters(true);
        }
        co.progress(|_, done, total| progress(done, total));
        wt.checkout_head(Some(&mut co))?;
        fs::remove_file(admin.join("locked")).map_err(io(&admin))?;
        Ok(())
    }

    /// Returns true when the folder at `path` is worktree `wt_name` of this
    /// repository: its `.git` file points at git's record of that worktree.
    pub fn owns_folder(&self, wt_name: &str, path: &Path) -> bool {
        let admin = self.admin_dir(wt_name);
        fs::read_to_string(path.join(".git"))
            .ok()
            .and_then(|t| {
                t.trim()
                    .strip_prefix("gitdir:")
                    .map(|g| PathBuf::from(g.trim()))
            })
            .is_some_and(|g| g == admin)
    }

    /// Removes a worktree folder and git's record of it.
    ///
    /// The folder is removed only when it is this worktree (see
    /// [`Repo::owns_folder`]) or an empty folder; anything else at `path` is
    /// left in place and returned, so a folder that is not this shard's
    /// worktree is never deleted. The record is removed only when it points
    /// at `path` or at nothing that exists, so another worktree that reused
    /// the name is left alone.
    pub fn remove_worktree(&self, wt_name: &str, path: &Path) -> Result<Option<PathBuf>> {
        let admin = self.admin_dir(wt_name);
        let mut left = None;
        if fs::symlink_metadata(path).is_ok() {
            if self.owns_folder(wt_name, path) {
                remove_tree(path)?;
            } else if fs::remove_dir(path).is_err() {
                left = Some(path.to_path_buf());
            }
        }
        let target = fs::read_to_string(admin.join("gitdir"))
            .ok()
            .map(|g| PathBuf::from(g.trim()));
        let points_here = match target {
            Some(t) => {
                !t.exists()
                    || fs::canonicalize(t.parent().unwrap_or(&t)).ok()
                        == fs::canonicalize(path).ok()
            }
            None => true,
        };
        if admin.exists() && points_here && left.is_none() {
            fs::remove_dir_all(&admin).map_err(|e| Error::io(&admin, e))?;
        }
        Ok(left)
    }

    /// Deletes `branch` when every commit on it is reachable from another
    /// ref (branch, tag, remote-tracking ref or HEAD), so nothing is lost.
    /// Returns why it was kept otherwise; `Ok(None)` when deleted or absent.
    pub fn delete_branch_if_merged(&self, branch: &str) -> Result<Option<String>> {
        let Ok(b) = self.repo.find_branch(branch, BranchType::Local) else {
            return Ok(None);
        };
        let Some(tip) = b.get().target() else {
            return Ok(Some("it is not a plain branch".into()));
        };
        if let Some(at) = self.checked_out_at(branch)? {
            return Ok(Some(format!("it is checked out at {}", at.display())));
        }
        let own = format!("refs/heads/{branch}");
        let mut safe = false;
        for r in self.repo.references()?.flatten() {
            if r.name().ok() == Some(own.as_str()) {
                continue;
            }
            let Ok(commit) = r.peel_to_commit() else {
                continue;
            };
            let id = commit.id();
            if id == tip || self.repo.graph_descendant_of(id, tip)? {
                safe = true;
                break;
            }
        }
        if !safe
            && let Ok(head) = Repository::open(&self.git_dir)?
                .head()
                .and_then(|h| h.peel_to_commit())
        {
            safe = head.id() == tip || self.repo.graph_descendant_of(head.id(), tip)?;
        }
        if !safe {
            return Ok(Some(
                "it has commits that no other branch or tag contains".into(),
            ));
        }
        // Delete the ref directly: libgit2's branch delete re-checks every
        // worktree's HEAD and fails spuriously while another process is
        // removing a worktree; `checked_out_at` above did that check, and
        // tolerates worktrees that vanish under it.
        let mut reference = self.repo.find_reference(&own)?;
        reference.delete()?;
        Ok(None)
    }
}

/// Removes a folder tree, retrying a few times when a file appears in it
/// meanwhile (another shards process finishing an env file write).
fn remove_tree(path: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        match fs::remove_dir_all(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}

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

/// Returns where git says worktree `wt_name` of the repository at `git_dir`
/// lives now, when that is not `recorded` (it was moved with
/// `git worktree move`, or by hand and repaired) and it still points back
/// at its record.
pub fn moved_to(git_dir: &Path, wt_name: &str, recorded: &Path) -> Option<PathBuf> {
    let admin = git_dir.join("worktrees").join(wt_name);
    let gitdir = fs::read_to_string(admin.join("gitdir")).ok()?;
    let dot_git = PathBuf::from(gitdir.trim());
    let folder = dot_git.parent()?.to_path_buf();
    if folder == recorded || !folder.is_dir() {
        return None;
    }
    let back = fs::read_to_string(&dot_git).ok()?;
    let back = back.trim().strip_prefix("gitdir:")?.trim();
    (fs::canonicalize(back).ok()? == fs::canonicalize(&admin).ok()?).then_some(folder)
}

/// Returns true when `file` (relative to the worktree root) is tracked in
/// the worktree's index.
pub fn is_tracked(worktree: &Path, file: &str) -> Result<bool> {
    let repo = Repository::open(worktree)?;
    Ok(repo.index()?.get_path(Path::new(file), 0).is_some())
}

/// Makes sure `file` at the worktree root never shows as untracked: when
/// no ignore rule covers it, appends `/<file>` to the repository's
/// `info/exclude` (shared by all its worktrees). Returns true when it did.
pub fn ensure_ignored(worktree: &Path, file: &str) -> Result<bool> {
    let repo = Repository::open(worktree)?;
    if repo.is_path_ignored(file)? {
        return Ok(false);
    }
    let exclude = repo.commondir().join("info").join("exclude");
    let line = format!("/{file}");
    let current = fs::read_to_string(&exclude).unwrap_or_default();
    if current.lines().any(|l| l.trim() == line) {
        return Ok(false);
    }
    if let Some(dir) = exclude.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let sep = if current.is_empty() || current.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let text = format!("{sep}# added by shards: its env file holds per-shard ports\n{line}\n");
    use std::io::Write;
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&exclude)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::io(&exclude, e))?;
    Ok(true)
}

/// What a folder is, as git sees it.
pub struct WorktreeInfo {
    /// Canonical common git dir of its repository.
    pub git_dir: PathBuf,
    /// True for a linked worktree (not the main one, not bare).
    pub linked: bool,
    /// Canonical root of the worktree.
    pub root: Option<PathBuf>,
    /// The branch checked out, if HEAD is on one.
    pub branch: Option<String>,
    /// git's name for the linked worktree.
    pub wt_name: Option<String>,
}

/// Finds the worktree holding `path` and describes it.
pub fn inspect(path: &Path) -> Result<WorktreeInfo> {
    let repo = Repository::discover(path)?;
    let head = repo.find_reference("HEAD")?;
    let branch = head
        .symbolic_target()
        .ok()
        .flatten()
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .map(str::to_string);
    let wt_name = repo
        .is_worktree()
        .then(|| {
            repo.path()
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
        })
        .flatten();
    Ok(WorktreeInfo {
        git_dir: canonical(repo.commondir())?,
        linked: repo.is_worktree(),
        root: repo.workdir().map(canonical).transpose()?,
        branch,
        wt_name,
    })
}
