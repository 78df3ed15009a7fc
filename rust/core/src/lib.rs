//! # senate-core
//!
//! The sans-IO consensus core of senate: Raft with the feature set of etcd's raft library,
//! the peer wire codec, and a deterministic cluster simulator. Nothing here opens a socket,
//! starts a thread, reads a clock or draws from a global RNG (except the durable log, below): time comes in as [`RawNode::tick`],
//! randomness from a per-node seed ([`Config::seed`]), and every effect goes out through a
//! [`Ready`]. Same state plus same input gives the same output, so a failing simulation seed
//! replays exactly.
//!
//! ## Driving a node
//!
//! Build a [`RawNode`] from a [`Config`] and a [`Storage`] holding whatever was persisted
//! before (empty at first boot). Then loop:
//!
//! * call [`RawNode::tick`] at a fixed period (the unit of `election_timeout_ticks` and
//!   `heartbeat_interval_ticks`);
//! * feed every message from a peer to [`RawNode::step`] (decode frames with
//!   [`codec::decode_message`]);
//! * propose with [`RawNode::propose`] / [`RawNode::propose_batch`], read with
//!   [`RawNode::read_index`], change the membership with [`RawNode::propose_conf_change`] (a
//!   [`ConfChange`]: voters and learners added, promoted or removed, in one step or through a
//!   joint configuration; see [`raft::conf_change`]);
//! * whenever [`RawNode::has_ready`] is true, take a [`Ready`] and carry out its duties in
//!   this order, then call [`RawNode::advance`].
//!
//! ## The duties of a `Ready`, in order
//!
//! 1. **Persist** `snapshot` (if any), then append `entries` (they may replace a suffix of the
//!    stored log), then write `hard_state` (if any), and make all of it durable (one fsync
//!    covers the whole `Ready`: group commit). *Why:* a vote, a term and an acknowledged entry
//!    are promises to other nodes; a node that forgets them after a crash can vote twice in a
//!    term or lose a committed entry.
//! 2. **Send** `messages` at any time, even before or during step 1, and `persisted_messages`
//!    only after step 1 completed. *Why:* `messages` are a leader's AppendEntries, heartbeats,
//!    snapshots and forwarded requests, which promise nothing about the sender's disk: the
//!    leader may replicate in parallel with its own append (Ongaro's thesis, section 10.2.1),
//!    because it counts itself towards the commit quorum only once `advance` reports its own
//!    append durable. `persisted_messages` (votes, vote and append acknowledgements) each
//!    assert that the state in step 1 is durable; sending them early breaks that promise.
//! 3. **Apply** `committed_entries` to the state machine in order, after step 1 (an entry may
//!    be committed by a quorum that this node joins in the same `Ready`), and restore the state
//!    machine from `snapshot` if there was one. `NoOp` and `ConfChange` entries are the
//!    core's own; apply them as "nothing" but do count their index as applied (the core put a
//!    `ConfChange` in force as it handed it out). Serve each entry of `read_states` once the
//!    applied index reaches its `index`. When `conf_state` is set the configuration changed:
//!    connect to the members that joined, forget those that left.
//! 4. **Advance**: call [`RawNode::advance`]. It marks the entries durable (a leader may now
//!    count itself) and records the applied index.
//!
//! Inputs (tick, step, propose) may arrive between `ready` and `advance`; the next `Ready`
//! carries what they caused. Readies may be pipelined (etcd's asynchronous storage writes):
//! after [`RawNode::apply_durable_only`], the next `Ready` may be taken while earlier ones are
//! being written, each `advance` acknowledges the oldest one not yet advanced (writes complete
//! in order), and the committed entries a `Ready` hands out are durable already, so they are
//! applied at once. [`Wal::write_group`] writes the Readies that queued up behind a write in
//! progress with one fsync. [`MemNode`] does all four duties against in-memory storage and
//! encodes messages as frames, one buffer per destination: it is what the simulator and the
//! Python binding drive.
//!
//! [`paxos::PaxosNode`] is Multi-Paxos with the same shape: the same `EncodedReady`, duties,
//! persistence modes and pipelining, the same `MemStorage` and WAL records (a slot's ballot in
//! an entry's term, the promise in the hard state's), and the same [`driver::Consensus`]
//! surface; the [`paxos`] module docs give its rules.
//!
//! [`driver::Driver`] owns the policy of carrying out Readies for any core that implements
//! [`driver::Consensus`]: when to take a Ready, pipelined writes and the stall rule, apply
//! slices, the snapshot freeze and its backlog, restores and read serving. It is sans-IO (the
//! caller passes the time, carries out its `Action`s and reports back), and the simulator runs
//! every node through it in the production mode.
//!
//! ## Safety limits
//!
//! Every queue and batch is bounded by a named [`Config`] field: entries and bytes per
//! AppendEntries (`max_entries_per_msg`, `max_bytes_per_msg`), the in-flight window per
//! follower (`max_inflight_msgs`, `max_inflight_bytes`), uncommitted bytes at the leader
//! (`max_uncommitted_bytes`), committed entries per `Ready` (`max_committed_entries_per_ready`)
//! and pending reads (`max_pending_reads`). Frames are bounded by
//! [`codec::DEFAULT_MAX_FRAME_BYTES`], checked before anything is allocated.
//!
//! ## The durable log
//!
//! [`Wal`] is the one part of the core that touches the disk: a segmented write-ahead log for
//! duty 1. [`Wal::open`] recovers what was durable as a [`Recovered`] (hard state, newest
//! snapshot, entries after it) to seed a [`MemStorage`]; [`Wal::write`] persists one `Ready`'s
//! snapshot, entries and hard state with a single fsync (group commit); [`Wal::compact`]
//! records a snapshot the application took and deletes the segments it covers. What a power
//! cut tore or reordered among unsynced writes is truncated; damage to records proven durable
//! is a [`WalError::Corrupt`] naming file and byte offset, and the log refuses to open. The log
//! is generic over its file system ([`wal::FileSystem`]): the operating system's by default,
//! [`wal::CrashDisk`] (in memory, losing power like a disk) in power-loss tests. `Wal` is `Send`: it blocks on fsync, so run it in
//! a worker thread, never on an event loop. [`GroupWriter`] is that thread, the one thread the
//! core starts: it writes the Readies submitted to it with group commit, in order, and tells
//! an event loop through a pipe (or a bounded wait) that they are durable. The file format is
//! in the [`wal`] module docs.
//!
//! ## Checking what clients saw
//!
//! [`check::check`] decides whether a recorded history of client operations (each with its
//! invocation and completion times and an outcome: ok, failed, or indeterminate) is
//! linearizable against a sequential model, key by key and in parallel, within a budget of
//! search steps; the [`check`] module docs say how.

pub mod balance;
pub mod check;
pub mod codec;
pub mod detect;
pub mod driver;
pub mod error;
pub mod kv;
pub mod paxos;
pub mod protocol_id;
pub mod raft;
pub mod sim;
pub mod wal;

pub use detect::{DetectError, FailureDetector, HeartbeatDetector, PhiAccrualDetector};
pub use error::{DropReason, RaftError, Result, StorageError};
pub use protocol_id::{ProtocolId, UnknownProtocol};
pub use raft::conf_change::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, MAX_MEMBER_ADDRESS_BYTES,
};
pub use raft::config::{Config, ReadOnlyOption, DEFAULT_ELECTION_TIMEOUT_TICKS, DEFAULT_HEARTBEAT_INTERVAL_TICKS};
pub use raft::mem_node::{EncodedReady, MemNode, PersistBatch, PersistMode, MAX_READIES_IN_FLIGHT};
pub use raft::message::{
    ConfState, Entry, EntryKind, HardState, Index, Message, MessageType, NodeId, Snapshot, SnapshotMeta, Term, NO_NODE,
};
pub use raft::progress::ProgressState;
pub use raft::raw_node::RawNode;
pub use raft::ready::{ReadState, Ready, Role, SoftState};
pub use raft::status::{MemberRole, PeerStatus, Status};
pub use raft::storage::{MemStorage, Storage};
pub use wal::{GroupWriter, Recovered, SharedWal, Wal, WalError, WalOptions, WalStats, WriteBatch};
