//! Linearizable reads by ReadIndex (thesis 6.4), batched per heartbeat round, and lease-based
//! reads (thesis 6.4.1) as an opt-in.

use crate::error::{DropReason, RaftError, Result};
use crate::raft::core::Raft;
use crate::raft::message::{Index, Message, MessageType, NodeId};
use crate::raft::ready::{ReadState, Role};
use crate::raft::storage::Storage;

impl<S: Storage> Raft<S> {
    /// A read requested by `from` (this node, or a follower that forwarded it) under
    /// `request_id`.
    pub fn read_index(&mut self, from: NodeId, request_id: u64) -> Result<()> {
        if self.role != Role::Leader {
            return self.forward_to_leader(MessageType::ReadIndex, |m| m.context = request_id);
        }
        if self.read_only.is_full() {
            return Err(RaftError::ProposalDropped { reason: DropReason::TooManyPendingReads });
        }
        if !self.committed_in_current_term() {
            // Step 1 of the thesis: wait until the no-op of this term commits.
            self.read_only.waiting_for_commit.push((from, request_id));
            return Ok(());
        }
        self.accept_read(from, request_id);
        Ok(())
    }

    fn accept_read(&mut self, from: NodeId, request_id: u64) {
        let index = self.log.committed;
        if self.is_single_voter() || (self.lease_reads() && self.lease_valid()) {
            // A single voter is always the leader. Under a valid lease no other leader can
            // exist yet (see `lease_valid`). Otherwise, lease mode falls back to a round.
            self.respond_read(from, request_id, index);
            return;
        }
        self.read_only.add(from, request_id, index);
    }

    /// The quorum-confirmed heartbeat round, over the rounds each voter echoed.
    fn confirmed_round(&self) -> u64 {
        let (id, sent_round) = (self.id, self.read_only.sent_round);
        self.conf.committed_index(|v| if v == id { sent_round } else { self.read_only.acked_round(v) })
    }

    /// True while the leader lease holds (thesis 6.4.1): a quorum acknowledged a heartbeat sent
    /// less than an election timeout ago (minus one tick for tick phase differences), so each
    /// of them ignores other candidates until after now (check-quorum's in-lease rule), and no
    /// TimeoutNow was sent (it lets the target bypass that rule). Assumes tick rates of nodes
    /// differ little over an election timeout.
    pub fn lease_valid(&self) -> bool {
        if self.timeout_now_sent {
            return false;
        }
        let Some(sent_tick) = self.read_only.round_sent_tick(self.confirmed_round()) else { return false };
        let lease_ticks = u64::from(self.cfg.election_timeout_ticks).saturating_sub(1);
        self.now_ticks < sent_tick + lease_ticks
    }

    fn respond_read(&mut self, from: NodeId, request_id: u64, index: Index) {
        if from == self.id {
            self.read_states.push(ReadState { index, request_id });
        } else {
            let mut m = Message::new(MessageType::ReadIndexResp, self.id, from, self.term);
            m.index = index;
            m.context = request_id;
            self.send(m);
            self.want_commit(from, index);
        }
    }

    /// Reads that arrived before the first commit of this term can now be taken.
    pub fn release_reads_waiting_for_commit(&mut self) {
        if self.read_only.waiting_for_commit.is_empty() || !self.committed_in_current_term() {
            return;
        }
        for (from, request_id) in std::mem::take(&mut self.read_only.waiting_for_commit) {
            self.accept_read(from, request_id);
        }
    }

    /// Broadcasts one heartbeat round for every read that waits for one. Called once per
    /// `Ready`, which is what batches reads.
    pub fn flush_reads(&mut self) {
        if self.role == Role::Leader && self.read_only.needs_round() {
            let round = self.read_only.start_round(self.now_ticks);
            self.bcast_heartbeat_with(round);
        }
    }

    pub fn has_reads_to_flush(&self) -> bool {
        self.role == Role::Leader && self.read_only.needs_round()
    }

    /// `from` echoed read round `round` in a heartbeat response.
    pub fn handle_read_ack(&mut self, from: NodeId, round: u64) {
        // No correct peer echoes a round not sent yet; clamping keeps a buggy one from
        // confirming reads whose round has not even started.
        let round = round.min(self.read_only.sent_round);
        self.read_only.ack(from, round);
        let confirmed = self.confirmed_round();
        for read in self.read_only.release(confirmed) {
            self.respond_read(read.from, read.request_id, read.index);
        }
    }
}
