//! Hook commands as child processes: one step run with `sh -c` in a folder
//! with the given variables, waited for in its own process group (killed
//! with the group when the caller says stop, and with shards if shards is
//! killed outright: `PR_SET_PDEATHSIG`), or started in the background in a
//! session of its own with its output appended to a log file.
//!
//! A step's stdout and stderr both go to shards' stderr, as it writes them:
//! shards' stdout is the answer (and the protocol channel under `mcp`), and
//! stdin is `/dev/null` for the same reason.
//!
//! Part of the `host` adapter; knows nothing of shards, config files, git
//! or SQLite.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How a step ended, and its process group (which processes the step
/// left in the background are still in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// How the step itself ended.
    pub end: StepEnd,
    /// Its process group id (the step's pid).
    pub group: i32,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEnd {
    /// It exited with this code (0 is success).
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
    /// The caller asked it to stop; its process group was killed.
    Stopped,
}

/// Builds `sh -c command` in `dir` with `vars` added to shards' own
/// environment and stdin from `/dev/null`.
fn shell(command: &str, dir: &Path, vars: &[(String, String)]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    cmd
}

/// Runs one step to its end, its output on shards' stderr. `keep_going` is
/// asked about every 20 ms (sooner at first); when it says no, the step's
/// process group is killed and waited for.
pub fn run_step(
    command: &str,
    dir: &Path,
    vars: &[(String, String)],
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Ended> {
    let err = std::io::stderr();
    let out = err
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("stderr", e))?;
    let mut cmd = shell(command, dir, vars);
    cmd.stdout(Stdio::from(out)).process_group(0);
    // SAFETY: prctl is async-signal-safe; it only sets a flag of the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| Error::CannotRun {
        program: "sh".into(),
        err: e,
    })?;
    let group = child.id() as i32;
    // Short sleeps first: most steps of a fast hook end within a few ms.
    let mut pause = Duration::from_micros(100);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let end = match (status.code(), status.signal()) {
                    (Some(code), _) => StepEnd::Exited(code),
                    (None, Some(sig)) => StepEnd::Signaled(sig),
                    (None, None) => StepEnd::Exited(1),
                };
                return Ok(Ended { end, group });
            }
            Ok(None) => {}
            Err(e) => {
                return Err(Error::CannotRun {
                    program: "sh".into(),
                    err: e,
                });
            }
        }
        if !keep_going() {
            // SAFETY: kill sends a signal to the child's own process group.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
            let _ = child.wait();
            wait_group_gone(group);
            return Ok(Ended {
                end: StepEnd::Stopped,
                group,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Starts `sh -c script` in the background: its own session (so no
/// terminal signal reaches it and it outlives shards), not a child of
/// shards, its stdout and stderr appended to `log` (created private to the
/// user; refused when it is a link or a file of another user's). Returns
/// its pid and start time (clock ticks since boot, 0 when unknown).
pub fn spawn_background(
    script: &str,
    dir: &Path,
    vars: &[(String, String)],
    log: &Path,
) -> Result<(i64, i64)> {
    spawn_detached(shell(script, dir, vars), log, Priority::Normal)
}

/// How much of the machine a detached process may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// As shards itself.
    Normal,
    /// Only what nothing else wants: `nice` 19 and the idle I/O class
    /// (`ionice -c 3`), so work ahead of need never slows the user's.
    Idle,
}

/// Starts `cmd` as [`spawn_background`] starts a hook: in a session of its
/// own, nobody's child, stdin `/dev/null`, its output appended to `log`, at
/// `priority`. Returns its pid and start time.
pub fn spawn_detached(mut cmd: Command, log: &Path, priority: Priority) -> Result<(i64, i64)> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // Never through a link, and only into a file of this user's: in a home
    // shared by a group, another member may have put either at the name.
    let planted = || {
        Error::io(
            log,
            std::io::Error::other(
                "is a symbolic link or not a file of yours, so shards does not write a background log there; remove it and start again",
            ),
        )
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(log)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => planted(),
            _ => Error::io(log, e),
        })?;
    let meta = file.metadata().map_err(|e| Error::io(log, e))?;
    // SAFETY: geteuid only reads the process's effective user id.
    if !meta.is_file() || meta.uid() != unsafe { libc::geteuid() } {
        return Err(planted());
    }
    let file2 = file.try_clone().map_err(|e| Error::io(log, e))?;
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(file2));
    let idle = priority == Priority::Idle;
    // Forked twice, so the hook is nobody's child: not shards' (which may
    // become the user's command with `create -- CMD` and never wait for
    // it) and not a zombie of it. The middle process tells the hook's pid
    // through a pipe and exits at once.
    let (reader, writer) = pipe()?;
    let w = writer.as_raw_fd();
    // SAFETY: fork, setsid, write and _exit are async-signal-safe; the
    // middle process touches nothing but its own pipe end before _exit.
    unsafe {
        cmd.pre_exec(move || {
            match libc::fork() {
                -1 => return Err(std::io::Error::last_os_error()),
                0 => {}
                pid => {
                    let bytes = pid.to_ne_bytes();
                    libc::write(w, bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(0);
                }
            }
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if idle {
                // Best effort: a kernel that refuses leaves the priority
                // as it was, which is slower for others, never wrong.
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
                libc::syscall(
                    libc::SYS_ioprio_set,
                    IOPRIO_WHO_PROCESS,
                    0,
                    IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
                );
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    drop(cmd);
    drop(writer);
    let mut middle = spawned.map_err(|e| Error::CannotRun { program, err: e })?;
    let _ = middle.wait();
    let mut bytes = [0u8; 4];
    std::fs::File::from(reader)
        .read_exact(&mut bytes)
        .map_err(|e| Error::io("a background process's pid", e))?;
    let pid = i64::from(i32::from_ne_bytes(bytes));
    Ok((pid, super::start_time(pid).unwrap_or(0)))
}

/// `ioprio_set`'s words (linux/ioprio.h), which libc does not carry.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_IDLE: libc::c_int = 3;
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

/// Makes a pipe whose ends are closed in child processes when they exec.
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::io("pipe", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just made and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Kills what is left of the process groups of finished steps (what they
/// started in the background), and waits for each to go. A group that is
/// gone is skipped: its number is not signalled.
pub fn kill_groups(groups: &[i32]) {
    for &group in groups {
        // SAFETY: signal 0 only checks; the group is one a step of ours
        // led, and a group's id is not reused while any member lives.
        if unsafe { libc::kill(-group, 0) } == 0 {
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
            wait_group_gone(group);
        }
    }
}

/// Waits, up to a second, until no process of the killed group `group` is
/// left, so nothing writes into the folder while it is undone.
fn wait_group_gone(group: i32) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        // SAFETY: signal 0 only checks whether the group still exists.
        if unsafe { libc::kill(-group, 0) } != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
