//! The Raft state machine (the feature set of etcd's raft library).

pub mod conf_change;
pub mod config;
pub(crate) mod core;
mod election;
pub mod empty_disk;
pub mod inflights;
pub mod log;
pub mod mem_node;
mod membership;
pub mod message;
pub mod progress;
pub mod quorum;
pub mod raw_node;
mod read_index;
pub mod read_only;
pub mod ready;
mod replication;
pub mod snapshot_send;
pub mod status;
pub mod storage;
mod transfer;
pub mod unstable;
pub mod validate;
