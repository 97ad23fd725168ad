//! How reports show a shard: the views shared by `create`, `list`,
//! `destroy`, `prune`, `status` and the MCP tools, and the names `--json`
//! gives a branch's fate and `prune --merged`'s verdicts, and what a create
//! copied in (`.worktreeinclude`). Plain data built
//! from ledger rows and the lifecycle's values.
//!
//! Command layer: knows ledger rows and the model, nothing of git or SQLite
//! (a shard's status comes from the lifecycle's `relocate::status`).

use std::path::PathBuf;

use serde::Serialize;

use crate::ledger::ShardRow;
use crate::model::{PortBlock, ShardStatus};
use crate::shard::copy::Copied;
use crate::shard::merged::{Keep, Verdict};
use crate::shard::reclaim::{BranchFate, Retained};
use crate::shard::relocate;
use crate::worktree::Merged;

/// A port block as printed in JSON.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PortsView {
    /// First port.
    pub start: u16,
    /// Last port (inclusive).
    pub end: u16,
    /// Number of ports.
    pub count: u16,
}

impl PortsView {
    /// Returns the view of a block.
    pub fn of(block: PortBlock) -> PortsView {
        PortsView {
            start: block.start(),
            end: block.end(),
            count: block.len(),
        }
    }
}

/// A shard as reports show it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ShardView {
    /// Shard name.
    pub name: String,
    /// Repository root.
    pub repo: PathBuf,
    /// Branch.
    pub branch: String,
    /// Port block.
    pub ports: PortsView,
    /// `active`, `missing` (worktree gone), `replaced` (its folder is no
    /// longer its git worktree), `creating` or `destroying`.
    pub status: ShardStatus,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// Worktree folder.
    pub path: PathBuf,
}

impl ShardView {
    /// Builds the view of a ledger row, checking only whether the worktree
    /// exists and is still the shard's (its `.git` link).
    pub fn of(row: &ShardRow) -> ShardView {
        let created =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(row.created_at.max(0) as u64);
        ShardView {
            name: row.name.clone(),
            repo: row.repo.root.clone(),
            branch: row.branch.clone(),
            ports: PortsView::of(row.block),
            status: relocate::status(row),
            created_at: humantime::format_rfc3339_seconds(created).to_string(),
            path: row.path.clone(),
        }
    }

    /// Returns the seconds from its creation to `now` (0 when unreadable).
    pub fn age_secs(&self, now: std::time::SystemTime) -> i64 {
        secs_since(&self.created_at, now)
    }
}

/// Returns the seconds from `at` (RFC 3339) to `now` (0 when unreadable).
pub fn secs_since(at: &str, now: std::time::SystemTime) -> i64 {
    humantime::parse_rfc3339(at)
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// Returns an age in seconds as a table shows it: `42s`, `5m`, `3h`, `2d`.
pub fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// What became of a reclaimed shard's branch, as printed in JSON.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BranchView {
    /// `deleted`, `kept`, `gone` (it was gone already) or `unchecked` (its
    /// repository is gone, and the branch with it).
    pub fate: &'static str,
    /// Why it was kept: `predates` (it existed before the shard),
    /// `unmerged` (something on it would be lost) or `moved_since_merged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_because: Option<&'static str>,
    /// The commit a squash-merged branch was deleted at, which brings it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
}

impl BranchView {
    /// Returns the view of a branch's fate.
    pub fn of(fate: &BranchFate) -> BranchView {
        let (fate, kept_because, tip) = match fate {
            BranchFate::Deleted => ("deleted", None, None),
            BranchFate::DeletedMerged { tip, .. } => ("deleted", None, Some(tip.clone())),
            BranchFate::Kept(why) => (
                "kept",
                Some(match why {
                    Retained::Predates => "predates",
                    Retained::Unmerged(_) => "unmerged",
                    Retained::MovedSinceMerged => "moved_since_merged",
                }),
                None,
            ),
            BranchFate::Gone => ("gone", None, None),
            BranchFate::RepoGone => ("unchecked", None, None),
        };
        BranchView {
            fate,
            kept_because,
            tip,
        }
    }
}

/// Returns the name `prune --json` gives what `prune --merged` decided
/// for a shard (its `verdict` field).
pub fn verdict(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Reclaim(merge) => match merge.how {
            Merged::Ancestor => "merged",
            Merged::Changes => "squashed",
        },
        Verdict::Keep(keep) => match keep {
            Keep::Young { .. } => "young",
            Keep::NoDefaultBranch => "no_default_branch",
            Keep::IsDefault { .. } => "is_default",
            Keep::Untouched => "untouched",
            Keep::Open { .. } => "open",
            Keep::NoNetChange { .. } => "no_net_change",
            Keep::Absent => "absent",
            Keep::Held { .. } => "held",
        },
    }
}

/// Gitignored files brought into the new shard from the main worktree.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CopiedView {
    /// Regular files copied.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of those files, how many were cloned (copy-on-write).
    pub cloned: u64,
    /// Symbolic links made (copied links, and `copy.symlink` links).
    pub links: u64,
    /// Entries left alone: something already there, or not a file, folder
    /// or link.
    pub skipped: u64,
    /// Keys of the copied env file commented out because the shard sets
    /// them itself.
    pub disowned: Vec<String>,
    /// Milliseconds the copy took (finding what to copy included).
    pub elapsed_ms: f64,
}

impl CopiedView {
    /// Returns the view of what a create copied; `None` when nothing was
    /// configured to be copied.
    pub fn of(c: &Copied) -> Option<CopiedView> {
        let b = &c.brought;
        c.configured.then(|| CopiedView {
            files: b.files,
            bytes: b.bytes,
            cloned: b.cloned,
            links: b.links,
            skipped: b.skipped,
            disowned: c.disowned.clone(),
            elapsed_ms: (c.elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
        })
    }

    /// The stderr line, such as "Copied 1204 files (52.3 MB, cloned) and 3
    /// links from the main worktree."
    pub fn note(&self, env_file: &str) -> Vec<String> {
        let mut notes = Vec::new();
        let how = if self.files > 0 && self.cloned == self.files {
            ", copy-on-write"
        } else {
            ""
        };
        let links = match self.links {
            0 => String::new(),
            1 => " and 1 link".to_string(),
            n => format!(" and {n} links"),
        };
        notes.push(format!(
            "Copied {} {} ({}{how}){links} from the main worktree ({}).",
            self.files,
            if self.files == 1 { "file" } else { "files" },
            human_bytes(self.bytes),
            crate::shard::copy::INCLUDE_FILE,
        ));
        if !self.disowned.is_empty() {
            notes.push(format!(
                "The copied {env_file} set {}: those lines are commented out, so the shard's values win.",
                self.disowned.join(", ")
            ));
        }
        notes
    }
}

/// Formats a byte count as B, KiB, MiB or GiB with one decimal.
fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[unit])
    }
}
