//! The one error type of shards, its exit codes and its hints.
//!
//! Every failure a command can meet is a variant here, grouped by cause. The
//! mapping to exit codes lives in [`Error::exit_code`] and nowhere else; the
//! next step a user should take lives in [`Error::hint`]. This module knows
//! nothing of how errors are printed.

use std::path::PathBuf;

use crate::model::ShardState;
use crate::quote::clip;
use crate::template::TemplateError;

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

    /// Every block of the pool is held or busy.
    #[error(
        "no free port block: the pool {base}-{max} has {total} blocks of {block_size}, {held} held by shards and {busy} with ports in use on this host"
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

    /// Any other SQLite failure.
    #[error("ledger error")]
    Sqlite(#[from] rusqlite::Error),

    /// A git operation failed (libgit2's message, printed once).
    #[error("git: {}", .0.message())]
    Git(git2::Error),

    /// A file operation failed. The OS error is part of the message (not a
    /// separate cause), so it is printed once.
    #[error("{}: {err}", clip(&path.to_string_lossy()))]
    Io { path: PathBuf, err: std::io::Error },

    /// A command that acts on several shards failed part-way.
    #[error("{cause} (already done: {done})")]
    PartlyDone { done: String, cause: Box<Error> },

    /// The command given to `run` could not be started.
    #[error("cannot run `{}`: {err}", clip(.program))]
    CannotRun {
        program: String,
        err: std::io::Error,
    },

    /// SIGINT or SIGTERM stopped a create, which undid what it had made.
    #[error("interrupted ({}); undid the create of `{name}`", signal_name(*signal))]
    Interrupted { signal: i32, name: String },

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

    /// Returns a stable, snake_case name for the kind of error, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotARepo { .. } => "not_a_repo",
            Error::RepoUnsupported { .. } => "repo_unsupported",
            Error::InvalidName { .. } => "invalid_name",
            Error::RefNotFound { .. } => "ref_not_found",
            Error::ShardNotFound { .. } => "shard_not_found",
            Error::NameTaken { .. } => "name_taken",
            Error::ShardGone { .. } => "shard_gone",
            Error::PathTaken { .. } => "path_taken",
            Error::BranchCheckedOut { .. } => "branch_checked_out",
            Error::WorktreeDirty { .. } => "worktree_dirty",
            Error::SubmoduleWork { .. } => "submodule_work",
            Error::Busy { .. } => "busy",
            Error::PortsExhausted { .. } => "ports_exhausted",
            Error::ServicePorts { .. } => "service_ports",
            Error::InvalidService { .. } => "invalid_service",
            Error::NotInShard { .. } => "not_in_shard",
            Error::CannotAdopt { .. } => "cannot_adopt",
            Error::EnvFile { .. } => "env_file",
            Error::Config { .. } => "config",
            Error::LedgerCorrupt { .. } => "ledger_corrupt",
            Error::LedgerTooNew { .. } => "ledger_too_new",
            Error::LedgerLocked { .. } => "ledger_locked",
            Error::LedgerUnwritable { .. } => "ledger_unwritable",
            Error::Sqlite(_) => "ledger",
            Error::Git(_) => "git",
            Error::Io { .. } => "io",
            Error::Child { .. } => "child",
            Error::Interrupted { .. } => "interrupted",
            Error::CannotRun { .. } => "cannot_run",
            Error::PartlyDone { cause, .. } => cause.kind(),
        }
    }

    /// Returns the process exit code for this error; the only such mapping.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotARepo { .. }
            | Error::RepoUnsupported { .. }
            | Error::InvalidName { .. }
            | Error::RefNotFound { .. }
            | Error::ShardNotFound { .. }
            | Error::NameTaken { .. }
            | Error::ShardGone { .. }
            | Error::PathTaken { .. }
            | Error::BranchCheckedOut { .. }
            | Error::WorktreeDirty { .. }
            | Error::SubmoduleWork { .. }
            | Error::Busy { .. }
            | Error::PortsExhausted { .. }
            | Error::ServicePorts { .. }
            | Error::InvalidService { .. }
            | Error::NotInShard { .. }
            | Error::CannotAdopt { .. }
            | Error::EnvFile { .. }
            | Error::Sqlite(_)
            | Error::Git(_)
            | Error::Io { .. } => 1,
            Error::Config { .. } => 2,
            Error::LedgerCorrupt { .. }
            | Error::LedgerTooNew { .. }
            | Error::LedgerLocked { .. }
            | Error::LedgerUnwritable { .. } => 3,
            Error::Child { code } => *code,
            // As shells report a process ended by a signal: 130, 143.
            Error::Interrupted { signal, .. } => 128 + signal,
            // As shells do: 127 for a command not found, 126 for one that cannot run.
            Error::CannotRun { err, .. } if err.kind() == std::io::ErrorKind::NotFound => 127,
            Error::CannotRun { .. } => 126,
            Error::PartlyDone { cause, .. } => cause.exit_code(),
        }
    }

    /// Returns the next step a user should take, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NotARepo { .. } => {
                "run shards inside a git repository, or pass -C <path>".to_string()
            }
            Error::RepoUnsupported { hint, .. } => hint.clone(),
            Error::InvalidName { .. } => {
                "use letters, digits, `.`, `_`, `-` and `/` (like a git branch name), up to 100 characters, not starting with `-`".to_string()
            }
            Error::RefNotFound { .. } => {
                "pass an existing branch, tag or commit to --base (see `git branch -a`)".to_string()
            }
            Error::ShardNotFound { .. } => {
                "run `shards list` to see the shards of this repository (`--all` for every repository)".to_string()
            }
            Error::NameTaken { state, name, .. } if *state != ShardState::Active => format!(
                "if no shards process is working on it, run `shards prune` to reclaim `{name}`"
            ),
            Error::NameTaken { name, .. } => format!(
                "pick another name, or `shards destroy {name}` first"
            ),
            Error::ShardGone { .. } => {
                "run `shards list` to see the shards of this repository now".to_string()
            }
            Error::PathTaken { .. } => {
                "move that folder away, or pick another shard name".to_string()
            }
            Error::BranchCheckedOut { .. } => {
                "use another branch (`shards create NAME --branch BR`), or switch that worktree to another branch".to_string()
            }
            Error::WorktreeDirty { name, .. } => format!(
                "commit or stash the changes, or run `shards destroy --force {name}` to discard them"
            ),
            Error::SubmoduleWork { name, .. } => format!(
                "push it from the submodule's folder (for example `git push -u origin HEAD`), or run `shards destroy --force {name}` to discard it"
            ),
            Error::Busy { .. } => {
                "wait for that process to finish; if it was killed, run `shards prune`".to_string()
            }
            Error::PortsExhausted { .. } => {
                "run `shards prune` to reclaim blocks of deleted worktrees, `shards destroy` shards you no longer need, widen `ports.max`, or shrink `ports.block_size`".to_string()
            }
            Error::ServicePorts { .. } => {
                "release services you no longer need (`shards port --release NAME`), or create the shard with a larger --block-size".to_string()
            }
            Error::InvalidService { .. } => {
                "name services like `web`, `api`, `db` or `web_admin`".to_string()
            }
            Error::NotInShard { .. } => {
                "run it inside a shard's worktree, or pass --shard NAME (`shards list` shows the names)".to_string()
            }
            Error::CannotAdopt { .. } => {
                "adopt takes a linked worktree of this repository (`git worktree list`) that is not a shard yet".to_string()
            }
            Error::EnvFile { .. } => {
                "shards edits only the lines between `# >>> shards >>>` and `# <<< shards <<<`; repair the file named above, or set `env.file` to another name".to_string()
            }
            Error::Config { .. } => "fix the value named above; `shards --help` lists the configuration keys".to_string(),
            Error::LedgerCorrupt { path, .. } => format!(
                "shards leaves the file as it is; move it aside (`mv {0} {0}.broken`) to start a new ledger, then re-register worktrees with `shards adopt`",
                path.display()
            ),
            Error::LedgerTooNew { .. } => "upgrade shards to the version that wrote this ledger".to_string(),
            Error::LedgerUnwritable { path, .. } => format!(
                "SQLite needs to write the file and create `-wal` and `-shm` files next to it: check the permissions of {0} and the free disk space; to share this shards home between users, give it to their group once (`chgrp GROUP {0} && chmod 2770 {0}`)",
                path.parent().unwrap_or(path).display()
            ),
            Error::LedgerLocked { .. } => {
                "another shards process holds the ledger; try again, and check for a hung process (`pgrep -a shards`)".to_string()
            }
            Error::PartlyDone { cause, .. } => return cause.hint(),
            Error::Interrupted { .. } => {
                "nothing of it is left; if a second signal stopped the undo, `shards prune` reclaims the rest".to_string()
            }
            Error::CannotRun { err, .. } if err.kind() == std::io::ErrorKind::NotFound => {
                "check the command's name, or give its full path".to_string()
            }
            Error::CannotRun { .. } => "check that the file is an executable program".to_string(),
            Error::Io { err, .. } => match err.kind() {
                std::io::ErrorKind::NotFound => "check that the path exists".to_string(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    "check that you may write there and that the disk is writable".to_string()
                }
                std::io::ErrorKind::StorageFull => "free some disk space and try again".to_string(),
                _ => return None,
            },
            // libgit2's and SQLite's messages carry no next step we could
            // name, and a child's failure is the child's to explain.
            Error::Sqlite(_) | Error::Git(_) | Error::Child { .. } => return None,
        })
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
