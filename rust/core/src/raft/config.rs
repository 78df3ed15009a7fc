//! Node configuration with validation that names the bad field.

use crate::error::RaftError;
use crate::raft::message::{Index, NodeId, NO_NODE};

/// How read-index requests are confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOnlyOption {
    /// Confirm leadership with a heartbeat round to a quorum (always linearizable).
    Safe,
    /// Trust the leader lease (requires `check_quorum`): answers at once, relies on bounded
    /// clock drift between nodes.
    LeaseBased,
}

/// The election timeout, in ticks, of the nodes the runtime starts by default (`senate.Node`
/// through `NodeConfig`, and `RaftNode` in Python): 150 ms at the runtime's 10 ms tick, the
/// value the runtime and the key-value service have run with. The one place it is set: the
/// bindings export it. `Config::new` keeps the shorter default (10 and 1) that the core's
/// own tests and scenarios were written against.
pub const DEFAULT_ELECTION_TIMEOUT_TICKS: u32 = 15;
/// The heartbeat interval, in ticks, of the nodes the runtime starts by default.
pub const DEFAULT_HEARTBEAT_INTERVAL_TICKS: u32 = 2;

/// Default limits. Every queue and batch in the core has one of these as its bound.
pub const DEFAULT_MAX_ENTRIES_PER_MSG: usize = 4096;
pub const DEFAULT_MAX_BYTES_PER_MSG: usize = 1 << 20;
pub const DEFAULT_MAX_INFLIGHT_MSGS: usize = 256;
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 64 << 20;
pub const DEFAULT_MAX_UNCOMMITTED_BYTES: usize = 256 << 20;
pub const DEFAULT_MAX_COMMITTED_ENTRIES_PER_READY: usize = 16384;
/// Bytes of committed entries per `Ready` (payloads plus `ENTRY_OVERHEAD_BYTES` each; etcd's
/// `MaxCommittedSizePerReady`): the application applies a Ready's entries in one go, and a
/// node that fell behind (or took a mass insert) would otherwise get megabytes at once and
/// hold its loop past an election timeout applying them. Here 1 MiB (8,000 SETs of 100-byte values) took 13 to 44 ms to
/// apply with three nodes and a client sharing 2 cores.
pub const DEFAULT_MAX_COMMITTED_BYTES_PER_READY: usize = 1 << 20;
/// Pending read-index requests a node holds at once; more are refused with `ProposalDropped`.
pub const DEFAULT_MAX_PENDING_READS: usize = 65536;
/// Voters in one cluster.
pub const MAX_PEERS: usize = 255;
/// Bytes of one proposed batch (payloads plus per-entry overhead) at the default frame limit:
/// the limit is always `max_frame_bytes / 2`, so that a batch forwarded by a follower, and an
/// AppendEntries carrying one such entry, always fit in a frame. Larger batches are refused
/// as `TooLarge`.
pub const MAX_PROPOSAL_BYTES: usize = crate::codec::DEFAULT_MAX_FRAME_BYTES / 2;
/// The smallest `max_frame_bytes` accepted.
pub const MIN_FRAME_BYTES: usize = 64 << 10;
/// The largest `max_frame_bytes` accepted (2 GiB): a frame body's length is a `u32`, and a
/// frame is built in memory whole.
pub const MAX_FRAME_BYTES: usize = 1 << 31;

#[derive(Clone, Debug)]
pub struct Config {
    /// This node's id; never 0.
    pub id: NodeId,
    /// Every voter's id including this node's (used at first boot; a restart with a snapshot
    /// takes the voters from the snapshot).
    pub voters: Vec<NodeId>,
    /// Base election timeout. The timeout actually used is drawn from
    /// `[election_timeout_ticks, 2 * election_timeout_ticks)` at every reset.
    pub election_timeout_ticks: u32,
    /// Leader heartbeat period; must be less than `election_timeout_ticks`.
    pub heartbeat_interval_ticks: u32,
    /// Run a pre-vote round before a real election (thesis 9.6): a partitioned node that
    /// rejoins cannot disrupt a healthy leader by bumping the term.
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum within an election timeout,
    /// and followers ignore votes while they hear from a leader.
    pub check_quorum: bool,
    pub read_only: ReadOnlyOption,
    /// Entries per AppendEntries, in `[1, ..]`.
    pub max_entries_per_msg: usize,
    /// Payload bytes per AppendEntries (a single larger entry is still sent alone).
    pub max_bytes_per_msg: usize,
    /// AppendEntries in flight to one follower in replicate state.
    pub max_inflight_msgs: usize,
    /// Payload bytes in flight to one follower; 0 = unlimited.
    pub max_inflight_bytes: usize,
    /// Bytes of uncommitted entries a leader accepts before dropping proposals; 0 = unlimited.
    pub max_uncommitted_bytes: usize,
    /// Committed entries handed out per `Ready`.
    pub max_committed_entries_per_ready: usize,
    /// Bytes of the committed entries handed out per `Ready`, sized as in messages (at least
    /// one entry).
    pub max_committed_bytes_per_ready: usize,
    /// Read-index requests pending at once.
    pub max_pending_reads: usize,
    /// Largest frame accepted from peers, header included, in
    /// `[MIN_FRAME_BYTES, MAX_FRAME_BYTES]`. Proposals are bounded by half of it, and
    /// `max_bytes_per_msg` must not exceed that half.
    pub max_frame_bytes: usize,
    /// Followers forward proposals, read-index and transfer requests to the leader.
    pub forward_proposals: bool,
    /// A node that started blank and learns the cluster has a log neither votes nor
    /// campaigns until a leader gave it the committed log (`raft::empty_disk`): a machine that lost its
    /// disk cannot elect a leader that lacks entries it had acknowledged. The price: a new
    /// cluster's node that missed every entry while no leader is left waits like one.
    pub empty_disk_guard: bool,
    /// The index the application has already applied (restart position); 0 at first boot.
    pub applied: Index,
    /// Seed of the RNG that randomizes election timeouts. Same seed, same inputs: same outputs.
    pub seed: u64,
}

impl Config {
    /// A config with the defaults: 10-tick election timeout, 1-tick heartbeat, pre-vote and
    /// check-quorum on, safe reads.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Config {
        Config {
            id,
            voters,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 1,
            pre_vote: true,
            check_quorum: true,
            read_only: ReadOnlyOption::Safe,
            max_entries_per_msg: DEFAULT_MAX_ENTRIES_PER_MSG,
            max_bytes_per_msg: DEFAULT_MAX_BYTES_PER_MSG,
            max_inflight_msgs: DEFAULT_MAX_INFLIGHT_MSGS,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            max_uncommitted_bytes: DEFAULT_MAX_UNCOMMITTED_BYTES,
            max_committed_entries_per_ready: DEFAULT_MAX_COMMITTED_ENTRIES_PER_READY,
            max_committed_bytes_per_ready: DEFAULT_MAX_COMMITTED_BYTES_PER_READY,
            max_pending_reads: DEFAULT_MAX_PENDING_READS,
            max_frame_bytes: crate::codec::DEFAULT_MAX_FRAME_BYTES,
            forward_proposals: true,
            empty_disk_guard: false,
            applied: 0,
            seed: id,
        }
    }

    /// Bytes of the largest proposed batch: half a frame.
    pub fn max_proposal_bytes(&self) -> usize {
        self.max_frame_bytes / 2
    }

    /// Checks every field; the error names the first bad field and the problem.
    pub fn validate(&self) -> Result<(), RaftError> {
        let bad = |field: &'static str, problem: String| Err(RaftError::InvalidConfig { field, problem });
        if self.id == NO_NODE {
            return bad("id", "must be a positive integer, got 0".into());
        }
        if self.voters.is_empty() {
            return bad("voters", "must name at least one node".into());
        }
        if self.voters.len() > MAX_PEERS {
            return bad("voters", format!("at most {MAX_PEERS} voters, got {}", self.voters.len()));
        }
        let mut sorted = self.voters.clone();
        sorted.sort_unstable();
        if sorted.contains(&NO_NODE) {
            return bad("voters", "node id 0 is reserved".into());
        }
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return bad("voters", "duplicate node id".into());
        }
        if self.heartbeat_interval_ticks == 0 {
            return bad("heartbeat_interval_ticks", "must be at least 1".into());
        }
        if self.election_timeout_ticks <= self.heartbeat_interval_ticks {
            return bad(
                "election_timeout_ticks",
                format!(
                    "must be greater than heartbeat_interval_ticks ({}), got {}",
                    self.heartbeat_interval_ticks, self.election_timeout_ticks
                ),
            );
        }
        if self.election_timeout_ticks > 1_000_000 {
            return bad("election_timeout_ticks", "must be at most 1000000".into());
        }
        if self.max_entries_per_msg == 0 {
            return bad("max_entries_per_msg", "must be at least 1".into());
        }
        if self.max_bytes_per_msg == 0 {
            return bad("max_bytes_per_msg", "must be at least 1".into());
        }
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&self.max_frame_bytes) {
            return bad(
                "max_frame_bytes",
                format!("must be in [{MIN_FRAME_BYTES}, {MAX_FRAME_BYTES}], got {}", self.max_frame_bytes),
            );
        }
        if self.max_bytes_per_msg > self.max_proposal_bytes() {
            return bad(
                "max_bytes_per_msg",
                format!(
                    "must be at most max_frame_bytes / 2 ({}), got {}",
                    self.max_proposal_bytes(),
                    self.max_bytes_per_msg
                ),
            );
        }
        if self.max_inflight_msgs == 0 {
            return bad("max_inflight_msgs", "must be at least 1".into());
        }
        if self.max_committed_entries_per_ready == 0 {
            return bad("max_committed_entries_per_ready", "must be at least 1".into());
        }
        if self.max_committed_bytes_per_ready == 0 {
            return bad("max_committed_bytes_per_ready", "must be at least 1".into());
        }
        if self.max_pending_reads == 0 {
            return bad("max_pending_reads", "must be at least 1".into());
        }
        if self.read_only == ReadOnlyOption::LeaseBased && !self.check_quorum {
            return bad("read_only", "lease-based reads require check_quorum = true".into());
        }
        Ok(())
    }
}
