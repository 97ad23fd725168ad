//! The integration tests: one binary, one module per subject. Every test
//! drives the real `shards` binary on temporary repositories with an
//! isolated home (see `common`).

mod common;

mod adopt;
mod branch_name;
mod claude_hook;
mod concurrency;
mod config;
mod copy;
mod copy_adversarial;
mod copy_env;
mod create;
mod create_undo;
mod destroy;
mod disk;
mod docs;
mod dotfiles;
mod env;
mod env_lossless;
mod env_work;
mod git_child;
mod hooks;
mod hooks_start;
mod hostile;
mod hostile_config;
mod hostile_ledger;
mod interrupt;
mod json_usage;
mod ledger;
mod list;
mod list_full;
mod list_moved;
mod mcp;
mod mcp_args;
mod mcp_wire;
mod moved;
mod nothing_lost;
mod parity;
mod parity_filters;
mod port;
mod ports;
mod props;
mod prune;
mod prune_merged;
mod ready_adversarial;
mod reap;
mod reap_hard;
mod register;
mod shared_home;
mod shell;
mod snapshots;
mod status;
mod stress;
mod submodules;
