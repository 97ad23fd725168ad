//! Where a shard is in its life: [`ShardState`] as the ledger stores it,
//! and [`ShardStatus`] as `list` and reports show it.
//!
//! Part of the pure core: no I/O, no git, no SQLite.

use std::fmt;

use serde::Serialize;

/// Where a shard is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    /// Being made; `pid` is the creator.
    Creating,
    /// Made and handed to the user.
    Active,
    /// Being removed; `pid` is the destroyer.
    Destroying,
    /// A spare: made ahead of its name, ready for a `create` to claim.
    Spare,
}

impl ShardState {
    /// Returns the name stored in the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            ShardState::Creating => "creating",
            ShardState::Active => "active",
            ShardState::Destroying => "destroying",
            ShardState::Spare => "spare",
        }
    }

    /// Parses the name stored in the ledger.
    pub fn parse(s: &str) -> Option<ShardState> {
        match s {
            "creating" => Some(ShardState::Creating),
            "active" => Some(ShardState::Active),
            "destroying" => Some(ShardState::Destroying),
            "spare" => Some(ShardState::Spare),
            _ => None,
        }
    }
}

impl fmt::Display for ShardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `list` and reports say a shard is: its ledger state, except that an
/// active shard whose worktree folder is gone is `missing`, and one whose
/// folder is no longer its git worktree is `replaced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShardStatus {
    /// Made and handed to the user; its worktree exists.
    Active,
    /// Active in the ledger, but its worktree folder is gone.
    Missing,
    /// Active in the ledger, but its folder is no longer its git worktree
    /// (replaced by a plain folder, or by another worktree).
    Replaced,
    /// Being made (or its create was killed).
    Creating,
    /// Being removed (or its destroy was killed).
    Destroying,
    /// A spare, ready for a `create` to claim.
    Spare,
}

impl ShardStatus {
    /// Returns the status of a shard in `state` whose worktree does or does
    /// not exist.
    pub fn of(state: ShardState, worktree_exists: bool) -> ShardStatus {
        match state {
            ShardState::Active if worktree_exists => ShardStatus::Active,
            ShardState::Active => ShardStatus::Missing,
            ShardState::Creating => ShardStatus::Creating,
            ShardState::Destroying => ShardStatus::Destroying,
            ShardState::Spare => ShardStatus::Spare,
        }
    }

    /// Returns the word shown in tables and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            ShardStatus::Active => "active",
            ShardStatus::Missing => "missing",
            ShardStatus::Replaced => "replaced",
            ShardStatus::Creating => "creating",
            ShardStatus::Destroying => "destroying",
            ShardStatus::Spare => "spare",
        }
    }
}

impl fmt::Display for ShardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
