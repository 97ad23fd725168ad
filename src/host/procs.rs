//! Processes as the kernel shows them in `/proc` (working directory,
//! executable, command line, parent, start time), and signals sent to one
//! process without the risk of hitting another that took its pid since.
//!
//! A process is named by its pid *and* its start time: [`signal`] opens a
//! pidfd (`pidfd_open`), checks the start time through it, and signals
//! through the pidfd (`pidfd_send_signal`), so a pid reused between the
//! look and the signal is never hit. Where the kernel has no pidfds
//! (before Linux 5.3), the start time is checked just before `kill`.
//!
//! Adapter: knows nothing of shards, worktrees, git or SQLite.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One process this user may inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// Process id.
    pub pid: i32,
    /// Start time in clock ticks since boot: with `pid`, names the process.
    pub start: u64,
    /// The command line, arguments joined by spaces (the command name in
    /// brackets when it has none, as `ps` shows kernel threads).
    pub command: String,
    /// Working directory, without the kernel's ` (deleted)` mark.
    pub cwd: Option<PathBuf>,
    /// Executable, without the kernel's ` (deleted)` mark.
    pub exe: Option<PathBuf>,
}

/// Returns the processes running from one of `dirs` (canonical folders):
/// those whose working directory or executable lies inside it, each with
/// the index of its folder, and those in one of `sessions` (index, session
/// id), wherever they run. Only the `/proc` entries this user may read
/// are looked at; the links are read first, and the rest only of a match
/// (or of every process when `sessions` is not empty).
pub fn processes_under(dirs: &[PathBuf], sessions: &[(usize, i32)]) -> Vec<(usize, Proc)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let place = |path: &Option<PathBuf>| {
        let path = path.as_ref()?;
        dirs.iter().position(|d| path.starts_with(d))
    };
    // One readlink per link and process: on a busy host this loop is the
    // cost of every destroy, so the rest is read only for a match.
    let link = |pid: i32, name: &str| {
        std::fs::read_link(format!("/proc/{pid}/{name}"))
            .ok()
            .map(|l| undeleted(&l))
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cwd = link(pid, "cwd");
            let mut exe = None;
            let mut at = place(&cwd);
            if at.is_none() {
                exe = link(pid, "exe");
                at = place(&exe);
            }
            if at.is_none() && sessions.is_empty() {
                return None;
            }
            let exe = exe.or_else(|| link(pid, "exe"));
            let p = procfs::process::Process::new(pid).ok()?;
            let stat = p.stat().ok()?;
            let at = at.or_else(|| {
                let (at, _) = sessions.iter().find(|(_, sid)| *sid == stat.session)?;
                Some(*at)
            })?;
            // A zombie has finished; it only waits for its parent.
            if stat.state == 'Z' {
                return None;
            }
            let args = p.cmdline().unwrap_or_default();
            let command = if args.is_empty() {
                format!("[{}]", stat.comm)
            } else {
                args.join(" ")
            };
            let proc = Proc {
                pid,
                start: stat.starttime,
                command,
                cwd,
                exe,
            };
            Some((at, proc))
        })
        .collect()
}

/// Returns the pids of this process and of each of its ancestors up to
/// the first process (the shell a command was typed in, its terminal, …).
pub fn lineage() -> HashSet<i32> {
    let mut out = HashSet::new();
    let mut pid = std::process::id() as i32;
    while pid > 0 && out.insert(pid) {
        let Ok(stat) = procfs::process::Process::new(pid).and_then(|p| p.stat()) else {
            break;
        };
        pid = stat.ppid;
    }
    out
}

/// Strips the ` (deleted)` the kernel appends to the link of a folder or
/// file that was removed while a process held it.
fn undeleted(path: &Path) -> PathBuf {
    let text = path.as_os_str().as_encoded_bytes();
    match text.strip_suffix(b" (deleted)") {
        // SAFETY: the bytes came from an OsStr and were cut at an ASCII boundary.
        Some(kept) => PathBuf::from(unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(kept) }),
        None => path.to_path_buf(),
    }
}

/// What a [`signal`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The signal was delivered.
    Delivered,
    /// The process had already gone (or its pid now names another one).
    Gone,
}

/// Sends `sig` to the process `pid` started at `start`, never to another
/// process that took its pid.
pub fn signal(pid: i32, start: u64, sig: i32) -> std::io::Result<Sent> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ESRCH) => Ok(Sent::Gone),
            Some(libc::ENOSYS) => signal_by_pid(pid, start, sig),
            _ => Err(err),
        };
    }
    // SAFETY: fd is a descriptor this function just opened and owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // The pidfd now pins the process: if the pid is still the one we saw
    // (same start time), every signal through it reaches that process.
    if !alive(pid, start) {
        return Ok(Sent::Gone);
    }
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 {
        return Ok(Sent::Delivered);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ESRCH) => Ok(Sent::Gone),
        _ => Err(err),
    }
}

/// [`signal`] without pidfds: the start time is checked just before `kill`.
fn signal_by_pid(pid: i32, start: u64, sig: i32) -> std::io::Result<Sent> {
    if !alive(pid, start) {
        return Ok(Sent::Gone);
    }
    // SAFETY: kill takes a pid and a signal number.
    if unsafe { libc::kill(pid, sig) } == 0 {
        return Ok(Sent::Delivered);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ESRCH) => Ok(Sent::Gone),
        _ => Err(err),
    }
}

/// Returns true while the process `pid` started at `start` runs (a zombie
/// has finished: it only waits for its parent to collect it).
pub fn alive(pid: i32, start: u64) -> bool {
    match procfs::process::Process::new(pid).and_then(|p| p.stat()) {
        Ok(stat) => stat.starttime == start && stat.state != 'Z',
        Err(_) => false,
    }
}

/// Returns the kernel's one-letter state of a process (`D`: waiting in the
/// kernel, where not even SIGKILL stops it), if it still runs.
pub fn state(pid: i32) -> Option<char> {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .ok()
        .map(|s| s.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself_and_its_parent_in_its_lineage() {
        let me = std::process::id() as i32;
        let lineage = lineage();
        assert!(lineage.contains(&me));
        let parent = procfs::process::Process::myself()
            .unwrap()
            .stat()
            .unwrap()
            .ppid;
        assert!(lineage.contains(&parent));
        let here = std::env::current_dir().unwrap().canonicalize().unwrap();
        let found = processes_under(&[PathBuf::from("/nowhere"), here.clone()], &[]);
        let (at, me_found) = found.into_iter().find(|(_, p)| p.pid == me).unwrap();
        assert_eq!((at, me_found.cwd), (1, Some(here)));
        assert_eq!(me_found.exe, std::env::current_exe().ok());
    }

    #[test]
    fn drops_the_deleted_mark() {
        assert_eq!(undeleted(Path::new("/a/b (deleted)")), Path::new("/a/b"));
        assert_eq!(undeleted(Path::new("/a/b")), Path::new("/a/b"));
    }

    #[test]
    fn signals_only_the_process_it_names() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = procfs::process::Process::new(pid)
            .unwrap()
            .stat()
            .unwrap()
            .starttime;
        // A wrong start time stands for a pid reused by another process.
        assert_eq!(signal(pid, start + 1, libc::SIGKILL).unwrap(), Sent::Gone);
        assert!(alive(pid, start));
        assert_eq!(signal(pid, start, libc::SIGKILL).unwrap(), Sent::Delivered);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(!alive(pid, start));
        assert_eq!(signal(pid, start, libc::SIGTERM).unwrap(), Sent::Gone);
    }
}
