//! The one error type of shards, its exit codes and its hints.
//!
//! Every failure a command can meet is a variant here, grouped by cause. The
//! mapping to `--json` kinds and exit codes lives in [`Error::kind`] and
//! [`Error::exit_code`] (`code.rs`) and nowhere else; the next step a user
//! should take lives in [`Error::hint`] (`hint.rs`). This module knows
//! nothing of how errors are printed.

use std::path::PathBuf;

use crate::model::ShardState;
use crate::quote::clip;
use crate::template::TemplateError;

mod code;
mod hint;

/// Everything that can go wrong in shards.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The working directory is not inside a git repository.
    #[error("not inside a git repository: {}", clip(&.path.to_string_lossy()))]
    NotARepo { path: PathBuf },

    /// The repository cannot host shards (bare, no commits, …).
    #[error("{message}")]
    RepoUnsupported { message: String, hint: String },

    /// A shard name that cannot be used.
    #[error("invalid shard name `{}`: {reason}", clip(.name))]
    InvalidName { name: String, reason: String },

    /// A branch name a shard cannot use (`--branch`, or a shard name that
    /// names a remote-tracking branch); `hint` says what to pass instead.
    #[error("invalid branch name `{}`: {reason}", clip(.name))]
    InvalidBranch {
        name: String,
        reason: String,
        hint: String,
    },

    /// A git ref given on the command line that does not resolve.
    #[error("no such ref `{}` in {repo}", clip(.name))]
    RefNotFound { name: String, repo: PathBuf },

    /// No shard of that name in the repository.
    #[error("no shard named `{}` in {repo}", clip(.name))]
    ShardNotFound { name: String, repo: PathBuf },

    /// The shard name is already used in this repository.
    #[error("a shard named `{name}` already exists in {repo} ({state})")]
    NameTaken {
        name: String,
        repo: PathBuf,
        state: ShardState,
    },

    /// The shard's ledger row went away while a command acted on it
    /// (another process destroyed or pruned it).
    #[error("the shard (ledger row {id}) was removed by another shards process meanwhile")]
    ShardGone { id: i64 },

    /// Another process destroyed (or pruned) the shard while this one was
    /// checking or destroying it.
    #[error("shard `{name}` was destroyed by another process")]
    DestroyedElsewhere { name: String },

    /// The worktree folder of a new shard exists already.
    #[error("the worktree folder {path} already exists")]
    PathTaken { path: PathBuf },

    /// The branch is checked out in another worktree.
    #[error("branch `{branch}` is already checked out at {path}")]
    BranchCheckedOut { branch: String, path: PathBuf },

    /// The shard's worktree has uncommitted or untracked work.
    #[error("the worktree of `{name}` has uncommitted or untracked changes ({summary}): {path}")]
    WorktreeDirty {
        name: String,
        path: PathBuf,
        summary: String,
    },

    /// A submodule of the shard's worktree holds commits found nowhere else.
    #[error(
        "the worktree of `{name}` holds submodule commits found nowhere else ({summary}): {path}"
    )]
    SubmoduleWork {
        name: String,
        path: PathBuf,
        summary: String,
    },

    /// Another process is creating or destroying this shard right now.
    #[error("shard `{name}` is being {action} by process {pid}")]
    Busy {
        name: String,
        action: String,
        pid: i64,
    },

    /// Processes run from the worktrees of shards being destroyed (`list`,
    /// per shard); `names` are all the command's shards.
    #[error("processes still run from the worktree: {}", .list.join("; "))]
    ProcessesRunning {
        names: Vec<String>,
        list: Vec<String>,
    },

    /// `--reap` could not stop every process (`list`: each, and why).
    #[error("could not stop every process, so nothing was removed: {}", .list.join(", "))]
    ReapFailed { list: Vec<String>, stopped: usize },

    /// Every block of the pool is held or busy.
    #[error(
        "no free port block: the pool {base}-{max} has {total} {} of {block_size}, {held} held by shards and {busy} with ports in use or held elsewhere on this host", if *.total == 1 { "block" } else { "blocks" }
    )]
    PortsExhausted {
        base: u16,
        max: u16,
        block_size: u16,
        total: u32,
        held: u32,
        busy: u32,
    },

    /// A service port cannot be allocated.
    #[error("shard `{shard}`: {message}")]
    ServicePorts { shard: String, message: String },

    /// A service name that cannot be used.
    #[error(
        "invalid service name `{}`: use a lowercase letter, then lowercase letters, digits and `_`, up to 40 characters",
        clip(.name)
    )]
    InvalidService { name: String },

    /// No `--shard` was given and the working directory is in no shard.
    #[error("{} is not inside a shard's worktree", clip(&.path.to_string_lossy()))]
    NotInShard { path: PathBuf },

    /// The path given to `adopt` cannot become a shard.
    #[error("cannot adopt {path}: {reason}")]
    CannotAdopt { path: PathBuf, reason: String },

    /// The managed section of the env file is damaged.
    #[error("{path}: {message}")]
    EnvFile { path: PathBuf, message: String },

    /// A configuration file or value is invalid.
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },

    /// The ledger file is not a usable shards database: `reason` says why,
    /// and `source` is SQLite's own error when SQLite reported one.
    #[error("the ledger {path} is not a readable shards database: {reason}")]
    LedgerCorrupt {
        path: PathBuf,
        reason: String,
        #[source]
        source: Option<rusqlite::Error>,
    },

    /// The ledger was written by a newer shards.
    #[error("the ledger {path} has schema version {found}, this shards supports up to {supported}")]
    LedgerTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// The ledger's file or folder refuses writes (read-only, disk full,
    /// another user's): `source` is SQLite's or the file system's error.
    #[error("the ledger {path} cannot be written")]
    LedgerUnwritable {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The ledger stayed locked past the busy timeout.
    #[error("the ledger {path} stayed locked by another process")]
    LedgerLocked { path: PathBuf },

    /// The host's block register stayed locked past the timeout.
    #[error("the host's block register {path} stayed locked by another process for {}", humantime::format_duration(*.waited))]
    RegisterLocked {
        path: PathBuf,
        waited: std::time::Duration,
    },

    /// The host's block register is a folder others could empty: a
    /// symlink, or writable by others without the sticky bit.
    #[error("the host's block register {path} is not safe to use: {reason}")]
    RegisterUnsafe { path: PathBuf, reason: &'static str },

    /// The host's block register cannot be read or written.
    #[error("cannot use the host's block register at {path}")]
    RegisterUnusable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Any other SQLite failure.
    #[error("ledger error")]
    Sqlite(#[from] rusqlite::Error),

    /// A git operation failed (libgit2's message, printed once).
    #[error("git: {}", .0.message())]
    Git(git2::Error),

    /// The user's `git` failed (`git worktree add`): its own words.
    #[error("`{command}` failed ({}):\n{output}", match .code { Some(c) => format!("exit code {c}"), None => "killed by a signal".to_string() })]
    GitFailed {
        command: String,
        code: Option<i32>,
        output: String,
    },

    /// The worktree is locked (`git worktree lock`), as git refuses too.
    #[error("the worktree of `{name}` is locked{}: {path}", match .reason.as_str() { "" => String::new(), r => format!(" ({r})") })]
    WorktreeLocked {
        name: String,
        path: PathBuf,
        reason: String,
    },

    /// A file could not be brought into a new worktree (`.worktreeinclude`).
    #[error("cannot bring {} into the new worktree: {err}", clip(&path.to_string_lossy()))]
    Copy { path: PathBuf, err: std::io::Error },

    /// A file operation failed. The OS error is part of the message (not a
    /// separate cause), so it is printed once.
    #[error("{}: {err}", clip(&path.to_string_lossy()))]
    Io { path: PathBuf, err: std::io::Error },

    /// A command that acts on several shards failed part-way.
    #[error("{cause} (already done: {})", .done.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", "))]
    PartlyDone {
        done: Vec<String>,
        cause: Box<Error>,
    },

    /// The command given to `run` could not be started.
    #[error("cannot run `{}`: {err}", clip(.program))]
    CannotRun {
        program: String,
        err: std::io::Error,
    },

    /// SIGINT or SIGTERM stopped a create, which undid what it had made.
    #[error("interrupted ({}); undid the create of `{name}`", signal_name(*signal))]
    Interrupted { signal: i32, name: String },

    /// SIGINT or SIGTERM stopped the wait for the spare filler.
    #[error("interrupted ({}) while waiting for the spare filler; nothing was changed", signal_name(*signal))]
    WaitInterrupted { signal: i32 },

    /// SIGINT or SIGTERM stopped a destroy or prune before `name` was reclaimed: handed back.
    #[error("interrupted ({}) before `{name}` was reclaimed; it is kept as it was (a teardown hook that ran was stopped)", signal_name(*signal))]
    DestroyInterrupted { signal: i32, name: String },

    /// A repository's hooks have not been approved (`shards trust`) as they are now.
    #[error("the hooks in {origin} are not trusted{}: {}", if *.changed { " (they changed since you approved them)" } else { "" }, .hooks.join(", "))]
    HooksUntrusted {
        origin: String,
        hooks: Vec<String>,
        changed: bool,
    },

    /// A hook step failed (a `setup` undoes the create; a `teardown` stops the destroy).
    #[error("{hook} hook step {step}/{steps} `{}` failed ({}) in shard `{name}`{}", clip(.command), match .code { Some(c) => format!("exit code {c}"), None => "killed by a signal".to_string() }, if .hook == "setup" { "; undid the create" } else { "" })]
    HookFailed {
        hook: String,
        name: String,
        step: usize,
        steps: usize,
        command: String,
        code: Option<i32>,
    },

    /// A command line that cannot run: refused by clap (printed by clap
    /// itself, and as this under `--json`), or flags that cannot go
    /// together, found past clap.
    #[error("{message}")]
    Usage { message: String, hint: String },

    /// `shards proxy` cannot do what it was asked (its port is taken, it is
    /// already running, it did not come up).
    #[error("proxy: {message}")]
    Proxy { message: String, hint: String },

    /// `shards cd` run without the shell function of `shards init`, which
    /// alone can change the shell's directory.
    #[error("`shards cd` needs the shell function: a program cannot change its shell's directory")]
    NoShellFunction { name: String },

    /// An agent hook's payload (`shards hook claude-code`) that cannot be
    /// acted on: not JSON, too large, an unknown event, a missing field or
    /// one of the wrong type.
    #[error("hook payload: {message}")]
    AgentHookPayload { message: String },

    /// A path that is no shard's worktree (`WorktreeRemove`).
    #[error("{} is not the worktree of a shard", clip(&.path.to_string_lossy()))]
    NotAShard { path: PathBuf },

    /// A child process exited with a non-zero code (`run`, `create -- CMD`).
    #[error("command exited with code {code}")]
    Child { code: i32 },
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Git(e)
    }
}

impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Self {
        Error::Config {
            origin: "worktree.root".into(),
            message: e.to_string(),
        }
    }
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}

/// Returns the conventional name of the signals a create catches.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

/// The result type used throughout shards.
pub type Result<T, E = Error> = std::result::Result<T, E>;
