//! Leader election: pre-vote, vote requests, tallies (Raft paper section 5.2, thesis 9.6).

use crate::raft::core::Raft;
use crate::raft::message::{Message, MessageType, CAMPAIGN_TRANSFER, NO_NODE};
use crate::raft::quorum::VoteResult;
use crate::raft::ready::Role;
use crate::raft::storage::Storage;

impl<S: Storage> Raft<S> {
    /// The election timer fired, or an election was requested. `transfer`: the leader asked
    /// for it (TimeoutNow), so skip pre-vote and make voters ignore their leader lease.
    pub fn hup(&mut self, transfer: bool) {
        if self.role == Role::Leader || !self.promotable() || self.abstains() {
            return;
        }
        if self.log.unstable.snapshot.is_some() {
            // A snapshot is being installed: our log is not readable until it is durable.
            return;
        }
        if self.cfg.pre_vote && !transfer {
            self.campaign_pre_vote();
        } else {
            self.campaign(transfer);
        }
    }

    /// An election asked for by the application (`RawNode::campaign`), not by the timer.
    /// With lease reads, a node that may be backing its leader's lease (it heard from the
    /// leader within an election timeout, or it restarted within one) must not vote for
    /// itself: a new leader could then be elected while the old one still answers reads from
    /// its lease. It asks the leader to hand over instead (the leader's TimeoutNow voids its
    /// lease first), and does nothing when it knows no leader to ask.
    pub fn campaign_requested(&mut self) {
        let may_back_a_lease = self.lease_reads()
            && self.role != Role::Leader
            && (self.leader != NO_NODE || self.boot_lease)
            && self.election_elapsed_ticks < self.cfg.election_timeout_ticks;
        if may_back_a_lease {
            if self.leader != NO_NODE && self.leader != self.id {
                // Refused only when forwarding is off or the leader is unknown: no campaign.
                let _ = self.transfer_leader(self.id);
            }
            return;
        }
        self.hup(false);
    }

    fn campaign_pre_vote(&mut self) {
        self.become_pre_candidate();
        let vote_term = self.term + 1;
        self.record_vote_and_request(MessageType::PreVote, vote_term, false);
    }

    /// Starts a real election in the next term.
    pub fn campaign(&mut self, transfer: bool) {
        self.become_candidate();
        let term = self.term;
        self.record_vote_and_request(MessageType::Vote, term, transfer);
    }

    fn record_vote_and_request(&mut self, msg_type: MessageType, vote_term: u64, transfer: bool) {
        let id = self.id;
        self.election_conf = self.latest_log_conf_quorums();
        self.votes.push((id, true));
        if self.tally() == VoteResult::Won {
            // Single voter: the election is won by our own vote.
            self.on_election_won();
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for to in self.election_voters() {
            let mut m = Message::new(msg_type, id, to, vote_term);
            m.index = last_index;
            m.log_term = last_term;
            if transfer {
                m.context = CAMPAIGN_TRANSFER;
            }
            self.send(m);
        }
    }

    /// The election is won with a quorum of the configuration in force and one of the
    /// configuration the log leads to (`Raft::election_conf`); lost when either is out of reach.
    fn tally(&self) -> VoteResult {
        let vote = |id| self.votes.iter().find(|(v, _)| *v == id).map(|(_, g)| *g);
        match (self.conf.vote_result(vote), self.election_conf.vote_result(vote)) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    fn on_election_won(&mut self) {
        if self.role == Role::PreCandidate {
            self.campaign(false);
        } else {
            self.become_leader();
            if !self.promotable() {
                // It campaigned to hand over (`campaign_to_hand_over`).
                self.hand_over_leadership();
            }
        }
    }

    /// A Vote or PreVote whose term is not below ours.
    pub fn handle_vote_request(&mut self, m: &Message) {
        let is_pre = m.msg_type == MessageType::PreVote;
        // A node back with an empty disk may have voted in this term already (`empty_disk`).
        let can_vote = !self.abstains()
            && (self.vote == m.from
                || (self.vote == NO_NODE && self.leader == NO_NODE)
                // A pre-vote for a future term does not bind us.
                || (is_pre && m.term > self.term));
        let resp_type = if is_pre { MessageType::PreVoteResp } else { MessageType::VoteResp };
        if can_vote && self.log.is_up_to_date(m.index, m.log_term) {
            // Answer in the term of the request so the candidate counts it (for pre-vote our
            // term may be lower); a real vote is durable before the answer leaves.
            let resp = Message::new(resp_type, self.id, m.from, m.term);
            self.send(resp);
            if !is_pre {
                self.election_elapsed_ticks = 0;
                self.vote = m.from;
            }
        } else {
            let mut resp = Message::new(resp_type, self.id, m.from, self.term);
            resp.reject = true;
            self.send(resp);
            if can_vote && !self.promotable() && self.role != Role::Leader {
                // The candidate counts this node as a voter, which it is not in the
                // configuration in force here (it was removed, or it is promoted in the
                // candidate's log only): it never campaigns by itself, and its longer log
                // refuses the candidate, which may need its vote (a voter that does not know
                // the removal committed counts by the configuration before it). Nobody could
                // win: it campaigns to hand over (`campaign_to_hand_over`).
                self.campaign_to_hand_over();
            }
        }
    }

    /// A node that is no voter of the configuration in force campaigns (by the quorums of
    /// that configuration and of the one its log leads to, as any candidate: its own vote
    /// does not count) only when a candidate it refuses for a shorter log asked for its vote.
    /// Winning, it leads only to bring the voters up to date and hand over to one of them
    /// (`hand_over_leadership`), as a leader that removed itself does (thesis 4.2.2).
    fn campaign_to_hand_over(&mut self) {
        // Already campaigning: another refused request must not restart it (a new pre-vote
        // round, the tally reset), or concurrent candidates could keep it from ever winning.
        if self.log.unstable.snapshot.is_some() || matches!(self.role, Role::PreCandidate | Role::Candidate) {
            return;
        }
        if self.cfg.pre_vote {
            self.campaign_pre_vote();
        } else {
            self.campaign(false);
        }
    }

    /// A Vote or PreVote response at a (pre-)candidate.
    pub fn handle_vote_resp(&mut self, m: &Message) {
        let expected = if self.role == Role::PreCandidate { MessageType::PreVoteResp } else { MessageType::VoteResp };
        if m.msg_type != expected {
            return;
        }
        if !self.votes.iter().any(|(id, _)| *id == m.from) {
            self.votes.push((m.from, !m.reject));
        }
        match self.tally() {
            VoteResult::Won => self.on_election_won(),
            VoteResult::Lost => {
                // Pre-candidates and candidates lost: back to follower in our current term.
                let term = self.term;
                self.become_follower(term, NO_NODE);
            }
            VoteResult::Pending => {}
        }
    }
}
