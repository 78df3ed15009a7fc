//! A node over in-memory storage whose messages travel as encoded frames: what the Python
//! binding and the simulator drive.
//!
//! The `MemStorage` is the copy of the log the core reads from. Where it stands for the disk
//! ([`PersistMode::InReady`], the simulator), `ready` performs duty 1 itself and every message
//! can leave at once. Where a durable log sits beside it ([`PersistMode::ByCaller`], the Python
//! node over the WAL), `ready` hands out a [`PersistBatch`] for the caller to make durable, keeps
//! the messages that promise durability apart, and `advance` copies the batch into the
//! `MemStorage` once the caller reports it durable.

use crate::codec::{decode_message, encode_message, DecodeError};
use crate::error::{RaftError, Result, StorageError};
use crate::raft::conf_change::ConfChange;
use crate::raft::config::Config;
use crate::raft::message::{ConfState, Entry, HardState, Index, Message, MessageType, NodeId, Snapshot, Term};
use crate::raft::raw_node::RawNode;
use crate::raft::ready::{ReadState, Ready, SoftState};
use crate::raft::snapshot_send::{decode_snapshot_head, SnapshotSend};
use crate::raft::status::Status;
use crate::raft::storage::{MemStorage, Storage};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// Readies handed out and not yet advanced, at most, in `ByCaller` mode (pipelined writes);
/// `try_ready` refuses more. In `InReady` mode it is one.
pub const MAX_READIES_IN_FLIGHT: usize = 64;

/// Who performs duty 1 (persist) of a `Ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistMode {
    /// `ready` writes into the `MemStorage`, which is the whole disk (the simulator).
    InReady,
    /// The caller writes each `PersistBatch` to a durable log, then calls `advance`.
    ByCaller,
}

/// What one `Ready` asks to be made durable, in this order: `snapshot`, then `entries` (which
/// may replace a suffix of the log), then `hard_state`. Shared (behind an `Arc`) between the
/// node, which copies it into its `MemStorage` on `advance`, and the durable log's writer.
#[derive(Clone, Debug, Default)]
pub struct PersistBatch {
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
    /// False when the batch is only a hard state whose term and vote are those already
    /// durable (its commit index moved): it promises nothing, so it needs no fsync (a commit
    /// index lost in a crash is learned again from the leader; etcd's `MustSync`).
    pub must_sync: bool,
}

/// A `Ready` whose messages are encoded, one buffer of concatenated frames per destination.
#[derive(Clone, Debug, Default)]
pub struct EncodedReady {
    pub soft_state: Option<SoftState>,
    pub hard_state: Option<HardState>,
    /// A snapshot to restore the application from (after it is persisted).
    pub snapshot: Option<Snapshot>,
    /// (destination, frames) that may leave at once, destinations ascending; frames in the
    /// order the core sent them. In `InReady` mode this holds every message.
    pub messages: Vec<(NodeId, Vec<u8>)>,
    /// (destination, frames) that may leave only once `persist` is durable (`ByCaller` mode;
    /// always empty in `InReady` mode, where persistence is done before `ready` returns).
    pub persisted_messages: Vec<(NodeId, Vec<u8>)>,
    /// What to make durable before sending `persisted_messages` and applying
    /// `committed_entries` (`ByCaller` mode, and only when there is something to write).
    pub persist: Option<Arc<PersistBatch>>,
    pub committed_entries: Vec<Entry>,
    pub read_states: Vec<ReadState>,
    /// The configuration in force, when it changed (see `Ready::conf_state`).
    pub conf_state: Option<ConfState>,
    /// Snapshot messages to send out of band (`MemNode::stream_snapshots`; they are in neither
    /// `messages` nor `persisted_messages`). They may leave at once: a snapshot message promises
    /// nothing about what the sender has yet to write.
    pub snapshot_sends: Vec<SnapshotSend>,
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
    pub persist_mode: PersistMode,
    /// `ByCaller` mode: the batch (if any) of each `Ready` not yet advanced, oldest first;
    /// `advance` copies the oldest into storage. At most `MAX_READIES_IN_FLIGHT`.
    pending_persist: VecDeque<Option<Arc<PersistBatch>>>,
    /// The term and vote last handed out for persisting (`ByCaller` mode).
    term_vote_persisted: (Term, NodeId),
    /// Snapshot messages leave as `EncodedReady::snapshot_sends`, for the caller to stream
    /// (`raft::snapshot_send`), instead of as one frame among the messages.
    pub stream_snapshots: bool,
}

impl MemNode {
    pub fn new(config: &Config) -> Result<MemNode> {
        config.validate()?;
        MemNode::restart(config, MemStorage::new(config.voters.clone()))
    }

    /// Starts from `storage` (what was persisted before a crash).
    pub fn restart(config: &Config, storage: MemStorage) -> Result<MemNode> {
        MemNode::with_mode(config, storage, PersistMode::InReady)
    }

    /// Starts from `storage` with the given persistence duty. In `ByCaller` mode `storage`
    /// must hold exactly what the durable log recovered.
    pub fn with_mode(config: &Config, storage: MemStorage, persist_mode: PersistMode) -> Result<MemNode> {
        let hs = storage.hard_state();
        let mut raw = RawNode::new(config, storage)?;
        if persist_mode == PersistMode::ByCaller {
            raw.apply_durable_only();
        }
        Ok(MemNode {
            raw,
            max_frame_bytes: config.max_frame_bytes,
            persist_mode,
            pending_persist: VecDeque::new(),
            term_vote_persisted: (hs.term, hs.vote),
            stream_snapshots: false,
        })
    }

    /// Decodes and steps every frame in `frames`; returns how many were stepped. Frames before
    /// a malformed one are stepped; the malformed one is reported (the caller closes that
    /// connection: framing is lost).
    pub fn step_frames(&mut self, frames: &Bytes) -> std::result::Result<usize, StepError> {
        let (consumed, stepped) = self.step_prefix(frames)?;
        if consumed < frames.len() {
            return Err(StepError::Decode(DecodeError::Truncated));
        }
        Ok(stepped)
    }

    /// Steps every complete frame at the start of `buf` and returns the bytes they took; a
    /// partial frame at the end is left for the caller to complete with more input (a byte
    /// stream from a socket). A frame whose stated length exceeds `max_frame_bytes` is an error
    /// as soon as its header is in, before its body is awaited.
    pub fn step_stream(&mut self, buf: &Bytes) -> std::result::Result<usize, StepError> {
        Ok(self.step_prefix(buf)?.0)
    }

    /// Steps the complete frames at the start of `buf`: (bytes consumed, frames stepped).
    /// Only Raft frames: `decode_message` refuses a frame of another protocol
    /// ([`DecodeError::WrongProtocol`]) or of an unknown one, so a misrouted connection is
    /// closed like any malformed one.
    fn step_prefix(&mut self, buf: &Bytes) -> std::result::Result<(usize, usize), StepError> {
        let (mut consumed, mut stepped) = (0, 0);
        while consumed < buf.len() {
            let Some((msg, frame_bytes)) = decode_message(&buf.slice(consumed..), self.max_frame_bytes)? else {
                break;
            };
            consumed += frame_bytes;
            self.step_message(msg)?;
            stepped += 1;
        }
        Ok((consumed, stepped))
    }

    /// Steps a snapshot message that arrived out of band from peer `from` (the stream's
    /// sender, as its hello and TLS identity name it): `head` as the sender's core encoded it
    /// (`SnapshotSend::head`) and the snapshot's `data`, received whole and checked by the
    /// caller. A malformed head, or one that claims another sender than `from` (a member
    /// speaking for the leader in its term), is an error and changes nothing (the caller
    /// drops that stream).
    pub fn step_snapshot(&mut self, from: NodeId, head: &Bytes, data: Bytes) -> std::result::Result<(), StepError> {
        let msg = decode_snapshot_head(head, data, self.max_frame_bytes)?;
        if msg.from != from {
            let problem = format!("a snapshot head claims node {} on node {from}'s stream", msg.from);
            return Err(RaftError::InvalidMessage { from, problem }.into());
        }
        Ok(self.step_message(msg)?)
    }

    fn step_message(&mut self, msg: Message) -> Result<()> {
        if msg.to != self.raw.id() {
            return Err(RaftError::UnknownPeer { id: msg.to });
        }
        self.raw.step(msg)
    }

    /// The most Readies that may be handed out and not yet advanced.
    pub fn max_readies_in_flight(&self) -> usize {
        match self.persist_mode {
            PersistMode::InReady => 1,
            PersistMode::ByCaller => MAX_READIES_IN_FLIGHT,
        }
    }

    /// `ready` for callers that may get the protocol wrong (the Python binding): a call with
    /// `max_readies_in_flight` Readies not yet advanced is `ReadyNotAdvanced`.
    pub fn try_ready(&mut self) -> Result<Option<EncodedReady>> {
        self.check_readies_in_flight()?;
        Ok(self.ready())
    }

    /// `ready_without_write`, checked like `try_ready`.
    pub fn try_ready_without_write(&mut self) -> Result<Option<EncodedReady>> {
        self.check_readies_in_flight()?;
        Ok(self.ready_without_write())
    }

    fn check_readies_in_flight(&self) -> Result<()> {
        let limit = self.max_readies_in_flight();
        if self.raw.readies_in_flight() >= limit {
            return Err(RaftError::ReadyNotAdvanced { limit });
        }
        Ok(())
    }

    /// Takes the next `Ready` and encodes its messages; in `InReady` mode it also persists it to
    /// the in-memory storage. Returns `None` when there is nothing to do. Call `advance` after
    /// handling it. In `ByCaller` mode Readies may be pipelined: take the next before the
    /// earlier ones are durable, and `advance` once per Ready, in order, as each becomes
    /// durable (its committed entries are durable already: apply them at once).
    pub fn ready(&mut self) -> Option<EncodedReady> {
        if !self.raw.has_ready() {
            return None;
        }
        let rd = self.raw.ready();
        Some(self.encode_ready(rd, true))
    }

    /// A `Ready` that writes nothing (see `RawNode::ready_without_write`): for a caller with
    /// writes in flight, so that what needs no write (committed entries to apply, messages
    /// that may leave at once) does not wait for them. `None` when there is nothing such.
    pub fn ready_without_write(&mut self) -> Option<EncodedReady> {
        if !self.raw.has_ready_without_write() {
            return None;
        }
        let rd = self.raw.ready_without_write();
        Some(self.encode_ready(rd, false))
    }

    /// `with_write`: from `ready` (it hands out every entry not yet handed out, so once its
    /// batch is durable the whole log up to the commit index is), not `ready_without_write`.
    fn encode_ready(&mut self, mut rd: Ready, with_write: bool) -> EncodedReady {
        let must_sync = rd.must_sync();
        let mut snapshot_sends = Vec::new();
        if self.stream_snapshots {
            for msgs in [&mut rd.messages, &mut rd.persisted_messages] {
                msgs.retain(|m| {
                    let streamed = m.msg_type == MessageType::Snapshot && m.snapshot.is_some();
                    if streamed {
                        snapshot_sends.push(SnapshotSend::from_message(m));
                    }
                    !streamed
                });
            }
        }
        let conf_changed = with_write && rd.conf_state.is_some();
        let mut out = EncodedReady {
            soft_state: rd.soft_state,
            hard_state: rd.hard_state,
            snapshot: rd.snapshot.clone(),
            committed_entries: rd.committed_entries,
            read_states: rd.read_states,
            conf_state: rd.conf_state,
            snapshot_sends,
            ..EncodedReady::default()
        };
        match self.persist_mode {
            PersistMode::InReady => {
                self.raw
                    .storage_mut()
                    .persist(rd.snapshot.as_ref(), rd.entries, rd.hard_state)
                    .expect("ready: a snapshot handed out is newer than the stored one");
                out.messages = encode_by_destination(rd.messages.iter().chain(&rd.persisted_messages));
            }
            PersistMode::ByCaller => {
                out.messages = encode_by_destination(rd.messages.iter());
                out.persisted_messages = encode_by_destination(rd.persisted_messages.iter());
                let mut pending = None;
                if must_sync {
                    let term_vote = rd.hard_state.map_or(self.term_vote_persisted, |hs| (hs.term, hs.vote));
                    // A commit index that puts a membership change in force is written too: a
                    // node that came back with an older configuration could need a removed
                    // member to elect anyone.
                    let promises = rd.snapshot.is_some()
                        || !rd.entries.is_empty()
                        || term_vote != self.term_vote_persisted
                        || (conf_changed && rd.hard_state.is_some());
                    self.term_vote_persisted = term_vote;
                    let batch = Arc::new(PersistBatch {
                        snapshot: rd.snapshot,
                        entries: rd.entries,
                        hard_state: rd.hard_state,
                        must_sync: promises,
                    });
                    pending = Some(batch.clone());
                    out.persist = Some(batch);
                }
                self.pending_persist.push_back(pending);
            }
        }
        out
    }

    /// Duty 4, for the oldest `Ready` not yet advanced. In `ByCaller` mode the caller asserts
    /// that its `PersistBatch` is durable; it is copied into the in-memory storage the core
    /// reads from.
    pub fn advance(&mut self) {
        // A batch that only moved the commit index (not `must_sync`) is never written by the
        // caller (the commit index is volatile), so the storage that stands for the durable
        // log does not get it either: its commit could be past its last entry, which a
        // restart would take for durable.
        if let Some(batch) = self.pending_persist.pop_front().flatten().filter(|batch| batch.must_sync) {
            let batch = Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone());
            self.raw
                .storage_mut()
                .persist(batch.snapshot.as_ref(), batch.entries, batch.hard_state)
                .expect("advance: a snapshot handed out is newer than the stored one");
        }
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
        let hs = storage.hard_state();
        self.raw = RawNode::new(&config, storage)?;
        if self.persist_mode == PersistMode::ByCaller {
            self.raw.apply_durable_only();
        }
        self.pending_persist.clear();
        self.term_vote_persisted = (hs.term, hs.vote);
        Ok(())
    }

    pub fn status(&self) -> Status {
        self.raw.status()
    }

    /// Proposes a membership change (see `RawNode::propose_conf_change`).
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        self.raw.propose_conf_change(change)
    }

    /// The configuration in force.
    pub fn conf_state(&self) -> &ConfState {
        self.raw.conf_state()
    }

    /// Records an application snapshot at `index` (at most the index handed out to apply,
    /// which is durable) and compacts the log up to it. Returns the snapshot (for a durable
    /// log to save).
    pub fn compact(&mut self, index: Index, data: Bytes) -> Result<Snapshot> {
        let applied = self.raw.applying_index();
        if index > applied {
            return Err(RaftError::Storage(StorageError::Unavailable { index, last_index: applied }));
        }
        let storage = self.raw.storage_mut();
        storage.create_snapshot(index, data)?;
        Ok(storage.snapshot())
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
