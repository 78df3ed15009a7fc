//! The public node API: tick, step, propose, read_index, ready, advance. (Skeleton.)

use crate::error::Result;
use crate::raft::config::Config;
use crate::raft::message::{Index, Message, NodeId};
use crate::raft::ready::Ready;
use crate::raft::status::Status;
use crate::raft::storage::Storage;
use bytes::Bytes;

pub struct RawNode<S: Storage> {
    storage: S,
}

impl<S: Storage> RawNode<S> {
    /// A node over `storage` (which holds whatever was persisted before a restart).
    pub fn new(_config: &Config, storage: S) -> Result<RawNode<S>> {
        let _ = storage;
        todo!()
    }
    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        todo!()
    }
    /// Feeds one message received from a peer.
    pub fn step(&mut self, _msg: Message) -> Result<()> {
        todo!()
    }
    /// Proposes one command.
    pub fn propose(&mut self, _data: Bytes) -> Result<()> {
        todo!()
    }
    /// Proposes a batch of commands; they get consecutive indexes.
    pub fn propose_batch(&mut self, _data: Vec<Bytes>) -> Result<()> {
        todo!()
    }
    /// Requests a linearizable read under `request_id`; a `ReadState` comes out in a `Ready`.
    pub fn read_index(&mut self, _request_id: u64) -> Result<()> {
        todo!()
    }
    /// Asks the leader to hand leadership to `to`.
    pub fn transfer_leader(&mut self, _to: NodeId) -> Result<()> {
        todo!()
    }
    /// Starts an election now.
    pub fn campaign(&mut self) {
        todo!()
    }
    /// Tells the leader that messages to `id` could not be delivered.
    pub fn report_unreachable(&mut self, _id: NodeId) {
        todo!()
    }
    pub fn has_ready(&self) -> bool {
        todo!()
    }
    pub fn ready(&mut self) -> Ready {
        todo!()
    }
    /// Tells the node that the last `Ready` was fully handled (persisted, sent, applied).
    pub fn advance(&mut self) {
        todo!()
    }
    pub fn status(&self) -> Status {
        todo!()
    }
    pub fn storage(&self) -> &S {
        &self.storage
    }
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }
    /// Highest committed index.
    pub fn commit_index(&self) -> Index {
        todo!()
    }
}
