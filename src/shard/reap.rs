//! Reaping: finding the processes a shard leaves running, and stopping
//! them before its worktree goes. How they are said is the command
//! layer's (`cmd::wording`).
//!
//! A shard's processes are those whose working directory or executable
//! lies inside its worktree (its canonical folder, or the folder it was
//! when it has been deleted under them). Never counted: shards itself and
//! its ancestors (the shell `shards destroy` was typed in often sits in
//! the worktree), and listeners in the block that run from elsewhere
//! (foreign) or that this user may not inspect: those are only mentioned.
//! [`stop`] sends SIGTERM, waits the grace period, then SIGKILLs what is
//! left, each signal through a pidfd so a reused pid is never hit.
//!
//! Lifecycle layer: uses the host adapter, and reads the ledger only for
//! the start hooks' processes ([`starts`]); knows nothing of clap, output
//! formats or the command modules.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::host::{self, procs};
use crate::ledger::{Ledger, ShardRow};
use crate::quote::clip_to;

/// The grace period `--reap` gives a process between SIGTERM and SIGKILL,
/// in seconds, unless told otherwise.
pub const DEFAULT_GRACE_SECS: u64 = 5;

/// How long a SIGKILLed process may take to go before it counts as stuck.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How many characters of a command line a message shows.
const COMMAND_CHARS: usize = 80;

/// How many times [`stop_all`] looks again for processes started while
/// the others were being stopped.
const ROUNDS: usize = 2;

/// A process running from a shard's worktree.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Running {
    /// Process id.
    pub pid: i32,
    /// Its command line (clipped).
    pub command: String,
    /// The ports of the shard's block it listens on.
    pub ports: Vec<u16>,
    /// Its start time, which with `pid` names it.
    #[serde(skip)]
    start: u64,
}

/// What runs from one shard's worktree.
#[derive(Debug, Default)]
pub struct Found {
    /// The shard's processes, by pid.
    pub procs: Vec<Running>,
    /// Listeners in its block that are not its own: left alone.
    pub spared: Vec<Spared>,
}

/// A listener in a shard's block that is not the shard's own, left alone.
#[derive(Debug, Clone)]
pub enum Spared {
    /// Held by a process that runs outside the worktree.
    Foreign {
        /// TCP or UDP.
        proto: host::Proto,
        /// The port of the block.
        port: u16,
        /// The process holding it.
        pid: i32,
        /// Its command line.
        command: String,
    },
    /// Held by a process this user may not inspect (another user's).
    Hidden {
        /// TCP or UDP.
        proto: host::Proto,
        /// The port of the block.
        port: u16,
    },
}

/// Returns, for each row, the (pid, start time) of its `start` hook's
/// process as the ledger recorded it, for [`find`].
pub fn starts(ledger: &Ledger, rows: &[&ShardRow]) -> Result<Vec<Option<(i64, i64)>>> {
    rows.iter()
        .map(|r| Ok(ledger.start_of(r.id)?.map(|s| s.pid)))
        .collect()
}

/// Finds the processes of each shard of `rows` (one [`Found`] each, in
/// order), sparing shards and its ancestors. `starts` holds, for each row,
/// its `start` hook's process as recorded (pid, start time), if any: the
/// processes of that hook's session are the shard's wherever they run (a
/// dev server that changed folder), unless the pid now names another
/// process.
pub fn find(rows: &[&ShardRow], starts: &[Option<(i64, i64)>]) -> Vec<Found> {
    let dirs: Vec<PathBuf> = rows.iter().map(|r| canonical(&r.path)).collect();
    let sessions: Vec<(usize, i32)> = starts
        .iter()
        .enumerate()
        .filter_map(|(at, start)| Some((at, session_of((*start)?)?)))
        .collect();
    // Shards' own lineage is read only when something is found at all.
    let lineage = std::cell::OnceCell::new();
    let spared = || lineage.get_or_init(procs::lineage);
    let mut found: Vec<Found> = rows.iter().map(|_| Found::default()).collect();
    let mut ours: HashMap<i32, (usize, usize)> = HashMap::new();
    for (at, p) in procs::processes_under(&dirs, &sessions) {
        if spared().contains(&p.pid) {
            continue;
        }
        ours.insert(p.pid, (at, found[at].procs.len()));
        found[at].procs.push(Running {
            pid: p.pid,
            command: clip_to(&p.command, COMMAND_CHARS).into_owned(),
            ports: Vec::new(),
            start: p.start,
        });
    }
    let sockets: Vec<(usize, host::Socket)> = host::sockets()
        .into_iter()
        .filter_map(|s| {
            let at = rows.iter().position(|r| r.block.contains(s.addr.port()))?;
            Some((at, s))
        })
        .collect();
    if sockets.is_empty() {
        return found;
    }
    let owners = host::socket_owners(&sockets.iter().map(|(_, s)| s.inode).collect());
    let mut said = HashSet::new();
    for (at, s) in sockets {
        let (proto, port) = (s.proto, s.addr.port());
        let spared_one = match owners.get(&s.inode) {
            Some(o) if spared().contains(&o.pid) => continue,
            Some(o) => match ours.get(&o.pid) {
                // One of the shards' own processes (of this shard, or
                // of another destroyed at once): stopped, not noted.
                Some(&(a, i)) => {
                    let ports = &mut found[a].procs[i].ports;
                    if a == at && !ports.contains(&port) {
                        ports.push(port);
                    }
                    continue;
                }
                None => Spared::Foreign {
                    proto,
                    port,
                    pid: o.pid,
                    command: o.command.clone(),
                },
            },
            None => Spared::Hidden { proto, port },
        };
        if said.insert((at, port)) {
            found[at].spared.push(spared_one);
        }
    }
    found
}

/// Returns, for each start hook recorded as (pid, start time) in
/// `starts`, the pids of the processes running in its session (none when
/// that pid now names another process); one look at `/proc` for all.
pub fn sessions(starts: &[(i64, i64)]) -> Vec<Vec<i32>> {
    let sids: Vec<(usize, i32)> = starts
        .iter()
        .enumerate()
        .filter_map(|(at, start)| Some((at, session_of(*start)?)))
        .collect();
    let mut out: Vec<Vec<i32>> = starts.iter().map(|_| Vec::new()).collect();
    if sids.is_empty() {
        return out;
    }
    for (at, p) in procs::processes_under(&[], &sids) {
        out[at].push(p.pid);
    }
    for pids in &mut out {
        pids.sort_unstable();
    }
    out
}

/// Returns the session a start hook recorded as (pid, start time) leads:
/// its pid, unless that pid now names a process started at another time
/// (the hook ended and its number was reused). A leader that ended while
/// its session lives on still names it: the kernel does not give a pid
/// to a new process while a session is known by it.
fn session_of((pid, start): (i64, i64)) -> Option<i32> {
    let sid = i32::try_from(pid).ok().filter(|p| *p > 1)?;
    match host::start_time(pid) {
        Some(now) if now != start => None,
        _ => Some(sid),
    }
}

/// Returns `path` as the kernel names it: canonical, or for a folder
/// deleted already, its canonical parent joined with its name.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent().map(std::fs::canonicalize), path.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => path.to_path_buf(),
    }
}

/// How a process was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Signal {
    /// It went after SIGTERM, within the grace period.
    #[serde(rename = "SIGTERM")]
    Term,
    /// It was still there after the grace period and was SIGKILLed.
    #[serde(rename = "SIGKILL")]
    Kill,
    /// It had ended by itself before shards signalled it.
    #[serde(rename = "exited")]
    Exited,
}

/// A process [`stop`] stopped.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Stopped {
    /// Process id.
    pub pid: i32,
    /// Its command line (clipped).
    pub command: String,
    /// The ports of the shard's block it listened on.
    pub ports: Vec<u16>,
    /// How it was stopped.
    pub signal: Signal,
}

/// Stops every process of `groups` (one list per shard): SIGTERM to all,
/// up to `grace` for them to go, then SIGKILL to those left. Returns what
/// each group's processes got, in order; fails, naming them, when some
/// cannot be signalled or outlive SIGKILL (a process waiting in the
/// kernel, state D), after doing what it could for the others.
pub fn stop(groups: &[&[Running]], grace: Duration) -> Result<Vec<Vec<Stopped>>> {
    let all: Vec<(usize, &Running)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, procs)| procs.iter().map(move |p| (g, p)))
        .collect();
    let mut how: Vec<Option<Signal>> = vec![None; all.len()];
    let mut failed: Vec<String> = Vec::new();
    let named = |p: &Running, why: &str| format!("pid {} `{}` ({why})", p.pid, p.command);
    let mut pending = Vec::new();
    for (i, (_, p)) in all.iter().enumerate() {
        match procs::signal(p.pid, p.start, libc::SIGTERM) {
            Ok(procs::Sent::Delivered) => {
                // A stopped process (Ctrl-Z, a debugger) acts on SIGTERM
                // only once continued, as `systemd` and shells do it.
                let _ = procs::signal(p.pid, p.start, libc::SIGCONT);
                pending.push(i);
            }
            Ok(procs::Sent::Gone) => how[i] = Some(Signal::Exited),
            Err(e) => failed.push(named(p, &e.to_string())),
        }
    }
    let left = wait(&all, &pending, grace);
    for &i in &pending {
        if !left.contains(&i) {
            how[i] = Some(Signal::Term);
        }
    }
    let mut killed = Vec::new();
    for &i in &left {
        let p = all[i].1;
        match procs::signal(p.pid, p.start, libc::SIGKILL) {
            Ok(procs::Sent::Delivered) => killed.push(i),
            Ok(procs::Sent::Gone) => how[i] = Some(Signal::Term),
            Err(e) => failed.push(named(p, &e.to_string())),
        }
    }
    let stuck = wait(&all, &killed, KILL_WAIT);
    for &i in &killed {
        let p = all[i].1;
        if stuck.contains(&i) {
            let state = procs::state(p.pid).unwrap_or('?');
            failed.push(named(
                p,
                &format!("still running after SIGKILL, state {state}"),
            ));
        } else {
            how[i] = Some(Signal::Kill);
        }
    }
    if !failed.is_empty() {
        let stopped = how.iter().filter(|h| h.is_some()).count();
        return Err(Error::ReapFailed {
            list: failed,
            stopped,
        });
    }
    let mut out: Vec<Vec<Stopped>> = groups.iter().map(|_| Vec::new()).collect();
    for (i, (g, p)) in all.iter().enumerate() {
        out[*g].push(Stopped {
            pid: p.pid,
            command: p.command.clone(),
            ports: p.ports.clone(),
            signal: how[i].unwrap_or(Signal::Exited),
        });
    }
    Ok(out)
}

/// [`stop`]s the processes `found` for `rows` (one [`Found`] each; `starts`
/// as [`find`] takes them), then
/// looks again, since a process may start another while it ends, and
/// stops what it finds, a few rounds at most. Returns, per shard, every
/// process stopped; fails when processes still run after the last round.
pub fn stop_all(
    rows: &[&ShardRow],
    starts: &[Option<(i64, i64)>],
    found: &[Found],
    grace: Duration,
) -> Result<Vec<Vec<Stopped>>> {
    let groups: Vec<&[Running]> = found.iter().map(|f| f.procs.as_slice()).collect();
    let mut out = stop(&groups, grace)?;
    for round in 0..=ROUNDS {
        if out.iter().all(Vec::is_empty) {
            break;
        }
        let again = find(rows, starts);
        if again.iter().all(|f| f.procs.is_empty()) {
            break;
        }
        if round == ROUNDS {
            let list = again.iter().flat_map(|f| &f.procs).map(|p| {
                format!(
                    "pid {} `{}` (started again while the others were stopped)",
                    p.pid, p.command
                )
            });
            return Err(Error::ReapFailed {
                list: list.collect(),
                stopped: out.iter().map(Vec::len).sum(),
            });
        }
        let groups: Vec<&[Running]> = again.iter().map(|f| f.procs.as_slice()).collect();
        for (all, more) in out.iter_mut().zip(stop(&groups, grace)?) {
            all.extend(more);
        }
    }
    Ok(out)
}

/// Waits up to `limit` for the processes `which` (indexes into `all`) to
/// go; returns those still running.
fn wait(all: &[(usize, &Running)], which: &[usize], limit: Duration) -> Vec<usize> {
    // A grace too long for the clock is no deadline at all.
    let deadline = Instant::now().checked_add(limit);
    let mut left: Vec<usize> = which.to_vec();
    loop {
        left.retain(|&i| procs::alive(all[i].1.pid, all[i].1.start));
        if left.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
impl Running {
    /// A process as tests of the wording need one: `cmd{pid}`, no ports.
    pub(crate) fn example(pid: i32) -> Running {
        Running {
            pid,
            command: format!("cmd{pid}"),
            ports: Vec::new(),
            start: 0,
        }
    }
}
