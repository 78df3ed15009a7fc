//! [`PaxosConfig`]: a Multi-Paxos node's settings, validated with errors that name the field.

use crate::error::RaftError;
use crate::paxos::ballot::MAX_NODE_ID;
use crate::raft::config::{
    DEFAULT_MAX_BYTES_PER_MSG, DEFAULT_MAX_COMMITTED_BYTES_PER_READY, DEFAULT_MAX_COMMITTED_ENTRIES_PER_READY,
    DEFAULT_MAX_ENTRIES_PER_MSG, DEFAULT_MAX_INFLIGHT_BYTES, DEFAULT_MAX_INFLIGHT_MSGS, DEFAULT_MAX_PENDING_READS,
    DEFAULT_MAX_UNCOMMITTED_BYTES, MAX_FRAME_BYTES, MAX_PEERS, MIN_FRAME_BYTES,
};
use crate::raft::message::{Index, NodeId, NO_NODE};

/// Slots a candidate may adopt in one phase 1 (the values it learns from the promises, held
/// until it leads): a candidate further behind gives up and catches up instead.
pub const DEFAULT_MAX_PHASE1_SLOTS: usize = 1 << 20;

/// A lease is shorter than an acceptor's refusal window by `1 / LEASE_DRIFT_MARGIN_DIVISOR` of
/// the election timeout (see `PaxosConfig::max_lease_ticks`).
pub const LEASE_DRIFT_MARGIN_DIVISOR: u32 = 10;

/// Lamport's α (`PaxosConfig::conf_window_slots`): a membership change chosen at slot `s` governs
/// slots from `s + α` on, and a leader proposes slot `t` only once every slot up to `t - α` is
/// chosen (see `membership.rs`). It bounds the slots in flight, so it is four of the driver's
/// largest batches (`DEFAULT_MAX_BATCH_PROPOSALS`); padding a change's window with no-ops costs
/// `α - 1` empty slots (about 0.4 MB of log per change).
pub const DEFAULT_CONF_WINDOW_SLOTS: u64 = 16_384;

/// Largest `conf_window_slots`: the no-ops that pad a change's window stay a small write.
pub const MAX_CONF_WINDOW_SLOTS: u64 = 1 << 16;

#[derive(Clone, Debug)]
pub struct PaxosConfig {
    /// This node's id, in `[1, MAX_NODE_ID]` (a ballot holds it in 16 bits).
    pub id: NodeId,
    /// The initial acceptors (voters), each in `[1, MAX_NODE_ID]`: the configuration before any
    /// membership change (later ones come from the log and snapshots, `membership.rs`). A node
    /// that is not among them waits to be added (as a learner, then promoted).
    pub voters: Vec<NodeId>,
    /// A follower that has not heard from a leader for a timeout drawn from
    /// `[election_timeout_ticks, 2 * election_timeout_ticks)` campaigns (if quorum-connected);
    /// a peer heard from within `election_timeout_ticks` counts as connected.
    pub election_timeout_ticks: u32,
    /// Every node heartbeats every peer this often; below `election_timeout_ticks`.
    pub heartbeat_interval_ticks: u32,
    /// Promises a candidate needs (with its own), `None` = a majority. With `phase2_quorum`,
    /// `phase1_quorum + phase2_quorum > voters` (Flexible Paxos: every phase 1 quorum meets
    /// every phase 2 quorum).
    pub phase1_quorum: Option<usize>,
    /// Acceptances (the leader's own included) that choose a slot, `None` = a majority.
    pub phase2_quorum: Option<usize>,
    /// Entries per Accept or Promise, in `[1, ..]`.
    pub max_entries_per_msg: usize,
    /// Entry bytes (payload plus `ENTRY_OVERHEAD_BYTES` each) per Accept or Promise; a single
    /// larger entry still goes alone.
    pub max_bytes_per_msg: usize,
    /// Accept messages in flight to one follower.
    pub max_inflight_msgs: usize,
    /// Entry bytes in flight to one follower; 0 = unlimited.
    pub max_inflight_bytes: usize,
    /// Bytes of proposed entries a leader holds that are not yet chosen, or chosen but not yet
    /// on a majority (with a phase 2 quorum below a majority), before it refuses proposals
    /// (see `replication.rs`); also bounds the tail an acceptor may rewrite after an accept
    /// (see `log.rs`).
    pub max_uncommitted_bytes: usize,
    /// Slots a candidate adopts in one phase 1, at most.
    pub max_phase1_slots: usize,
    pub max_committed_entries_per_ready: usize,
    pub max_committed_bytes_per_ready: usize,
    /// Read-index requests pending at the leader (its own and forwarded ones).
    pub max_pending_reads: usize,
    /// Largest frame accepted from peers, in `[MIN_FRAME_BYTES, MAX_FRAME_BYTES]`; a proposal
    /// is at most half of it.
    pub max_frame_bytes: usize,
    /// Followers forward proposals, reads and transfer requests to the leader.
    pub forward_proposals: bool,
    /// Leader leases (`lease.rs`): 0 = off, reads take a quorum round; otherwise a leader
    /// answers reads at once for this many ticks after sending a heartbeat round that a phase 2
    /// quorum acknowledged. In `[0, max_lease_ticks()]`; every node of a cluster must set the
    /// same value (the acceptors' refusals back the lease).
    pub lease_ticks: u32,
    /// The slot the application has applied (restart position); 0 at first boot.
    pub applied: Index,
    /// Seed of the RNG that draws election timeouts.
    pub seed: u64,
    /// Lamport's α for membership changes, in `[1, MAX_CONF_WINDOW_SLOTS]`: a change chosen at
    /// slot `s` governs slots `>= s + α`, and a leader has at most α slots past its chosen
    /// index (`membership.rs`). Every node of a cluster must set the same value.
    pub conf_window_slots: u64,
}

impl PaxosConfig {
    /// A config with the Raft core's defaults: 10-tick election timeout, 1-tick heartbeat,
    /// majority quorums.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> PaxosConfig {
        PaxosConfig {
            id,
            voters,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 1,
            phase1_quorum: None,
            phase2_quorum: None,
            max_entries_per_msg: DEFAULT_MAX_ENTRIES_PER_MSG,
            max_bytes_per_msg: DEFAULT_MAX_BYTES_PER_MSG,
            max_inflight_msgs: DEFAULT_MAX_INFLIGHT_MSGS,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            max_uncommitted_bytes: DEFAULT_MAX_UNCOMMITTED_BYTES,
            max_phase1_slots: DEFAULT_MAX_PHASE1_SLOTS,
            max_committed_entries_per_ready: DEFAULT_MAX_COMMITTED_ENTRIES_PER_READY,
            max_committed_bytes_per_ready: DEFAULT_MAX_COMMITTED_BYTES_PER_READY,
            max_pending_reads: DEFAULT_MAX_PENDING_READS,
            max_frame_bytes: crate::codec::DEFAULT_MAX_FRAME_BYTES,
            forward_proposals: true,
            lease_ticks: 0,
            applied: 0,
            seed: id,
            conf_window_slots: DEFAULT_CONF_WINDOW_SLOTS,
        }
    }

    fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Acceptors whose promises elect a leader.
    pub fn q1(&self) -> usize {
        self.phase1_quorum.unwrap_or_else(|| self.majority())
    }

    /// Acceptors whose acceptances choose a slot.
    pub fn q2(&self) -> usize {
        self.phase2_quorum.unwrap_or_else(|| self.majority())
    }

    /// The longest safe lease: an acceptor that acknowledged a heartbeat refuses other
    /// candidates for an election timeout after it arrived, of which at least
    /// `election_timeout_ticks - 1` whole tick periods (its ticks and the leader's differ in
    /// phase by up to one). The lease is shorter than that by the drift margin, a tenth of the
    /// election timeout (rounded up): it holds while no acceptor's clock runs more than about
    /// 10% faster than the leader's over an election timeout. 0 when the timeout is too short
    /// for any lease.
    pub fn max_lease_ticks(&self) -> u32 {
        let et = self.election_timeout_ticks;
        et.saturating_sub(1).saturating_sub(et.div_ceil(LEASE_DRIFT_MARGIN_DIVISOR))
    }

    pub fn lease_reads(&self) -> bool {
        self.lease_ticks > 0
    }

    /// Turns leader leases on with the longest safe lease (at least one tick, which
    /// `validate` refuses when the election timeout is too short for any lease).
    pub fn enable_lease_reads(&mut self) {
        self.lease_ticks = self.max_lease_ticks().max(1);
    }

    /// Bytes of the largest proposed batch: half a frame.
    pub fn max_proposal_bytes(&self) -> usize {
        self.max_frame_bytes / 2
    }

    /// Checks every field; the error names the first bad field.
    pub fn validate(&self) -> Result<(), RaftError> {
        let bad = |field: &'static str, problem: String| Err(RaftError::InvalidConfig { field, problem });
        if self.id == NO_NODE || self.id > MAX_NODE_ID {
            return bad("id", format!("must be in [1, {MAX_NODE_ID}], got {}", self.id));
        }
        if self.voters.is_empty() || self.voters.len() > MAX_PEERS {
            return bad("voters", format!("must name 1 to {MAX_PEERS} nodes, got {}", self.voters.len()));
        }
        let mut sorted = self.voters.clone();
        sorted.sort_unstable();
        if sorted.iter().any(|&id| id == NO_NODE || id > MAX_NODE_ID) {
            return bad("voters", format!("node ids must be in [1, {MAX_NODE_ID}]"));
        }
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return bad("voters", "duplicate node id".into());
        }
        if !(1..=MAX_CONF_WINDOW_SLOTS).contains(&self.conf_window_slots) {
            return bad(
                "conf_window_slots",
                format!("must be in [1, {MAX_CONF_WINDOW_SLOTS}], got {}", self.conf_window_slots),
            );
        }
        self.validate_quorums()?;
        self.validate_timing()?;
        self.validate_limits()
    }

    fn validate_quorums(&self) -> Result<(), RaftError> {
        let n = self.voters.len();
        for (field, quorum) in [("phase1_quorum", self.phase1_quorum), ("phase2_quorum", self.phase2_quorum)] {
            if let Some(q) = quorum.filter(|q| !(1..=n).contains(q)) {
                return Err(RaftError::InvalidConfig { field, problem: format!("must be in [1, {n}], got {q}") });
            }
        }
        let (q1, q2) = (self.q1(), self.q2());
        if q1 + q2 <= n {
            // Name the field that was set (the phase 2 one when both were).
            let field = if self.phase2_quorum.is_some() { "phase2_quorum" } else { "phase1_quorum" };
            return Err(RaftError::InvalidConfig {
                field,
                problem: format!("phase1_quorum ({q1}) + phase2_quorum ({q2}) must exceed the {n} voters"),
            });
        }
        Ok(())
    }

    fn validate_timing(&self) -> Result<(), RaftError> {
        let bad = |field: &'static str, problem: String| Err(RaftError::InvalidConfig { field, problem });
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
        let max_lease = self.max_lease_ticks();
        if self.lease_ticks > max_lease {
            return bad(
                "lease_ticks",
                format!(
                    "must be at most election_timeout_ticks - 1 - ceil(election_timeout_ticks / \
                     {LEASE_DRIFT_MARGIN_DIVISOR}) = {max_lease}, got {}",
                    self.lease_ticks
                ),
            );
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), RaftError> {
        let bad = |field: &'static str, problem: String| Err(RaftError::InvalidConfig { field, problem });
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&self.max_frame_bytes) {
            return bad(
                "max_frame_bytes",
                format!("must be in [{MIN_FRAME_BYTES}, {MAX_FRAME_BYTES}], got {}", self.max_frame_bytes),
            );
        }
        if self.max_bytes_per_msg == 0 || self.max_bytes_per_msg > self.max_proposal_bytes() {
            return bad(
                "max_bytes_per_msg",
                format!(
                    "must be in [1, max_frame_bytes / 2 = {}], got {}",
                    self.max_proposal_bytes(),
                    self.max_bytes_per_msg
                ),
            );
        }
        let at_least_one = [
            ("max_entries_per_msg", self.max_entries_per_msg),
            ("max_inflight_msgs", self.max_inflight_msgs),
            ("max_uncommitted_bytes", self.max_uncommitted_bytes),
            ("max_phase1_slots", self.max_phase1_slots),
            ("max_committed_entries_per_ready", self.max_committed_entries_per_ready),
            ("max_committed_bytes_per_ready", self.max_committed_bytes_per_ready),
            ("max_pending_reads", self.max_pending_reads),
        ];
        if let Some((field, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            return bad(field, "must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(config: &PaxosConfig) -> Option<&'static str> {
        match config.validate() {
            Err(RaftError::InvalidConfig { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn defaults_are_valid_and_majorities() {
        let config = PaxosConfig::new(1, vec![1, 2, 3, 4, 5]);
        assert_eq!(config.validate(), Ok(()));
        assert_eq!((config.q1(), config.q2()), (3, 3));
    }

    #[test]
    fn flexible_quorums_must_intersect() {
        let mut config = PaxosConfig::new(1, vec![1, 2, 3, 4, 5]);
        config.phase1_quorum = Some(4);
        config.phase2_quorum = Some(2);
        assert_eq!(config.validate(), Ok(()));
        config.phase1_quorum = Some(3);
        assert_eq!(field_of(&config), Some("phase2_quorum"));
        config.phase2_quorum = None;
        config.phase1_quorum = Some(2);
        assert_eq!(field_of(&config), Some("phase1_quorum"));
        config.phase1_quorum = Some(6);
        assert_eq!(field_of(&config), Some("phase1_quorum"));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut config = PaxosConfig::new(70_000, vec![1, 70_000]);
        assert_eq!(field_of(&config), Some("id"));
        config = PaxosConfig::new(4, vec![1, 2, 3]);
        assert_eq!(config.validate(), Ok(()), "a node waiting to be added");
        config.conf_window_slots = 0;
        assert_eq!(field_of(&config), Some("conf_window_slots"));
        config = PaxosConfig::new(1, vec![1, 1]);
        assert_eq!(field_of(&config), Some("voters"));
        config = PaxosConfig::new(1, vec![1]);
        config.heartbeat_interval_ticks = 10;
        assert_eq!(field_of(&config), Some("election_timeout_ticks"));
        config = PaxosConfig::new(1, vec![1]);
        config.max_inflight_msgs = 0;
        assert_eq!(field_of(&config), Some("max_inflight_msgs"));
    }

    #[test]
    fn a_lease_is_shorter_than_the_election_timeout_by_the_drift_margin() {
        let mut config = PaxosConfig::new(1, vec![1, 2, 3]);
        // 10 ticks: 9 whole periods of refusal, less a margin of 1.
        assert_eq!(config.max_lease_ticks(), 8);
        config.lease_ticks = 8;
        assert_eq!(config.validate(), Ok(()));
        config.lease_ticks = 9;
        assert_eq!(field_of(&config), Some("lease_ticks"));
        config.election_timeout_ticks = 15;
        assert_eq!(config.max_lease_ticks(), 12);
        config.election_timeout_ticks = 2;
        config.heartbeat_interval_ticks = 1;
        assert_eq!(config.max_lease_ticks(), 0, "too short for any lease");
        config.lease_ticks = 1;
        assert_eq!(field_of(&config), Some("lease_ticks"));
    }
}
