//! # senate-core
//!
//! The sans-IO consensus core of senate. (Crate manual: see `raft::raw_node` until written.)

pub mod codec;
pub mod error;
pub mod raft;
pub mod sim;

pub use error::{DropReason, RaftError, Result, StorageError};
pub use raft::config::{Config, ReadOnlyOption};
pub use raft::mem_node::{EncodedReady, MemNode};
pub use raft::message::{
    ConfState, Entry, EntryKind, HardState, Index, Message, MessageType, NodeId, Snapshot, SnapshotMeta, Term, NO_NODE,
};
pub use raft::progress::ProgressState;
pub use raft::raw_node::RawNode;
pub use raft::ready::{ReadState, Ready, Role, SoftState};
pub use raft::status::{PeerStatus, Status};
pub use raft::storage::{MemStorage, Storage};
