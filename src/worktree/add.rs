//! Adding a worktree with the user's own `git worktree add`, run as a child
//! process, so the result is exactly git's: hooks (`post-checkout`, also
//! under `core.hooksPath`), smudge and process filters (`filter.X.required`),
//! `working-tree-encoding`, sparse checkout, upstream setting, the DWIM of a
//! branch found only on a remote, and the HEAD reflog.
//!
//! git's `Updating files: NN% (a/b)` progress (forced with
//! `GIT_PROGRESS_DELAY=0`) is read from its stderr and handed to the
//! caller; its other lines are kept for the error or the warnings. The
//! child runs in its own process group: when the caller asks it to stop (a
//! signal came), the whole group (git, its `reset`, a hook) is killed
//! before the caller undoes what git made, and a shards process killed
//! outright takes git with it (`PR_SET_PDEATHSIG`).
//!
//! Part of the `worktree` adapter; knows nothing of ports, SQLite, signals
//! or the command line.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Repo;
use crate::error::{Error, Result};

/// Where the new worktree's branch comes from.
pub enum Start<'a> {
    /// Make `branch` at this commit-ish (`None`: HEAD), as `git worktree add -b`.
    New(Option<&'a str>),
    /// Check out `branch` as it is, or, when only a remote has it, let git
    /// make it from there and track it (git's own DWIM).
    Existing,
    /// No branch: HEAD detached at this commit, as `git worktree add
    /// --detach` (a spare, made ahead of its name and branch).
    Detached(&'a str),
}

/// What a finished `git worktree add` left.
pub struct Added {
    /// git's name for the worktree (`<common>/worktrees/<name>`).
    pub wt_name: String,
    /// Lines git (or a hook) wrote that were neither progress nor git's
    /// own "Preparing worktree" and "HEAD is now at".
    pub said: Vec<String>,
}

/// How a `git worktree add` ended.
pub enum Outcome {
    /// It succeeded.
    Added(Added),
    /// The caller asked it to stop; git was killed. What it made may be
    /// left behind; [`Repo::remove_worktree`] undoes it.
    Stopped,
}

impl Repo {
    /// Runs `git worktree add` for `branch` at `path`, reporting progress as
    /// (done, total) to `watch`, which also answers, at every progress line
    /// and at least every 20 ms, whether to go on. On a git error, what git
    /// made may be left (git removes its own on failure).
    pub fn add_worktree(
        &self,
        path: &Path,
        branch: &str,
        start: Start<'_>,
        env: &[(&str, &std::ffi::OsStr)],
        watch: &mut dyn FnMut(Option<(usize, usize)>) -> bool,
    ) -> Result<Outcome> {
        let mut cmd = git_command();
        cmd.envs(env.iter().copied());
        // git's own config decides, `checkout.workers` included: on 2
        // cores git's parallel checkout of 20,000 files was as often slower
        // than its default as faster (0.80x, 1.08x and 1.21x in three runs
        // of `bench/cold_create.sh`, issue 19; README, Speed), so shards
        // passes no `checkout.*` setting (tests/checkout_workers.rs).
        cmd.args(["worktree", "add"]);
        let path_arg = path.as_os_str();
        match start {
            Start::New(base) => {
                cmd.args(["-b", branch]).arg(path_arg);
                cmd.args(base);
            }
            Start::Existing => {
                cmd.arg(path_arg).arg(branch);
            }
            Start::Detached(commit) => {
                cmd.arg("--detach").arg(path_arg).arg(commit);
            }
        }
        let dir = self.git_finds_it_from();
        // One pipe for git's stdout and stderr (hooks may write to either;
        // shards' stdout is the answer only).
        let (reader, writer) = pipe()?;
        let writer2 = writer.try_clone().map_err(|e| Error::io(dir, e))?;
        cmd.current_dir(dir)
            .env("GIT_PROGRESS_DELAY", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(writer2))
            .process_group(0);
        // SIGTERM, not SIGKILL: git then removes the lock files it holds,
        // which a SIGKILL would leave to fail the next create of the branch.
        // SAFETY: prctl is async-signal-safe; it only sets a flag of the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let shown = command_text(&cmd);
        let spawned = cmd.spawn();
        // Our copies of the write end go, so the read end sees the end of
        // git's output when git (and every process it started) is done.
        drop(cmd);
        let mut child = spawned.map_err(|e| Error::CannotRun {
            program: "git".into(),
            err: e,
        })?;
        let group = child.id() as i32;
        let mut reader = std::fs::File::from(reader);
        let mut text = Vec::new();
        let mut line = Vec::new();
        let mut buf = [0u8; 8192];
        let mut stop = false;
        'read: loop {
            if !watch(None) {
                stop = true;
                break;
            }
            let mut fd = libc::pollfd {
                fd: reader.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut fd, 1, 20) };
            if ready == 0 && matches!(child.try_wait(), Ok(Some(_))) {
                // git is done; whatever still holds the pipe (a daemon a
                // hook started) is not git's output.
                break;
            }
            if ready <= 0 {
                continue; // timeout or EINTR (a signal): ask `watch` again
            }
            let k = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            for &b in &buf[..k] {
                if b != b'\n' && b != b'\r' {
                    line.push(b);
                    continue;
                }
                let l = String::from_utf8_lossy(&line).into_owned();
                line.clear();
                match progress_of(&l) {
                    Some(p) if !watch(Some(p)) => {
                        stop = true;
                        break 'read;
                    }
                    Some(_) => {}
                    None if !l.trim().is_empty() => text.push(l),
                    None => {}
                }
            }
        }
        if stop {
            kill_group(group, &mut child);
            let _ = child.wait();
            return Ok(Outcome::Stopped);
        }
        if !line.is_empty() {
            text.push(String::from_utf8_lossy(&line).into_owned());
        }
        let status = child.wait().map_err(|e| Error::CannotRun {
            program: "git".into(),
            err: e,
        })?;
        if !status.success() {
            return Err(Error::GitFailed {
                command: shown,
                code: status.code(),
                output: text.join("\n"),
            });
        }
        let said = text
            .into_iter()
            .filter(|l| !l.starts_with("Preparing worktree") && !l.starts_with("HEAD is now at"))
            .collect();
        let wt_name = std::fs::read_to_string(path.join(".git"))
            .ok()
            .and_then(|t| {
                let admin = t.trim().strip_prefix("gitdir:")?.trim().to_string();
                let name = Path::new(&admin).file_name()?.to_str()?.to_string();
                Some(name)
            })
            .ok_or_else(|| {
                Error::io(
                    path.join(".git"),
                    std::io::Error::other("git made no `.git` file naming its worktree record"),
                )
            })?;
        Ok(Outcome::Added(Added { wt_name, said }))
    }
}

impl Repo {
    /// Returns the folder the child git runs in, where git finds this
    /// repository as git2 did: the worktree shards was run in, when it has
    /// its `.git`; else the git dir git2 opened. A `core.worktree`
    /// repository (the dotfiles layout: `git init --bare ~/.cfg`,
    /// `core.worktree=$HOME`) has no `.git` in its work tree, so git run
    /// there finds nothing (or an enclosing repository), while from the git
    /// dir it finds this one, as `git worktree add` run by hand does.
    pub(super) fn git_finds_it_from(&self) -> &Path {
        match &self.workdir {
            Some(w) if w.join(".git").symlink_metadata().is_ok() => w,
            _ => self.repo.path(),
        }
    }
}

/// Returns a `git` command that acts on the repository shards found, not
/// on one a parent git names in its environment (shards run from a hook),
/// as git itself clears these for the submodules it runs in.
pub(super) fn git_command() -> Command {
    let mut cmd = Command::new("git");
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_PREFIX",
        "GIT_GRAFT_FILE",
        "GIT_SHALLOW_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Makes a pipe whose ends are closed in child processes unless given to them.
fn pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::io("pipe", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just made and are owned by nobody else.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// Stops every process of group `group` (git, its `reset`, a hook) and
/// waits until none is left, so nothing writes into the folder while it is
/// being undone. SIGTERM first: git then removes the lock files it holds
/// (`refs/heads/BRANCH.lock`, `index.lock`), which a SIGKILL would leave
/// behind to fail the user's next `git branch`; SIGKILL after three seconds
/// for what is left (a hook that ignores SIGTERM). git itself (`child`, the
/// group's leader) is reaped as it ends, or its zombie would keep the group
/// alive for the whole wait; the wait ends as soon as the group is gone.
fn kill_group(group: i32, child: &mut std::process::Child) {
    for (signal, wait) in [(libc::SIGTERM, 3000), (libc::SIGKILL, 1000)] {
        // SAFETY: kill sends a signal to the child's own process group.
        unsafe {
            libc::kill(-group, signal);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(wait) {
            let _ = child.try_wait();
            // SAFETY: signal 0 only checks whether the group still exists.
            if unsafe { libc::kill(-group, 0) } != 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The command as a user would type it, for messages.
fn command_text(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Reads git's progress line `Updating files:  42% (840/2000)` (in any
/// language: the `NN% (a/b)` part) as (done, total).
fn progress_of(line: &str) -> Option<(usize, usize)> {
    let open = line.rfind("% (")?;
    let rest = &line[open + 3..];
    let (inner, _) = rest.split_once(')')?;
    let (done, total) = inner.split_once('/')?;
    Some((done.trim().parse().ok()?, total.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::progress_of;

    #[test]
    fn reads_git_progress() {
        assert_eq!(
            progress_of("Updating files:  42% (840/2000)"),
            Some((840, 2000))
        );
        assert_eq!(
            progress_of("Updating files: 100% (2000/2000), done."),
            Some((2000, 2000))
        );
        assert_eq!(progress_of("Preparing worktree (new branch 'x')"), None);
        assert_eq!(progress_of("HEAD is now at 1234567 a (b/c) subject"), None);
        assert_eq!(progress_of("post-checkout ran"), None);
    }
}
