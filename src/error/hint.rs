//! The next step a user should take after each error: [`Error::hint`],
//! matching every variant explicitly. Kept apart from the enum so both stay
//! short; it knows nothing of how errors are printed.

use super::{Error, ShardState};

impl Error {
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
            Error::InvalidBranch { hint, .. } => hint.clone(),
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
            Error::ShardGone { .. } | Error::DestroyedElsewhere { .. } => {
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
            Error::ProcessesRunning { names, .. } => format!(
                "stop them, or run `shards destroy --reap {}`: SIGTERM, then SIGKILL to what is left after the grace (`--grace SECS`, default 5); --force does not stop processes",
                names.join(" ")
            ),
            Error::ReapFailed { stopped, .. } => format!(
                "{stopped} other process(es) were stopped; one in state D waits on the kernel (a hung disk or network mount): wait for it or stop it by hand, then destroy again"
            ),
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
            Error::RegisterLocked { .. } => {
                "another shards process on this host holds the register while it picks a block; try again, and check for a hung process (`pgrep -a shards`)".to_string()
            }
            Error::RegisterUnsafe { path, .. } => format!(
                "make it a sticky folder (`chmod 1777 {}`, as root if another user owns it), or set {} to a folder that every shards home on this host shares",
                path.display(),
                crate::paths::SHARDS_REGISTER
            ),
            Error::RegisterUnusable { .. } => format!(
                "every shards home on this host records its blocks there so none is handed out twice; make it writable, or set {} to a writable folder that every shards home on this host shares",
                crate::paths::SHARDS_REGISTER
            ),
            Error::GitFailed { .. } => {
                "git's message above names the cause; shards undid the create, so fix that and create again (`git worktree add` fails the same way)".to_string()
            }
            Error::WorktreeLocked { name, path, .. } => format!(
                "unlock it (`git worktree unlock {}`), or run `shards destroy --force --force {name}` as git needs `-f -f`",
                path.display()
            ),
            Error::PartlyDone { cause, .. } => return cause.hint(),
            Error::DestroyInterrupted { name, .. } => format!(
                "run `shards destroy {name}` again, or `shards destroy --no-hooks {name}` to destroy it without its teardown hook"
            ),
            Error::WaitInterrupted { .. } => {
                "the filler goes on in the background; `shards spares` shows how far it is".to_string()
            }
            Error::Interrupted { .. } => {
                "nothing of it is left; if a second signal stopped the undo, `shards prune` reclaims the rest".to_string()
            }
            Error::HooksUntrusted { .. } => {
                "review them and run `shards trust` to approve them, or pass `--no-hooks` to create without them".to_string()
            }
            Error::HookFailed { hook, .. } if hook == "setup" => {
                "its output is above; fix the step (or mark it `optional = true`) and create again, or create with `--no-hooks`".to_string()
            }
            Error::HookFailed { name, .. } => format!(
                "its output is above; nothing was removed. Fix the hook, or run `shards destroy --force {name}` to go on without it"
            ),
            Error::CannotRun { err, .. } if err.kind() == std::io::ErrorKind::NotFound => {
                "check the command's name, or give its full path".to_string()
            }
            Error::CannotRun { .. } => "check that the file is an executable program".to_string(),
            Error::Copy { err, .. } if err.kind() == std::io::ErrorKind::StorageFull => {
                "shards undid the create; free some disk space, or link big folders instead of copying them (`[copy] symlink`), and create again".to_string()
            }
            Error::Copy { .. } => {
                "shards undid the create; make the file readable (or leave it out of `.worktreeinclude`) and create again".to_string()
            }
            Error::Io { err, .. } => match err.kind() {
                std::io::ErrorKind::NotFound => "check that the path exists".to_string(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    "check that you may write there and that the disk is writable".to_string()
                }
                std::io::ErrorKind::StorageFull => "free some disk space and try again".to_string(),
                _ => return None,
            },
            Error::NoShellFunction { name } => format!(
                "load it in your shell's startup file: `eval \"$(shards init bash)\"` in ~/.bashrc, `eval \"$(shards init zsh)\"` in ~/.zshrc, or `shards init fish | source` in ~/.config/fish/config.fish; until then, `cd \"$(shards path {name})\"`"
            ),
            Error::Usage { hint, .. } | Error::Proxy { hint, .. } => hint.clone(),
            Error::AgentHookPayload { .. } => {
                "shards hook claude-code reads Claude Code's WorktreeCreate or WorktreeRemove hook input (JSON) on stdin; see the README's Claude Code section".to_string()
            }
            Error::NotAShard { .. } => {
                "`shards list --all` shows every shard and its worktree; a worktree shards did not make is removed with `git worktree remove`".to_string()
            }
            // libgit2's and SQLite's messages carry no next step we could
            // name, and a child's failure is the child's to explain.
            Error::Sqlite(_) | Error::Git(_) | Error::Child { .. } => return None,
        })
    }
}
