//! A node over in-memory storage whose messages travel as encoded frames: what the Python
//! binding and the simulator drive. (Skeleton.)

use crate::codec::DecodeError;
use crate::error::{RaftError, Result};
use crate::raft::config::Config;
use crate::raft::message::{Entry, HardState, Index, NodeId, Snapshot};
use crate::raft::raw_node::RawNode;
use crate::raft::ready::{ReadState, SoftState};
use crate::raft::storage::MemStorage;
use bytes::Bytes;

/// A `Ready` whose persistence is done and whose messages are encoded, one buffer of
/// concatenated frames per destination.
#[derive(Clone, Debug, Default)]
pub struct EncodedReady {
    pub soft_state: Option<SoftState>,
    pub hard_state: Option<HardState>,
    /// A snapshot to restore the application from (it was persisted already).
    pub snapshot: Option<Snapshot>,
    /// (destination, frames), destinations in ascending id order.
    pub messages: Vec<(NodeId, Vec<u8>)>,
    pub committed_entries: Vec<Entry>,
    pub read_states: Vec<ReadState>,
}

/// Errors of stepping encoded input.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Raft(#[from] RaftError),
}

pub struct MemNode {
    pub raw: RawNode<MemStorage>,
}

impl MemNode {
    pub fn new(_config: &Config) -> Result<MemNode> {
        todo!()
    }
    /// Restarts from `storage` (what was persisted before a crash).
    pub fn restart(_config: &Config, _storage: MemStorage) -> Result<MemNode> {
        todo!()
    }
    /// Decodes and steps every frame in `frames`. Frames before a malformed one are stepped.
    pub fn step_frames(&mut self, _frames: &Bytes) -> std::result::Result<usize, StepError> {
        todo!()
    }
    /// Takes the next `Ready`, persists it to the in-memory storage and encodes its messages.
    pub fn ready(&mut self) -> Option<EncodedReady> {
        todo!()
    }
    pub fn advance(&mut self) {
        todo!()
    }
    /// Simulates a crash and restart: everything not persisted (unstable entries, volatile
    /// state, undelivered output) is lost; the node comes back from its storage alone.
    /// `applied` is the index the application had applied (its state survives or is rebuilt).
    pub fn crash_restart(&mut self, _applied: Index) -> Result<()> {
        todo!()
    }
    pub fn status(&self) -> crate::raft::status::Status {
        self.raw.status()
    }
    /// Records an application snapshot at `index` and compacts the log up to it.
    pub fn compact(&mut self, _index: Index, _data: Bytes) -> Result<()> {
        todo!()
    }
}
