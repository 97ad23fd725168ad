//! The integration tests: one binary, one module per subject. Every test
//! drives the real `shards` binary on temporary repositories with an
//! isolated home (see `common`).

mod common;

mod adopt;
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
mod ledger;
mod list;
mod list_full;
mod mcp;
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
mod shared_home;
mod shell;
mod snapshots;
mod status;
mod stress;
mod submodules;
