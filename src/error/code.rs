//! What each error is called and how shards exits on it: [`Error::kind`],
//! the stable name `--json` prints, and [`Error::exit_code`], the only
//! mapping to exit codes. Both match every variant explicitly, so a new
//! variant cannot be left out; kept apart from the enum so both stay short.

use super::Error;

impl Error {
    /// Returns a stable, snake_case name for the kind of error, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotARepo { .. } => "not_a_repo",
            Error::RepoUnsupported { .. } => "repo_unsupported",
            Error::InvalidName { .. } => "invalid_name",
            Error::InvalidBranch { .. } => "invalid_branch",
            Error::RefNotFound { .. } => "ref_not_found",
            Error::ShardNotFound { .. } => "shard_not_found",
            Error::NameTaken { .. } => "name_taken",
            Error::ShardGone { .. } | Error::DestroyedElsewhere { .. } => "shard_gone",
            Error::PathTaken { .. } => "path_taken",
            Error::BranchCheckedOut { .. } => "branch_checked_out",
            Error::WorktreeDirty { .. } => "worktree_dirty",
            Error::SubmoduleWork { .. } => "submodule_work",
            Error::Busy { .. } => "busy",
            Error::ProcessesRunning { .. } => "processes_running",
            Error::ReapFailed { .. } => "reap_failed",
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
            Error::RegisterLocked { .. } => "register_locked",
            Error::RegisterUnsafe { .. } => "register_unsafe",
            Error::RegisterUnusable { .. } => "register_unusable",
            Error::Sqlite(_) => "ledger",
            Error::Git(_) => "git",
            Error::GitFailed { .. } => "git_failed",
            Error::WorktreeLocked { .. } => "worktree_locked",
            Error::Copy { .. } => "copy",
            Error::Io { .. } => "io",
            Error::Child { .. } => "child",
            Error::HooksUntrusted { .. } => "hooks_untrusted",
            Error::HookFailed { .. } => "hook_failed",
            Error::Interrupted { .. } => "interrupted",
            Error::DestroyInterrupted { .. } => "interrupted",
            Error::WaitInterrupted { .. } => "interrupted",
            Error::CannotRun { .. } => "cannot_run",
            Error::NoShellFunction { .. } => "no_shell_function",
            Error::Usage { .. } => "usage",
            Error::Proxy { .. } => "proxy",
            Error::AgentHookPayload { .. } => "hook_payload",
            Error::NotAShard { .. } => "not_a_shard",
            Error::PartlyDone { cause, .. } => cause.kind(),
        }
    }

    /// Returns the process exit code for this error; the only such mapping.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotARepo { .. }
            | Error::RepoUnsupported { .. }
            | Error::InvalidName { .. }
            | Error::InvalidBranch { .. }
            | Error::RefNotFound { .. }
            | Error::ShardNotFound { .. }
            | Error::NameTaken { .. }
            | Error::ShardGone { .. }
            | Error::DestroyedElsewhere { .. }
            | Error::PathTaken { .. }
            | Error::BranchCheckedOut { .. }
            | Error::WorktreeDirty { .. }
            | Error::SubmoduleWork { .. }
            | Error::Busy { .. }
            | Error::ProcessesRunning { .. }
            | Error::ReapFailed { .. }
            | Error::PortsExhausted { .. }
            | Error::ServicePorts { .. }
            | Error::InvalidService { .. }
            | Error::NotInShard { .. }
            | Error::CannotAdopt { .. }
            | Error::EnvFile { .. }
            | Error::Sqlite(_)
            | Error::Git(_)
            | Error::GitFailed { .. }
            | Error::WorktreeLocked { .. }
            | Error::HooksUntrusted { .. }
            | Error::HookFailed { .. }
            | Error::Copy { .. }
            | Error::AgentHookPayload { .. }
            | Error::NotAShard { .. }
            | Error::Proxy { .. }
            | Error::Io { .. } => 1,
            // Fixed by editing input, as a usage error: the shell's startup file.
            Error::Config { .. } | Error::NoShellFunction { .. } | Error::Usage { .. } => 2,
            Error::LedgerCorrupt { .. }
            | Error::LedgerTooNew { .. }
            | Error::LedgerLocked { .. }
            | Error::LedgerUnwritable { .. }
            | Error::RegisterLocked { .. }
            | Error::RegisterUnsafe { .. }
            | Error::RegisterUnusable { .. } => 3,
            Error::Child { code } => *code,
            // As shells report a process ended by a signal: 130, 143.
            Error::Interrupted { signal, .. } => 128 + signal,
            Error::DestroyInterrupted { signal, .. } => 128 + signal,
            Error::WaitInterrupted { signal } => 128 + signal,
            // As shells do: 127 for a command not found, 126 for one that cannot run.
            Error::CannotRun { err, .. } if err.kind() == std::io::ErrorKind::NotFound => 127,
            Error::CannotRun { .. } => 126,
            Error::PartlyDone { cause, .. } => cause.exit_code(),
        }
    }
}
