//! A node over in-memory storage whose messages travel as encoded frames: what the Python
//! binding and the simulator drive. Its `ready` performs duty 1 (persist) itself, into the
//! `MemStorage` that stands for the disk, so every message can leave at once.

use crate::codec::{decode_message, encode_message, DecodeError, DEFAULT_MAX_FRAME_BYTES};
use crate::error::{RaftError, Result, StorageError};
use crate::raft::config::Config;
use crate::raft::message::{Entry, HardState, Index, Message, NodeId, Snapshot};
use crate::raft::raw_node::RawNode;
use crate::raft::ready::{ReadState, SoftState};
use crate::raft::status::Status;
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
    /// (destination, frames), destinations ascending; frames in the order the core sent them.
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
    /// Largest frame accepted from peers.
    pub max_frame_bytes: usize,
}

impl MemNode {
    pub fn new(config: &Config) -> Result<MemNode> {
        config.validate()?;
        MemNode::restart(config, MemStorage::new(config.voters.clone()))
    }

    /// Starts from `storage` (what was persisted before a crash).
    pub fn restart(config: &Config, storage: MemStorage) -> Result<MemNode> {
        Ok(MemNode { raw: RawNode::new(config, storage)?, max_frame_bytes: DEFAULT_MAX_FRAME_BYTES })
    }

    /// Decodes and steps every frame in `frames`; returns how many were stepped. Frames before
    /// a malformed one are stepped; the malformed one is reported (the caller closes that
    /// connection: framing is lost).
    pub fn step_frames(&mut self, frames: &Bytes) -> std::result::Result<usize, StepError> {
        let mut rest = frames.clone();
        let mut stepped = 0;
        while !rest.is_empty() {
            let Some((msg, consumed)) = decode_message(&rest, self.max_frame_bytes)? else {
                return Err(StepError::Decode(DecodeError::Truncated));
            };
            rest = rest.slice(consumed..);
            self.step_message(msg)?;
            stepped += 1;
        }
        Ok(stepped)
    }

    fn step_message(&mut self, msg: Message) -> Result<()> {
        if msg.to != self.raw.id() {
            return Err(RaftError::UnknownPeer { id: msg.to });
        }
        self.raw.step(msg)
    }

    /// `ready` for callers that may get the protocol wrong (the Python binding): a second
    /// call before `advance` is `ReadyNotAdvanced` instead of a panic.
    pub fn try_ready(&mut self) -> Result<Option<EncodedReady>> {
        if self.raw.ready_in_flight() {
            return Err(RaftError::ReadyNotAdvanced);
        }
        Ok(self.ready())
    }

    /// Takes the next `Ready`, persists it to the in-memory storage and encodes its messages.
    /// Returns `None` when there is nothing to do. Call `advance` after handling it; calling
    /// `ready` again first is a programmer error and panics (see `try_ready`).
    pub fn ready(&mut self) -> Option<EncodedReady> {
        if !self.raw.has_ready() {
            return None;
        }
        let rd = self.raw.ready();
        self.raw
            .storage_mut()
            .persist(rd.snapshot.as_ref(), rd.entries, rd.hard_state)
            .expect("ready: a snapshot handed out is newer than the stored one");
        let messages = encode_by_destination(rd.messages.iter().chain(&rd.persisted_messages));
        Some(EncodedReady {
            soft_state: rd.soft_state,
            hard_state: rd.hard_state,
            snapshot: rd.snapshot,
            messages,
            committed_entries: rd.committed_entries,
            read_states: rd.read_states,
        })
    }

    pub fn advance(&mut self) {
        self.raw.advance();
    }

    /// Simulates a crash and restart: everything not persisted (unstable entries, volatile
    /// state, undelivered output) is lost; the node comes back from its storage alone.
    /// `applied` is the index the application had applied (its state survives or is rebuilt).
    pub fn crash_restart(&mut self, applied: Index) -> Result<()> {
        let storage = self.raw.storage().clone();
        let mut config = self.raw.config().clone();
        config.applied = applied;
        // A fresh seed stream: a restarted process does not replay its old timeouts.
        config.seed = config.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.raw = RawNode::new(&config, storage)?;
        Ok(())
    }

    pub fn status(&self) -> Status {
        self.raw.status()
    }

    /// Records an application snapshot at `index` (at most the applied index) and compacts the
    /// log up to it.
    pub fn compact(&mut self, index: Index, data: Bytes) -> Result<()> {
        let applied = self.raw.applied_index();
        if index > applied {
            return Err(RaftError::Storage(StorageError::Unavailable { index, last_index: applied }));
        }
        self.raw.storage_mut().create_snapshot(index, data)?;
        Ok(())
    }
}

/// Encodes messages into one buffer per destination, keeping each destination's order.
fn encode_by_destination<'a>(msgs: impl Iterator<Item = &'a Message>) -> Vec<(NodeId, Vec<u8>)> {
    let mut out: Vec<(NodeId, Vec<u8>)> = Vec::new();
    for m in msgs {
        let pos = match out.binary_search_by_key(&m.to, |(id, _)| *id) {
            Ok(pos) => pos,
            Err(pos) => {
                out.insert(pos, (m.to, Vec::new()));
                pos
            }
        };
        encode_message(m, &mut out[pos].1);
    }
    out
}
