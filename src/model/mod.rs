//! Plain data of the domain: shard names (`name`), port blocks (`block`),
//! shard states (`state`) and service port names (`service`).
//!
//! Values are validated in their constructors, so a `ShardName` or a
//! `PortBlock` that exists is a good one. Pure: no I/O, no git, no SQLite.

mod block;
mod name;
mod service;
mod state;

pub use block::PortBlock;
pub use name::{MAX_NAME_LEN, ShardName, compose_project_name};
pub use service::{
    InfoField, Protocol, ServiceInfo, check_describe, check_health, service_url_var, service_var,
    valid_service_name,
};
pub use state::{ShardState, ShardStatus};
