//! What each shard is doing, for `list --full`: its worktree's modified and
//! untracked files, the lines of its env file and `.envrc` that shards did
//! not write (judged as `destroy` judges them, `check::env_work`), its
//! branch ahead of and behind the repository's default branch, its last
//! commit's time, and which of its named ports something listens on. Worktrees are read in parallel, one git repository per read,
//! and the kernel's listen table once for all shards.
//!
//! Lifecycle layer: reads through the worktree and host adapters; writes
//! nothing, knows nothing of clap or output formats.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::host;
use crate::ledger::ShardRow;
use crate::ledger::services::OwnedServicePort;
use crate::model::{Protocol, ShardStatus};
use crate::worktree::{self, DefaultBranch, WorktreeState};

/// A named port and whether something listens on it.
#[derive(Debug, Clone)]
pub struct LiveService {
    /// Service name.
    pub service: String,
    /// Its port.
    pub port: u16,
    /// True when a TCP socket listens on it (any address), or for a UDP
    /// service a UDP socket is bound; `None` when the host's listen table
    /// cannot be read.
    pub listening: Option<bool>,
}

/// One shard's state.
#[derive(Debug, Clone)]
pub struct Survey {
    /// The default branch of its repository, if it has one.
    pub base: Option<DefaultBranch>,
    /// Its worktree's state, or why it could not be read (the worktree is
    /// missing, or git failed on it).
    pub worktree: std::result::Result<WorktreeState, String>,
    /// Its named ports, by port.
    pub services: Vec<LiveService>,
    /// The lines of its env file and `.envrc` that shards did not write,
    /// in `destroy`'s words (`check::env_work`), or why they could not be
    /// read; `None` when there are none or the worktree was not read.
    pub env_work: Option<String>,
}

/// Reads the state of every shard of `rows` (in order), on as many threads
/// as the host has cores. `own_files` names, per repository git dir, the
/// root files shards writes (the env file, `.envrc`) that are not the
/// user's untracked work; `services` are the ledger's named ports.
pub fn survey(
    rows: &[ShardRow],
    own_files: &HashMap<PathBuf, Vec<String>>,
    services: &[OwnedServicePort],
) -> Vec<Survey> {
    let listening = host::listening_tcp_ports();
    // UDP services count as running when a UDP socket is bound: the socket
    // table is read for them only when there is one.
    let udp: BTreeSet<u16> = match services.iter().any(|s| s.info.protocol() == Protocol::Udp) {
        true => host::sockets()
            .iter()
            .filter(|k| k.proto == host::Proto::Udp)
            .map(|k| k.addr.port())
            .collect(),
        false => BTreeSet::new(),
    };
    // The default branch is a property of the repository: found once each.
    let mut bases: HashMap<&PathBuf, Option<DefaultBranch>> = HashMap::new();
    for row in rows {
        bases
            .entry(&row.repo.git_dir)
            .or_insert_with(|| worktree::default_branch(&row.repo.git_dir).ok().flatten());
    }
    let states = in_parallel(rows, |row| {
        // Only a worktree that is still the shard's is read: a replaced
        // folder's status would be another repository's.
        match super::relocate::status(row) {
            ShardStatus::Active => {}
            ShardStatus::Missing => return Err("its worktree is missing".to_string()),
            ShardStatus::Replaced => {
                return Err("its folder is no longer its git worktree".to_string());
            }
            ShardStatus::Creating => return Err("it is being created".to_string()),
            ShardStatus::Destroying => return Err("it is being destroyed".to_string()),
            ShardStatus::Spare => return Err("it is a spare".to_string()),
        }
        let base = bases[&row.repo.git_dir]
            .as_ref()
            .map(|b| b.refname.as_str());
        let own: Vec<&str> = own_files
            .get(&row.repo.git_dir)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let state = worktree::read_state(&row.path, base, &own).map_err(|e| e.to_string())?;
        // The env file is the first of shards' own files.
        let env_file = own.first().copied().unwrap_or(".env");
        let env_work = super::check::env_work(row, &row.repo.root, env_file)
            .unwrap_or_else(|e| Some(format!("its env file cannot be read: {e}")));
        Ok((state, env_work))
    });
    rows.iter()
        .zip(states)
        .map(|(row, read)| Survey {
            base: bases[&row.repo.git_dir].clone(),
            env_work: read.as_ref().ok().and_then(|(_, w)| w.clone()),
            worktree: read.map(|(state, _)| state),
            services: services
                .iter()
                .filter(|s| s.shard_id == row.id)
                .map(|s| live(s, listening.as_ref(), &udp))
                .collect(),
        })
        .collect()
}

fn live(
    s: &OwnedServicePort,
    listening: Option<&BTreeSet<u16>>,
    udp: &BTreeSet<u16>,
) -> LiveService {
    LiveService {
        service: s.service.clone(),
        port: s.port,
        listening: match s.info.protocol() {
            Protocol::Udp => Some(udp.contains(&s.port)),
            Protocol::Tcp => listening.map(|l| l.contains(&s.port)),
        },
    }
}

/// Runs `read` on every row, spread over the host's cores, and returns the
/// answers in the rows' order.
fn in_parallel<T: Send>(rows: &[ShardRow], read: impl Fn(&ShardRow) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let mut found: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(row) = rows.get(i) else {
                            return mine;
                        };
                        mine.push((i, read(row)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, t)| t).collect()
}
