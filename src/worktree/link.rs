//! The two links between a linked worktree and its repository: the
//! folder's `.git` file names git's admin folder for it, and that admin
//! folder's `gitdir` file names the folder back. Reading them tells which
//! repository a folder belongs to now (after `mv` and `git worktree
//! repair`), whether git's record still names a folder, and when neither
//! can be checked.
//!
//! Part of the `worktree` adapter; must not depend on ports, SQLite or the
//! command line. It only reads, and it never takes an error for "gone":
//! only "no such file" means absent, anything else is [`Link::Unreadable`].

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

/// What a folder is to git, as its `.git` file and git's record say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A linked worktree: its `.git` file names an admin folder whose
    /// `gitdir` names this folder back.
    Worktree {
        /// Canonical common git dir of the repository it belongs to.
        git_dir: PathBuf,
        /// git's name for it (the admin folder's name).
        wt_name: String,
    },
    /// Not a linked worktree: no `.git`, a `.git` folder (a repository of
    /// its own), or a `.git` file whose admin folder is gone or names
    /// another folder.
    Other,
    /// It could not be checked (permissions, a loop of links, …): why.
    Unreadable(String),
}

/// Returns `Ok(false)` when `path` does not exist, `Ok(true)` when it does
/// (a dangling symlink exists), and the error when it cannot be checked:
/// "cannot read" is never "gone".
pub fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads a one-line pointer file (`gitdir: X` when `prefix` is set, else
/// `X`), resolved against `base` when relative. `Ok(None)` when the file
/// does not exist or holds no such line.
fn pointer(file: &Path, prefix: Option<&str>, base: &Path) -> io::Result<Option<PathBuf>> {
    let text = match read_small(file) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(text) = std::str::from_utf8(&text) else {
        return Ok(None);
    };
    let line = text.trim();
    let target = match prefix {
        Some(p) => match line.strip_prefix(p) {
            Some(rest) => rest.trim(),
            None => return Ok(None),
        },
        None => line,
    };
    Ok((!target.is_empty()).then(|| base.join(target)))
}

/// Reads a small file: one `read` when it fits in a page (a pointer file
/// always does), so `list` pays three system calls per link.
fn read_small(file: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = fs::File::open(file)?;
    let mut buf = vec![0; 4096];
    let n = f.read(&mut buf)?;
    buf.truncate(n);
    if n == 4096 {
        f.read_to_end(&mut buf)?;
    }
    Ok(buf)
}

/// Canonicalizes `path`; `Ok(None)` when it does not exist.
fn canonical(path: &Path) -> io::Result<Option<PathBuf>> {
    match fs::canonicalize(path) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Returns true when git's record `admin` names `folder` back: its
/// `gitdir` file and `folder/.git` are the same file.
fn names_back(admin: &Path, folder: &Path) -> io::Result<bool> {
    let Some(back) = pointer(&admin.join("gitdir"), None, admin)? else {
        return Ok(false);
    };
    let (Some(back), Some(dot_git)) = (canonical(&back)?, canonical(&folder.join(".git"))?) else {
        return Ok(false);
    };
    Ok(back == dot_git)
}

/// Tells what the folder at `folder` is to git (see [`Link`]).
pub fn link_of(folder: &Path) -> Link {
    match try_link_of(folder) {
        Ok(Some(link)) => link,
        Ok(None) => Link::Other,
        Err(e) => Link::Unreadable(e.to_string()),
    }
}

fn try_link_of(folder: &Path) -> io::Result<Option<Link>> {
    let dot_git = folder.join(".git");
    match fs::symlink_metadata(&dot_git) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let Some(admin) = pointer(&dot_git, Some("gitdir:"), folder)? else {
        return Ok(None);
    };
    if !names_back(&admin, folder)? {
        return Ok(None);
    }
    let common =
        pointer(&admin.join("commondir"), None, &admin)?.unwrap_or_else(|| admin.join("../.."));
    let (Some(git_dir), Some(wt_name)) = (
        canonical(&common)?,
        admin.file_name().and_then(|n| n.to_str()),
    ) else {
        return Ok(None);
    };
    Ok(Some(Link::Worktree {
        git_dir,
        wt_name: wt_name.to_string(),
    }))
}

/// Returns true when the `.git` file of `folder` names git's record of
/// worktree `wt_name` of the repository at `git_dir`, exactly as written
/// (as shards and `git worktree repair` write it; the test
/// `Repo::owns_folder` makes): one small read, no path resolution, so
/// `list` stays instant. False says nothing: [`link_of`] then decides.
pub fn linked_as_written(folder: &Path, git_dir: &Path, wt_name: &str) -> bool {
    let admin = git_dir.join("worktrees").join(wt_name);
    matches!(pointer(&folder.join(".git"), Some("gitdir:"), folder), Ok(Some(p)) if p == admin)
}

/// Returns true when git's record of worktree `wt_name` in the repository
/// at `git_dir` names the folder at `folder` (whose `.git` exists), whatever
/// that folder's own `.git` file says: a repository moved without
/// `git worktree repair` still names its worktrees.
pub fn names_folder(git_dir: &Path, wt_name: &str, folder: &Path) -> io::Result<bool> {
    names_back(&git_dir.join("worktrees").join(wt_name), folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linked_worktree_names_its_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let git_dir = root.join("repo/.git");
        let admin = git_dir.join("worktrees/w");
        let folder = root.join("w");
        fs::create_dir_all(&admin).unwrap();
        fs::create_dir_all(&folder).unwrap();
        fs::write(
            admin.join("gitdir"),
            format!("{}\n", folder.join(".git").display()),
        )
        .unwrap();
        fs::write(admin.join("commondir"), "../..\n").unwrap();
        fs::write(
            folder.join(".git"),
            format!("gitdir: {}\n", admin.display()),
        )
        .unwrap();
        let link = link_of(&folder);
        assert_eq!(
            link,
            Link::Worktree {
                git_dir: git_dir.clone(),
                wt_name: "w".into()
            }
        );
        assert!(names_folder(&git_dir, "w", &folder).unwrap());
        assert!(linked_as_written(&folder, &git_dir, "w"));
        assert!(!linked_as_written(&folder, &git_dir, "v"));
        // A record that names another folder is not this one's.
        fs::write(admin.join("gitdir"), "/elsewhere/.git\n").unwrap();
        assert_eq!(link_of(&folder), Link::Other);
        assert!(!names_folder(&git_dir, "w", &folder).unwrap());
        // A plain folder is not a worktree.
        fs::remove_file(folder.join(".git")).unwrap();
        assert_eq!(link_of(&folder), Link::Other);
    }

    #[test]
    fn what_cannot_be_checked_is_not_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        assert!(!exists(&root.join("nothing")).unwrap());
        assert!(exists(&root).unwrap());
        // A loop of symlinks cannot be resolved, even by root.
        std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();
        assert!(exists(&root.join("loop/.git")).is_err());
        let folder = root.join("w");
        fs::create_dir_all(&folder).unwrap();
        fs::write(
            folder.join(".git"),
            format!("gitdir: {}\n", root.join("loop/worktrees/w").display()),
        )
        .unwrap();
        assert!(matches!(link_of(&folder), Link::Unreadable(_)));
        assert!(names_folder(&root.join("loop"), "w", &folder).is_err());
    }
}
