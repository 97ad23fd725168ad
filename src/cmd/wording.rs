//! The sentences `destroy`, `prune` and their errors say about what the
//! lifecycle found or did: processes running from a worktree, how they
//! were stopped, listeners left alone, what became of a branch, and why
//! `prune --merged` reclaims or keeps a shard.
//!
//! Command layer: words the lifecycle's values (`shard::reap`,
//! `shard::reclaim`, `shard::merged`); finds and changes nothing.

use crate::error::Error;
use crate::ledger::ShardRow;
use crate::shard::merged::{Hold, Keep};
use crate::shard::reap::{Running, Signal, Spared, Stopped};
use crate::shard::reclaim::{BranchFate, Retained};
use crate::worktree::Merged;

/// How many processes one message lists before it says "and N more".
const LISTED: usize = 10;

/// Lists processes as messages show them: ``pid 123 `cmd` ``, the first ten.
pub fn procs(procs: &[Running]) -> String {
    let mut parts: Vec<String> = procs
        .iter()
        .take(LISTED)
        .map(|p| match listens(&p.ports) {
            Some(ports) => format!("pid {} `{}` ({ports})", p.pid, p.command),
            None => format!("pid {} `{}`", p.pid, p.command),
        })
        .collect();
    if procs.len() > LISTED {
        parts.push(format!("and {} more", procs.len() - LISTED));
    }
    parts.join(", ")
}

/// Says which ports of the block a process listens on, if any.
fn listens(ports: &[u16]) -> Option<String> {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    match ports.len() {
        0 => None,
        _ => Some(format!("listening on {}", ports.join(", "))),
    }
}

/// Says what was stopped and how: ``pid 12 `cmd` (SIGTERM, listening on 3000)``.
pub fn stopped(s: &Stopped) -> String {
    let how = match s.signal {
        Signal::Term => "SIGTERM",
        Signal::Kill => "SIGKILL",
        Signal::Exited => "exited",
    };
    match listens(&s.ports) {
        Some(ports) => format!("pid {} `{}` ({how}, {ports})", s.pid, s.command),
        None => format!("pid {} `{}` ({how})", s.pid, s.command),
    }
}

/// Says why a listener in the block was left alone.
pub fn spared(s: &Spared) -> String {
    match s {
        Spared::Foreign {
            proto,
            port,
            pid,
            command,
        } => format!(
            "{proto} port {port} stays with pid {pid} (`{command}`), which runs outside the worktree"
        ),
        Spared::Hidden { proto, port } => format!(
            "{proto} port {port} is held by a process shards may not inspect (another user's); left running"
        ),
    }
}

/// Says what became of `branch`, when that is worth a note (a deleted
/// branch is said by the report's own line, if at all).
pub fn branch(branch: &str, fate: &BranchFate) -> Option<String> {
    let kept = |why: &str| Some(format!("kept branch `{branch}`: {why}"));
    match fate {
        BranchFate::Deleted | BranchFate::RepoGone => None,
        BranchFate::DeletedMerged { tip, base } => Some(format!(
            "deleted branch `{branch}` (was {tip}): its changes are in `{base}`; `git branch {branch} {tip}` brings it back"
        )),
        BranchFate::Kept(Retained::Predates) => kept("it existed before the shard"),
        BranchFate::Kept(Retained::Unmerged(why)) => kept(why),
        BranchFate::Kept(Retained::MovedSinceMerged) => kept("it moved after it was found merged"),
        BranchFate::Gone => Some(format!("its branch `{branch}` was already gone")),
    }
}

/// Says what became of `branch` among `prune`'s notes: a deleted branch
/// too, which prune's table does not say (destroy's line does).
pub fn pruned_branch(branch: &str, fate: &BranchFate) -> Option<String> {
    match fate {
        BranchFate::Deleted => Some(format!(
            "deleted branch `{branch}`: every commit on it is on another branch or tag"
        )),
        _ => self::branch(branch, fate),
    }
}

/// Says why a shard is kept though `reason` would reclaim it: `procs` run
/// from its worktree.
pub fn still_running(row: &ShardRow, reason: &str, procs: &[Running]) -> String {
    // A spare is not a shard `destroy` takes; `spares drop` removes it.
    let next = match row.spare {
        Some(_) => "stop them and prune again, or run `shards spares drop`".to_string(),
        None => format!("stop them, or run `shards destroy --reap {}`", row.name),
    };
    format!(
        "{reason}, but processes still run from its worktree ({}); {next}",
        self::procs(procs),
    )
}

/// Says how `row`'s branch merged into `base`.
pub fn merged(row: &ShardRow, how: Merged, base: &str) -> String {
    match how {
        Merged::Ancestor => format!("its branch `{}` is merged into `{base}`", row.branch),
        Merged::Changes => {
            format!("its branch's changes are in `{base}` (squash-merged or rebased)")
        }
    }
}

/// Says why `prune --merged` keeps `row`.
pub fn kept(row: &ShardRow, keep: Keep) -> String {
    let branch = &row.branch;
    match keep {
        Keep::Young { min_age, age } => format!(
            "it is younger than --min-age {} (created {} ago)",
            humantime::format_duration(min_age),
            humantime::format_duration(age)
        ),
        Keep::NoDefaultBranch => "its repository has no default branch".into(),
        Keep::IsDefault { base } => format!("its branch is the default branch `{base}`"),
        Keep::Untouched => format!("no commit was made on its branch `{branch}` yet"),
        Keep::Open { base } => format!("its branch `{branch}` is not merged into `{base}`"),
        Keep::NoNetChange { base } => format!(
            "its branch `{branch}` has commits that `{base}` does not hold, with no net change"
        ),
        Keep::Absent => format!("its branch `{branch}` does not exist"),
        Keep::Held { how, base, by } => {
            let merged = merged(row, how, &base);
            match by {
                Hold::Refused(Error::WorktreeDirty { summary, .. }) => {
                    format!("{merged}, but its worktree holds work ({summary})")
                }
                Hold::Refused(other) => format!("{merged}, but {other}"),
                Hold::Running(procs) => still_running(row, &merged, &procs),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ten_processes_then_counts_the_rest() {
        let mut all: Vec<Running> = (1..=12).map(Running::example).collect();
        all[1].ports = vec![3000, 3001];
        let text = procs(&all);
        assert!(
            text.starts_with("pid 1 `cmd1`, pid 2 `cmd2` (listening on 3000, 3001), pid 3"),
            "{text}"
        );
        assert!(text.ends_with("pid 10 `cmd10`, and 2 more"), "{text}");
    }

    #[test]
    fn a_branch_fate_is_said_once_or_not_at_all() {
        let said = |f: BranchFate| branch("b", &f);
        assert_eq!(said(BranchFate::Deleted), None);
        assert!(
            pruned_branch("b", &BranchFate::Deleted)
                .is_some_and(|s| s.starts_with("deleted branch `b`"))
        );
        assert_eq!(pruned_branch("b", &BranchFate::RepoGone), None);
        assert_eq!(said(BranchFate::RepoGone), None);
        assert_eq!(
            said(BranchFate::Gone).as_deref(),
            Some("its branch `b` was already gone")
        );
        assert_eq!(
            said(BranchFate::Kept(Retained::Predates)).as_deref(),
            Some("kept branch `b`: it existed before the shard")
        );
    }
}
