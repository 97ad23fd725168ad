//! `shards hook claude-code`: an agent hook, Claude Code's `WorktreeCreate`
//! and `WorktreeRemove` hooks (not a project's setup/start/teardown hooks,
//! which are `shard::hooks`). Reads the agent's hook input (JSON) on stdin;
//! a create makes a shard and prints only its absolute path on stdout, a
//! remove destroys the shard whose worktree the payload names.
//!
//! Command layer: reads stdin and the payload's fields here, then runs
//! `cmd::create` and `cmd::destroy` unchanged in the payload's repository;
//! it knows nothing of git, the ledger's tables or the host.

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cmd::create::{self, CreateArgs, CreateReport};
use crate::cmd::destroy::{self, DestroyArgs, DestroyReport};
use crate::context::{Ctx, GlobalArgs};
use crate::error::{Error, Result};
use crate::host;
use crate::model::{ShardName, ShardState};
use crate::output::{Render, RenderCtx};
use crate::shard::reap;

/// The largest payload read. Claude Code's are usually a few hundred bytes,
/// but nothing bounds what a session may carry, so the bound only keeps a
/// runaway writer from filling memory.
const MAX_PAYLOAD_MIB: u64 = 64;

/// Handle a coding agent's worktree hook
///
/// `shards hook claude-code` is Claude Code's WorktreeCreate and
/// WorktreeRemove command hook: it reads the hook input (JSON) on stdin.
///
/// WorktreeCreate: creates a shard in the repository of the payload's
/// `cwd` (else the working directory), named after its `name` (or
/// `worktree_name`, or the last part of `worktree_path`): characters other
/// than letters, digits, `.`, `_`, `-` and `/` become `-`. The new branch
/// starts at `base_ref` (or `base_commit`, `source_ref`) when given, else
/// at HEAD. Prints only the worktree's absolute path on stdout; progress,
/// notes and hooks' output go to stderr. An active shard of that name is
/// reused (its path printed). A failure exits non-zero, which fails
/// Claude Code's worktree creation.
///
/// WorktreeRemove: destroys the shard whose worktree is `worktree_path`,
/// as `shards destroy` without --force or --reap: uncommitted or untracked
/// work and running processes are refused, the reason on stderr. A path
/// that is no shard's worktree is an error.
#[derive(Debug, Args)]
pub struct AgentHookArgs {
    /// The agent whose hook input comes on stdin
    #[arg(value_enum)]
    pub agent: Agent,
}

/// The coding agents whose agent hooks shards handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Agent {
    /// Claude Code's WorktreeCreate and WorktreeRemove hooks
    ClaudeCode,
}

/// What an agent hook did.
#[derive(Debug, Serialize)]
pub struct AgentHookReport {
    /// The hook event handled (`WorktreeCreate`, `WorktreeRemove`).
    pub event: String,
    /// The shard's worktree (absolute): created, reused or removed.
    pub path: PathBuf,
    /// Whether an existing shard of that name was reused (create only).
    pub reused: bool,
    /// The create's report, when a shard was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<CreateReport>,
    /// The destroy's report, when a shard was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroyed: Option<DestroyReport>,
}

/// Reads the agent's hook input on stdin and acts on it.
pub fn run(ctx: &Ctx, args: &AgentHookArgs) -> Result<AgentHookReport> {
    match args.agent {
        Agent::ClaudeCode => {
            if io::stdin().is_terminal() {
                return Err(payload(
                    "no hook input: Claude Code writes it on stdin, this stdin is a terminal"
                        .to_string(),
                ));
            }
            let max = MAX_PAYLOAD_MIB << 20;
            let mut text = Vec::new();
            io::stdin()
                .take(max + 1)
                .read_to_end(&mut text)
                .map_err(|e| payload(format!("cannot read stdin: {e}")))?;
            if text.len() as u64 > max {
                return Err(payload(format!(
                    "payload larger than {MAX_PAYLOAD_MIB} MiB on stdin"
                )));
            }
            claude_code(ctx, &text)
        }
    }
}

fn payload(message: String) -> Error {
    Error::AgentHookPayload { message }
}

/// Returns the first of `keys` that the payload sets to a non-empty
/// string; a key set to anything but a string or `null` is an error.
fn field<'a>(obj: &'a Map<String, Value>, keys: &[&str]) -> Result<Option<&'a str>> {
    for key in keys {
        match obj.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::String(v)) if v.is_empty() => {}
            Some(Value::String(v)) => return Ok(Some(v)),
            Some(other) => {
                return Err(payload(format!(
                    "`{key}` is {}, expected a string",
                    json_type(other)
                )));
            }
        }
    }
    Ok(None)
}

/// Returns what a JSON value is, with its article ("a number").
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Acts on one Claude Code hook input.
fn claude_code(ctx: &Ctx, text: &[u8]) -> Result<AgentHookReport> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| payload(format!("stdin is not JSON ({e})")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| payload("stdin is not a JSON object".to_string()))?;
    let event = field(obj, &["hook_event_name"])?
        .ok_or_else(|| payload("no `hook_event_name`".to_string()))?;
    // The repository: the payload's `cwd` (where Claude Code runs).
    let cwd = field(obj, &["cwd"])?.map(|c| ctx.cwd.join(c));
    match event {
        "WorktreeCreate" => {
            let last_part = field(obj, &["worktree_path"])?.and_then(|p| {
                Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            });
            let raw = field(obj, &["name", "worktree_name"])?
                .map(str::to_string)
                .or(last_part)
                .ok_or_else(|| {
                    payload(
                        "WorktreeCreate without `name`, `worktree_name` or `worktree_path`"
                            .to_string(),
                    )
                })?;
            let name = ShardName::sanitise(&raw);
            let base = field(obj, &["base_ref", "base_commit", "source_ref"])?;
            let sub = at(ctx, cwd)?;
            worktree_create(&sub, &name, base)
        }
        "WorktreeRemove" => {
            let path = field(obj, &["worktree_path", "path"])?
                .ok_or_else(|| payload("WorktreeRemove without `worktree_path`".to_string()))?;
            worktree_remove(ctx, &ctx.cwd.join(path))
        }
        other => Err(payload(format!(
            "unknown hook event `{}`: shards handles WorktreeCreate and WorktreeRemove",
            crate::quote::clip(other)
        ))),
    }
}

/// Returns a context acting from `dir` (the payload's `cwd`), or `ctx`'s
/// own folder without one.
fn at(ctx: &Ctx, dir: Option<PathBuf>) -> Result<Ctx> {
    let global = GlobalArgs {
        dir: dir.or_else(|| Some(ctx.cwd.clone())),
        ..ctx.global.clone()
    };
    Ctx::new(global, ctx.env.clone())
}

/// Creates the shard `name`, or reuses an active one of that name.
fn worktree_create(ctx: &Ctx, name: &str, base: Option<&str>) -> Result<AgentHookReport> {
    let repo = ctx.repo()?;
    let existing = ctx.ledger()?.find(&repo.git_dir, name)?;
    if let Some(row) = existing.filter(|r| r.state == ShardState::Active && r.path.is_dir()) {
        return Ok(AgentHookReport {
            event: "WorktreeCreate".into(),
            path: row.path,
            reused: true,
            created: None,
            destroyed: None,
        });
    }
    let args = CreateArgs {
        name: name.to_string(),
        base: base.map(str::to_string),
        branch: None,
        block_size: None,
        direnv: false,
        no_hooks: false,
        no_spare: false,
        dry_run: false,
        cd: false,
        command: Vec::new(),
    };
    // As `shards create`: Ctrl-C or SIGTERM undoes the create.
    let interrupts = host::interrupt::catch();
    let report = create::run(ctx, &args)?;
    drop(interrupts);
    Ok(AgentHookReport {
        event: "WorktreeCreate".into(),
        path: report.shard.path.clone(),
        reused: false,
        created: Some(report),
        destroyed: None,
    })
}

/// Destroys the shard whose worktree is `path`, as `shards destroy` does.
fn worktree_remove(ctx: &Ctx, path: &Path) -> Result<AgentHookReport> {
    let wanted = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let row = ctx
        .ledger()?
        .list(None)?
        .into_iter()
        .filter(|r| r.spare.is_none())
        .find(|r| {
            r.path == path
                || r.path == wanted
                || std::fs::canonicalize(&r.path).is_ok_and(|p| p == wanted)
        })
        .ok_or_else(|| Error::NotAShard {
            path: path.to_path_buf(),
        })?;
    // Act from the main worktree, not from the worktree being removed.
    let root = Some(row.repo.root.clone()).filter(|r| r.is_dir());
    let sub = at(ctx, root.or_else(|| Some(wanted.clone())))?;
    let args = DestroyArgs {
        names: vec![row.name.clone()],
        force: 0,
        reap: false,
        grace: reap::DEFAULT_GRACE_SECS,
        no_hooks: false,
        catch_signals: true,
    };
    let report = destroy::run(&sub, &args)?;
    Ok(AgentHookReport {
        event: "WorktreeRemove".into(),
        path: row.path,
        reused: false,
        created: None,
        destroyed: Some(report),
    })
}

impl Render for AgentHookReport {
    fn render(&self, w: &mut dyn Write, _: &RenderCtx<'_>) -> io::Result<()> {
        match self.event.as_str() {
            // Claude Code reads the new worktree's path, and nothing else.
            "WorktreeCreate" => writeln!(w, "{}", self.path.display()),
            _ => Ok(()),
        }
    }

    fn notes(&self, cx: &RenderCtx<'_>) -> Vec<String> {
        let mut notes = Vec::new();
        if self.reused {
            notes.push(format!(
                "Reusing the shard at {} (a shard of that name exists).",
                cx.path(&self.path)
            ));
        }
        if let Some(c) = &self.created {
            notes.extend(c.notes(cx));
        }
        if let Some(d) = &self.destroyed {
            notes.extend(d.notes(cx));
        }
        notes
    }

    fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(c) = &self.created {
            warnings.extend(c.warnings());
        }
        if let Some(d) = &self.destroyed {
            warnings.extend(d.warnings());
        }
        warnings
    }
}
