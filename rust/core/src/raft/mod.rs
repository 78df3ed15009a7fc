//! The Raft state machine (the feature set of etcd's raft library).

pub mod config;
pub mod mem_node;
pub mod message;
pub mod progress;
pub mod raw_node;
pub mod ready;
pub mod status;
pub mod storage;
