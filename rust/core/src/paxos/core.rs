//! [`Paxos`]: the state every part of a Multi-Paxos node shares, the dispatch of every input,
//! and the role transitions.
//!
//! The acceptor's rules live in `acceptor.rs`, phase 1 of a candidate in `candidate.rs`, the
//! leader's phase 2 in `replication.rs`, timers and connectivity in `election.rs`, reads in
//! `read_index.rs`, message checks in `validate.rs`.

use crate::driver::NodeRole;
use crate::error::{DropReason, RaftError, Result};
use crate::paxos::ballot::Ballot;
use crate::paxos::candidate::Campaign;
use crate::paxos::config::PaxosConfig;
use crate::paxos::election::Election;
use crate::paxos::lease::Lease;
use crate::paxos::log::SlotLog;
use crate::paxos::membership::Membership;
use crate::paxos::message::{Body, PaxosMessage, Slot};
use crate::paxos::read_index::ReadIndex;
use crate::paxos::replication::Progress;
use crate::paxos::validate::check_message;
use crate::raft::message::{EntryKind, NodeId, Snapshot, ENTRY_OVERHEAD_BYTES, NO_NODE};
use crate::raft::ready::ReadState;
use crate::raft::storage::{MemStorage, Storage};
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Nodes a non-member answers per tick at most (`answer_heartbeat_as_non_member`): more than
/// any configuration's members, so a real voter is always answered.
pub const MAX_NON_MEMBER_ANSWERS_PER_TICK: usize = 64;

pub struct Paxos {
    pub id: NodeId,
    pub cfg: PaxosConfig,
    /// Every member (voter or learner) of a configuration that governs a slot after the chosen
    /// index, but this node, ascending; none while this node is no member (`membership.rs`).
    pub peers: Vec<NodeId>,
    /// The configurations the chosen log decides (`membership.rs`).
    pub membership: Membership,
    pub role: NodeRole,
    /// The leader this node follows (itself when leading), or `NO_NODE`.
    pub leader: NodeId,
    /// The acceptor's promise: it accepts nothing below it. Never decreases, and is durable
    /// before any message that shows it leaves (Promise, Accepted, HeartbeatAck).
    pub promised: Ballot,
    /// The highest ballot seen anywhere; a candidate picks the next one above it.
    pub max_seen: Ballot,
    /// Candidate and leader: the ballot this node runs with. Invariant: `== promised` while
    /// the role is not `Follower` (promising anything higher ends the role).
    pub own_ballot: Ballot,
    pub log: SlotLog,
    pub election: Election,
    /// Candidate only: what phase 1 has gathered.
    pub campaign: Option<Campaign>,
    /// Leader only: one per peer, ascending by id.
    pub progress: Vec<(NodeId, Progress)>,
    /// Leader only: the highest slot its own acceptor accepted at `own_ballot`, durably.
    pub self_matched: u64,
    /// Leader only: its chosen index when it won phase 1; a chosen slot after it counts
    /// against the proposal budget until a majority holds it (`replication.rs`).
    pub lead_start_chosen: Slot,
    /// Leader only: the last slot its phase 1 adopted. A membership change chosen past it was
    /// proposed by this ballot, whose phase 1 did not cover its configuration.
    pub lead_covered_to: Slot,
    /// Candidate only: commands followers forwarded to it while it campaigns, with the node
    /// each came from; proposed if it wins, dropped if not. Kept for any campaign, though
    /// only followers that take it for their leader forward to it: in practice a leader
    /// running phase 1 again over its own membership change. At most
    /// `max_uncommitted_bytes` of commands (`forwarded_bytes`); more are dropped.
    pub forwarded: Vec<(NodeId, Vec<Bytes>)>,
    pub forwarded_bytes: usize,
    /// The nodes answered this tick by `answer_heartbeat_as_non_member`, at most
    /// `MAX_NON_MEMBER_ANSWERS_PER_TICK`; cleared every tick.
    pub non_member_answers: Vec<NodeId>,
    /// Leader only, once its own removal is chosen: its last slot then. A follower that
    /// accepted a slot past it knows of the removal (`membership.rs`, `leave`).
    pub removal_told_after: Option<Slot>,
    /// Leader only, with `removal_told_after`: the tick (`Election::now_ticks`) it was set. The
    /// window is padded at most one election timeout later, whoever has not caught up.
    pub removal_told_at_ticks: Option<u64>,
    pub reads: ReadIndex,
    pub lease: Lease,
    /// Messages that may leave at once.
    pub msgs: Vec<PaxosMessage>,
    /// Messages that leave once the state handed out so far is durable.
    pub msgs_after_persist: Vec<PaxosMessage>,
    pub read_states: Vec<ReadState>,
    /// A snapshot installed from a peer and not yet handed out for persisting.
    pub pending_snapshot: Option<Snapshot>,
    /// The newest snapshot this node holds (sent to followers behind its first slot).
    pub latest_snapshot: Snapshot,
    /// Leader: bytes of the slots after the chosen index (bounded by `max_uncommitted_bytes`).
    /// Invariant: equals the sum of their sizes in the log, so whatever moves the chosen index
    /// releases them (else proposals are refused forever once the leaks fill the budget).
    pub uncommitted_bytes: usize,
    rng: ChaCha8Rng,
}

impl Paxos {
    /// A node over `storage`, which holds what was durable before a restart.
    pub fn new(cfg: &PaxosConfig, storage: &MemStorage) -> Result<Paxos> {
        cfg.validate()?;
        let hard_state = storage.hard_state();
        let snapshot = storage.snapshot();
        let entries = storage.entries(storage.first_index(), storage.last_index() + 1, usize::MAX)?;
        let log = SlotLog::recovered(&snapshot.meta, entries, hard_state.commit, cfg.applied);
        // An accepted slot is at or below the promise; if a torn write kept an accept and lost
        // the promise written with it, the accept still stands for one.
        let promised = Ballot::from_u64(hard_state.term).max(log.max_accepted_ballot());
        let mut paxos = Paxos {
            id: cfg.id,
            cfg: cfg.clone(),
            peers: Vec::new(),
            membership: Membership::new(&cfg.voters, &snapshot.meta, cfg.conf_window_slots),
            role: NodeRole::Follower,
            leader: NO_NODE,
            promised,
            max_seen: promised,
            own_ballot: Ballot::ZERO,
            log,
            election: Election::new(cfg),
            campaign: None,
            progress: Vec::new(),
            self_matched: 0,
            lead_start_chosen: 0,
            lead_covered_to: 0,
            removal_told_after: None,
            removal_told_at_ticks: None,
            forwarded: Vec::new(),
            forwarded_bytes: 0,
            non_member_answers: Vec::new(),
            reads: ReadIndex::default(),
            lease: Lease::default(),
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            read_states: Vec::new(),
            pending_snapshot: None,
            latest_snapshot: snapshot,
            uncommitted_bytes: 0,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        };
        // The changes in the chosen log after the snapshot, replayed.
        paxos.membership.learn_chosen(&paxos.log);
        paxos.update_peers();
        paxos.log.set_run_ballot(promised);
        paxos.become_follower(NO_NODE);
        // It may have acknowledged a heartbeat just before it stopped (`lease.rs`).
        paxos.lease.boot = cfg.lease_reads() && promised != Ballot::ZERO;
        Ok(paxos)
    }

    /// Queues `msg` from this node to `to`: at once, or after persisting when it asserts
    /// durable state.
    pub fn send(&mut self, to: NodeId, ballot: Ballot, body: Body) {
        let msg = PaxosMessage::new(self.id, to, ballot, body);
        if msg.body.waits_for_persist() {
            self.msgs_after_persist.push(msg);
        } else {
            self.msgs.push(msg);
        }
    }

    /// Sends `body` to every peer.
    pub fn broadcast(&mut self, ballot: Ballot, body: impl Fn(&Paxos, NodeId) -> Body) {
        for i in 0..self.peers.len() {
            let to = self.peers[i];
            let b = body(self, to);
            self.send(to, ballot, b);
        }
    }

    /// Steps one message from a peer (or, from `PaxosNode::advance`, one this node sent
    /// itself once durable). A message no correct peer sends is `InvalidMessage` and changes
    /// nothing.
    pub fn step(&mut self, m: PaxosMessage) -> Result<()> {
        check_message(&self.cfg, &m)?;
        if let Body::Promise { first_slot, last_slot, entries, .. } = &m.body {
            self.check_promise_fits(&m, *first_slot, *last_slot, entries)?;
        }
        if m.from != self.id {
            self.election.heard_from(m.from);
        }
        self.max_seen = self.max_seen.max(m.ballot);
        let (from, ballot) = (m.from, m.ballot);
        match m.body {
            Body::Prepare { from_slot, transfer } => self.on_prepare(from, ballot, from_slot, transfer),
            Body::Promise { chosen, first_slot, last_slot, entries } => {
                self.on_promise(from, ballot, chosen, first_slot, last_slot, entries)
            }
            Body::Nack { promised } => self.on_nack(ballot, promised),
            Body::Accept { first_slot, chosen, entries } => self.on_accept(from, ballot, first_slot, chosen, entries),
            Body::Accepted { accepted_to } => self.on_accepted(from, ballot, accepted_to),
            Body::AcceptRejected { position } => self.on_accept_rejected(from, ballot, position),
            Body::Heartbeat { leader: true, chosen, read_round } => {
                self.on_leader_heartbeat(from, ballot, chosen, read_round)
            }
            Body::Heartbeat { leader: false, .. } => self.answer_heartbeat_as_non_member(from),
            Body::HeartbeatAck { read_round, accepted_to } => {
                self.on_heartbeat_ack(from, ballot, read_round, accepted_to)
            }
            Body::Snapshot { snapshot } => self.on_snapshot(from, ballot, snapshot),
            Body::TimeoutNow => self.on_timeout_now(from, ballot),
            Body::Propose { commands } => self.on_forwarded(from, commands),
            Body::ReadIndex { request_id } => {
                if self.role == NodeRole::Leader {
                    let _ = self.start_read(from, request_id);
                }
            }
            Body::ReadIndexResp { request_id, index } => {
                if from == self.leader {
                    self.read_states.push(ReadState { index, request_id });
                }
            }
            Body::TransferLeader { target } => {
                if self.role == NodeRole::Leader {
                    let _ = self.transfer_leader(target);
                }
            }
        }
        self.refresh_membership();
        Ok(())
    }

    /// Commands a follower forwarded. A batch the leader cannot take is dropped; the
    /// follower's caller retries on its own deadline, as with Raft. A candidate that runs
    /// phase 1 again over its own leadership keeps them until it knows whether it leads
    /// (`forwarded`): its followers forward to it meanwhile, and a leader re-runs phase 1
    /// for every membership change it proposes, so dropping them would cost each change the
    /// callers' timeout.
    fn on_forwarded(&mut self, from: NodeId, commands: Vec<Bytes>) {
        match self.role {
            NodeRole::Leader => self.propose_forwarded(from, commands),
            NodeRole::Candidate => {
                let bytes: usize = commands.iter().map(|c| c.len() + ENTRY_OVERHEAD_BYTES).sum();
                if self.forwarded_bytes + bytes <= self.cfg.max_uncommitted_bytes {
                    self.forwarded_bytes += bytes;
                    self.forwarded.push((from, commands));
                }
            }
            NodeRole::Follower => {}
        }
    }

    /// Proposes commands `from` forwarded; its caller waits for it to apply their slots.
    pub fn propose_forwarded(&mut self, from: NodeId, commands: Vec<Bytes>) {
        if self.propose(commands).is_ok() {
            let last = self.log.last_slot();
            self.want_chosen(from, last);
        }
    }

    /// A node that is no member of the latest configuration it knows (it waits to be added,
    /// or was added and has not heard of it yet) heartbeats only the members of that
    /// configuration. A node that heartbeats it and is none of them counts it as a peer (a
    /// voter of a configuration it has not learned): it answers, so that one hears it. Else
    /// a new voter with an empty log is never heard by the other voters, which campaign only
    /// when connected to a quorum that includes it, and nobody brings it up to date once the
    /// node that removed itself for it can no longer lead (after a snapshot it no longer
    /// knows it voted before: `may_lead`).
    ///
    /// At most once per tick to each node, and to at most `MAX_NON_MEMBER_ANSWERS_PER_TICK`
    /// nodes: two nodes that are each no member of what the other knows would otherwise
    /// answer each other's answers for ever within one tick (found by `paxos_membership`'s
    /// proptest: the network never went quiet).
    fn answer_heartbeat_as_non_member(&mut self, from: NodeId) {
        if !self.peers.contains(&from)
            && !self.membership.latest().is_member(self.id)
            && !self.non_member_answers.contains(&from)
            && self.non_member_answers.len() < MAX_NON_MEMBER_ANSWERS_PER_TICK
        {
            self.non_member_answers.push(from);
            let ballot = self.promised;
            self.send(from, ballot, Body::Heartbeat { leader: false, chosen: 0, read_round: 0 });
        }
    }

    /// Raises the promise to `ballot` (above the current one): a candidate or leader of a
    /// lower ballot stops, and the acceptor's run moves to the new ballot.
    pub fn raise_promise(&mut self, ballot: Ballot) {
        debug_assert!(ballot > self.promised, "raise_promise: {ballot} is not above {}", self.promised);
        self.promised = ballot;
        self.max_seen = self.max_seen.max(ballot);
        self.log.set_run_ballot(ballot);
        if self.role != NodeRole::Follower && self.own_ballot < ballot {
            self.become_follower(NO_NODE);
        }
    }

    /// Resets what every role change resets.
    fn reset(&mut self) {
        self.campaign = None;
        self.progress.clear();
        self.self_matched = 0;
        self.lead_start_chosen = 0;
        self.lead_covered_to = 0;
        self.removal_told_after = None;
        self.removal_told_at_ticks = None;
        self.forwarded.clear();
        self.forwarded_bytes = 0;
        self.reads.reset();
        self.lease.reset_leader();
        self.uncommitted_bytes = 0;
        self.election.reset_timers();
        self.reset_randomized_election_timeout();
    }

    pub fn become_follower(&mut self, leader: NodeId) {
        self.reset();
        self.role = NodeRole::Follower;
        self.leader = leader;
        self.own_ballot = Ballot::ZERO;
    }

    pub fn become_candidate(&mut self, ballot: Ballot) {
        self.reset();
        self.role = NodeRole::Candidate;
        self.leader = NO_NODE;
        self.own_ballot = ballot;
    }

    /// Becomes the leader of `own_ballot` (phase 1 won); the caller proposes the adopted
    /// slots.
    pub fn become_leader_state(&mut self) {
        let ballot = self.own_ballot;
        self.reset();
        self.own_ballot = ballot;
        self.role = NodeRole::Leader;
        self.leader = self.id;
    }

    pub fn reset_randomized_election_timeout(&mut self) {
        let et = self.cfg.election_timeout_ticks;
        let drawn = self.rng.gen_range(et..2 * et);
        self.election.randomized_election_timeout_ticks = drawn;
    }

    /// Proposes `commands`: the leader gives them the next slots; a follower forwards them to
    /// the leader it knows.
    pub fn propose(&mut self, commands: Vec<Bytes>) -> Result<()> {
        if commands.is_empty() {
            return Err(RaftError::ProposalDropped { reason: DropReason::Empty });
        }
        let bytes: usize = commands.iter().map(|c| c.len() + ENTRY_OVERHEAD_BYTES).sum();
        if bytes > self.cfg.max_proposal_bytes() || bytes > self.cfg.max_uncommitted_bytes {
            return Err(RaftError::ProposalDropped { reason: DropReason::TooLarge });
        }
        match self.role {
            NodeRole::Leader => self.propose_as_leader(commands, bytes, EntryKind::Normal),
            // Not to a leader this node knows removed: it refuses commands once it has padded
            // its window (`membership.rs`), and a forwarded command it refuses is lost, its
            // caller waiting out its timeout. `NotLeader` keeps the caller's call until the
            // next leader is heard.
            _ if self.leader != NO_NODE && self.cfg.forward_proposals && !self.leader_removed() => {
                let (leader, ballot) = (self.leader, self.promised);
                self.send(leader, ballot, Body::Propose { commands });
                Ok(())
            }
            _ => Err(self.not_leader()),
        }
    }

    /// `NotLeader`, naming the leader this node follows unless it knows that leader removed
    /// (it hands over: asking it is no use).
    pub fn not_leader(&self) -> RaftError {
        let hint = Some(self.leader).filter(|&id| id != NO_NODE && !self.leader_removed());
        RaftError::NotLeader { leader_hint: hint }
    }

    /// The leader this node follows voted in the configuration the latest one replaced and
    /// votes in the latest no more: the latest change removed it, and it hands over. (A leader
    /// this node knows no configuration of, one added after what it holds, is not.)
    pub fn leader_removed(&self) -> bool {
        self.leader != NO_NODE && !self.is_latest_voter(self.leader) && self.membership.previous_voter(self.leader)
    }

    /// Asks for leadership to move to `to`: the target campaigns at once with a
    /// transfer-flagged Prepare, which acceptors grant even while they hear from a leader.
    /// With leases a node asking for leadership itself goes through its leader, which voids
    /// its lease (`lease.rs`); without, it campaigns at once.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        if to != self.id && !self.is_latest_voter(to) {
            return Err(RaftError::UnknownPeer { id: to });
        }
        let forward = self.cfg.lease_reads() && self.leader != NO_NODE && self.cfg.forward_proposals;
        if to == self.id && self.role != NodeRole::Leader && !forward {
            let transfer = (!self.cfg.lease_reads()).then_some(self.promised);
            self.campaign(transfer);
            return Ok(());
        }
        if to == self.id && self.role == NodeRole::Leader {
            return Ok(());
        }
        match self.role {
            NodeRole::Leader => {
                // The target may win without waiting out the acceptors' refusals: the lease is
                // void until this ballot ends.
                self.lease.void = true;
                let ballot = self.own_ballot;
                self.send(to, ballot, Body::TimeoutNow);
                Ok(())
            }
            _ if self.leader != NO_NODE && self.cfg.forward_proposals => {
                let (leader, ballot) = (self.leader, self.promised);
                self.send(leader, ballot, Body::TransferLeader { target: to });
                Ok(())
            }
            _ => Err(self.not_leader()),
        }
    }

    fn on_timeout_now(&mut self, from: NodeId, ballot: Ballot) {
        // Only at the ballot this node promised (a stale TimeoutNow must not start a
        // disruptive campaign): from the leader it follows (a transfer), or from the candidate
        // it promised, which found this node far ahead (`candidate.rs`) and is answered only
        // if this node could win.
        if self.role != NodeRole::Follower || ballot != self.promised {
            return;
        }
        let from_candidate = from == ballot.node && self.connected_to_quorum(true);
        if from == self.leader || from_candidate {
            self.campaign(Some(ballot));
        }
    }

    /// Linearizable read under `request_id`: the leader starts a round, a follower forwards
    /// it to the leader it knows.
    pub fn read_index(&mut self, request_id: u64) -> Result<()> {
        match self.role {
            NodeRole::Leader => {
                let id = self.id;
                self.start_read(id, request_id)
            }
            _ if self.leader != NO_NODE && self.cfg.forward_proposals => {
                let (leader, ballot) = (self.leader, self.promised);
                self.send(leader, ballot, Body::ReadIndex { request_id });
                Ok(())
            }
            _ => Err(self.not_leader()),
        }
    }
}
