//! Hooks in a shard's life: which may run (a repository's hooks only once
//! the user approved them as they are now: `shards trust`), and running
//! them with the shard's variables, as `shards run` gives them: `setup`
//! inside the create (a failing step fails it, and the create's undo runs),
//! `start` in the background once the shard is active (its process and log
//! recorded), `teardown` before a destroy or prune removes the worktree.
//!
//! Lifecycle layer: uses the ledger (approvals, start records) and the host
//! (`host::hook` runs the processes); knows nothing of clap or output
//! formats. Announcements ("setup 1/2: npm ci") go to the caller's `say`.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::hooks::{Hook, Hooks};
use crate::error::{Error, Result};
use crate::host;
use crate::host::hook::StepEnd;
use crate::ledger::hooks::StartRecord;
use crate::ledger::{Ledger, ShardRow};

use super::{Site, env, now};

/// Where a hook's announcement lines go (stderr in the CLI).
pub type Say<'a> = &'a dyn Fn(&str);

/// Returns the file part of a `file:line` origin.
fn file_of(origin: &str) -> &str {
    match origin.rsplit_once(':') {
        Some((file, line)) if line.chars().all(|c| c.is_ascii_digit()) => file,
        _ => origin,
    }
}

/// Returns the hooks a create may run: none when `skip` (`--no-hooks`),
/// else all of them once the repository's own hooks (if any) are approved
/// by this user as they are now. Refuses otherwise, before anything is
/// written.
pub fn allowed(ledger: &Ledger, git_dir: &Path, hooks: &Hooks, skip: bool) -> Result<Hooks> {
    if skip {
        return Ok(Hooks::default());
    }
    let Some(hash) = hooks.project_hash() else {
        return Ok(hooks.clone());
    };
    let uid = host::current_uid();
    if ledger.hooks_approved(git_dir, uid, &hash)? {
        return Ok(hooks.clone());
    }
    let project = hooks.project();
    Err(Error::HooksUntrusted {
        origin: project
            .first()
            .map(|(_, h)| file_of(&h.origin).to_string())
            .unwrap_or_default(),
        hooks: project.iter().map(|(n, _)| format!("`{n}`")).collect(),
        changed: ledger.has_approvals(git_dir, uid)?,
    })
}

/// Returns the `teardown` hook a destroy or prune may run, or a warning
/// saying why the one configured is left out (`skip`, or a repository's
/// hook not approved as it is now: it is skipped, never run, and the
/// destroy goes on, since refusing would keep the block held by a shard
/// whose user chose not to trust that code).
pub fn teardown_allowed(
    ledger: &Ledger,
    git_dir: &Path,
    hooks: &Hooks,
    skip: bool,
) -> Result<(Option<Hook>, Option<String>)> {
    let Some(hook) = &hooks.teardown else {
        return Ok((None, None));
    };
    if skip {
        return Ok((None, None));
    }
    match allowed(ledger, git_dir, hooks, false) {
        Ok(_) => Ok((Some(hook.clone()), None)),
        Err(Error::HooksUntrusted { origin, .. }) => Ok((
            None,
            Some(format!(
                "the teardown hook in {origin} was not run: the repository's hooks are not trusted as they are now (`shards trust` approves them)"
            )),
        )),
        Err(e) => Err(e),
    }
}

/// Returns the variables a hook runs with: the shard's, as `shards run`
/// gives them, and `SHARD_PATH`.
pub fn vars(ledger: &Ledger, row: &ShardRow, config: &Config) -> Result<Vec<(String, String)>> {
    let mut vars = env::current_vars(ledger, row, config)?;
    vars.push((
        "SHARD_PATH".to_string(),
        row.path.to_string_lossy().into_owned(),
    ));
    if row.spare.is_some() {
        // A spare's setup runs ahead of its name: SHARD_NAME is the
        // spare's own until a create claims it.
        vars.push(("SHARD_SPARE".to_string(), "1".to_string()));
    }
    Ok(vars)
}

/// Runs hook `name`'s steps in order in the shard's worktree, announcing
/// each through `say`. A failing step fails the hook ([`Error::HookFailed`]),
/// unless it is optional: then it is a warning, returned. `stop` is asked
/// while a step runs; its error kills the step's process group and is
/// returned. When the hook fails, what its steps left running in the
/// background is killed too, so a failed create leaves no process behind;
/// so it is when the hook succeeds, unless `keep_background`.
pub fn run(
    name: &str,
    hook: &Hook,
    row: &ShardRow,
    vars: &[(String, String)],
    say: Say<'_>,
    stop: &dyn Fn() -> Result<()>,
    keep_background: bool,
) -> Result<Vec<String>> {
    // Each step's process group, to kill what it left running.
    let mut groups = Vec::new();
    let mut steps = || -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        let n = hook.steps.len();
        for (i, step) in hook.steps.iter().enumerate() {
            stop()?;
            say(&format!("{name} {}/{n}: {}", i + 1, step.run));
            let ended = host::hook::run_step(&step.run, &row.path, vars, &mut || stop().is_ok())?;
            groups.push(ended.group);
            let code = match ended.end {
                StepEnd::Exited(0) => continue,
                StepEnd::Exited(code) => Some(code),
                StepEnd::Signaled(_) => None,
                StepEnd::Stopped => {
                    stop()?;
                    None
                }
            };
            if step.optional {
                let how = code.map_or("killed by a signal".to_string(), |c| {
                    format!("exit code {c}")
                });
                warnings.push(format!(
                    "{name} step {}/{n} `{}` failed ({how}); it is optional, so shards went on",
                    i + 1,
                    step.run
                ));
                continue;
            }
            return Err(Error::HookFailed {
                hook: name.to_string(),
                name: row.name.clone(),
                step: i + 1,
                steps: n,
                command: step.run.clone(),
                code,
            });
        }
        Ok(warnings)
    };
    let ran = steps();
    if ran.is_err() || !keep_background {
        host::hook::kill_groups(&groups);
    }
    ran
}

/// Returns the shell script a background hook runs: its steps in order, a
/// failing step ending it unless optional.
fn script(hook: &Hook) -> String {
    if let [only] = hook.steps.as_slice() {
        return only.run.clone();
    }
    hook.steps
        .iter()
        .map(|s| {
            let on_fail = if s.optional { "true" } else { "exit $?" };
            format!("{{\n{}\n}} || {on_fail}\n", s.run)
        })
        .collect()
}

/// Returns the log file of shard `row`'s start hook: `<home>/logs/<repo>-<shard>-<id>.log`.
pub fn log_path(home: &Path, row: &ShardRow) -> PathBuf {
    home.join("logs").join(format!(
        "{}-{}-{}.log",
        row.repo.dir_name,
        row.name.replace('/', "-"),
        row.id
    ))
}

/// Starts the `start` hook in the background (its own session, stdin
/// `/dev/null`, output appended to [`log_path`]) and records its process
/// in the ledger.
pub fn start(
    site: &mut Site<'_>,
    hook: &Hook,
    row: &ShardRow,
    vars: &[(String, String)],
    say: Say<'_>,
) -> Result<StartRecord> {
    let log = log_path(site.home, row);
    let logs = site.home.join("logs");
    crate::fsutil::create_home_dir(&logs, crate::fsutil::Sharing::of(site.home))?;
    let text = script(hook);
    say(&format!("start: {}", text.trim()));
    let pid = host::hook::spawn_background(&text, &row.path, vars, &log)?;
    let record = StartRecord {
        pid,
        log,
        started_at: now(),
    };
    site.ledger.set_start(row.id, &record)?;
    Ok(record)
}

/// Runs the `teardown` hook of a shard whose worktree is still there;
/// nothing when it is gone. See [`run`]; what its steps leave running in
/// their process groups is killed when it ends. SIGINT or SIGTERM, when caught
/// (`host::interrupt`), stops it: its steps' process groups are killed
/// and [`Error::DestroyInterrupted`] returned.
pub fn teardown(
    hook: &Hook,
    row: &ShardRow,
    vars: &[(String, String)],
    say: Say<'_>,
) -> Result<Vec<String>> {
    if !row.path.is_dir() {
        return Ok(Vec::new());
    }
    let stop = || match host::interrupt::caught() {
        Some(signal) => Err(Error::DestroyInterrupted {
            signal,
            name: row.name.clone(),
        }),
        None => Ok(()),
    };
    // The worktree goes next: what the steps left in the background would
    // run on in a deleted folder (and hold shards' stderr open).
    run("teardown", hook, row, vars, say, &stop, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hooks::Step;

    #[test]
    fn a_background_script_stops_at_a_failing_step_unless_optional() {
        let step = |run: &str, optional| Step {
            run: run.into(),
            optional,
        };
        let hook = |steps| Hook {
            steps,
            origin: "f:1".into(),
            project: false,
        };
        assert_eq!(
            script(&hook(vec![step("npm run dev", false)])),
            "npm run dev"
        );
        let s = script(&hook(vec![step("a", true), step("b", false)]));
        assert_eq!(s, "{\na\n} || true\n{\nb\n} || exit $?\n");
        assert_eq!(file_of("/r/.shards.toml:3"), "/r/.shards.toml");
    }
}
