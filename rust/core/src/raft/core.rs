//! The Raft state machine: roles, terms, and the dispatch of every input.
//!
//! Elections live in `election.rs`, log replication in `replication.rs`, reads in
//! `read_index.rs`, leadership transfer in `transfer.rs`; this file holds the state they share
//! and the role transitions.

use crate::error::{RaftError, Result};
use crate::raft::config::{Config, ReadOnlyOption};
use crate::raft::empty_disk::EmptyDisk;
use crate::raft::log::RaftLog;
use crate::raft::message::{ConfState, Entry, Index, Message, MessageType, NodeId, Term, CAMPAIGN_TRANSFER, NO_NODE};
use crate::raft::progress::Progress;
use crate::raft::quorum::JointConfig;
use crate::raft::read_only::ReadOnly;
use crate::raft::ready::{ReadState, Role};
use crate::raft::storage::Storage;
use crate::raft::validate::check_message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Raft<S: Storage> {
    pub id: NodeId,
    pub term: Term,
    /// Vote cast in `term`, or `NO_NODE`.
    pub vote: NodeId,
    pub role: Role,
    /// Known leader of `term`, or `NO_NODE`.
    pub leader: NodeId,
    pub log: RaftLog<S>,
    /// The configuration in force: that of the snapshot, moved on by every membership change
    /// handed out to apply (`membership.rs`).
    pub conf_state: ConfState,
    /// The quorums of `conf_state` (its voters, and while joint its outgoing voters).
    pub conf: JointConfig,
    /// Every member (voters and learners) except this node, ascending (cached from
    /// `conf_state`: used on every append).
    pub peers: Vec<NodeId>,
    /// Progress of every member (including this node), ascending by id. Only meaningful at a
    /// leader; reset on every role change.
    pub progress: Vec<(NodeId, Progress)>,
    /// The index of the last membership change a leader appended (at election: its last
    /// index, which may hold one of an earlier leader). Another is refused until the log is
    /// applied past it (etcd's `pendingConfIndex`).
    pub pending_conf_index: Index,
    /// The index of the last membership change that took effect here (or of the snapshot the
    /// configuration came with); changes at or below it are not applied again.
    pub conf_applied_index: Index,
    /// At a leader: the highest index the quorums in force commit alone (see
    /// `refresh_pending_confs`); `Index::MAX` unless two changes wait in its log.
    pub conf_commit_bound: Index,
    /// The quorums of the configuration the leader's log leads to, needed past
    /// `conf_commit_bound` (empty, so neutral, otherwise).
    pub latest_conf_quorums: JointConfig,
    /// During a campaign: the quorums of the configuration the log leads to, needed besides
    /// those of `conf` (`latest_log_conf_quorums`; empty, so neutral, when they are the same).
    pub election_conf: JointConfig,
    /// How many times the configuration in force was switched (at start and on every change):
    /// tells `RawNode` to report it in the next Ready.
    pub conf_switches: u64,
    /// Votes received in the current (pre-)election.
    pub votes: Vec<(NodeId, bool)>,
    /// Messages that may leave at once.
    pub msgs: Vec<Message>,
    /// Messages that may leave only after the current unstable state is durable.
    pub msgs_after_persist: Vec<Message>,
    pub read_states: Vec<ReadState>,
    pub read_only: ReadOnly,
    /// Ticks since the last election-timer reset. At a leader: ticks since the last quorum check.
    pub election_elapsed_ticks: u32,
    pub heartbeat_elapsed_ticks: u32,
    /// Drawn from `[election_timeout_ticks, 2 * election_timeout_ticks)` at every reset.
    pub randomized_election_timeout_ticks: u32,
    /// The target of a leadership transfer in progress, or `NO_NODE`.
    pub lead_transferee: NodeId,
    /// This leader sent TimeoutNow in its term: its lease is void until the term ends.
    pub timeout_now_sent: bool,
    /// Ticks since this node started: the clock of leases. Never reset.
    pub now_ticks: u64,
    /// Set at a restart in lease mode: until an election timeout has passed, act as if a
    /// leader had just been heard from and ignore non-forced votes, because this node may have
    /// acknowledged a heartbeat just before it crashed, and a leader counts on that for its
    /// lease.
    pub boot_lease: bool,
    /// Bytes of entries appended by this leader and not yet handed out to apply.
    pub uncommitted_bytes: usize,
    /// The node started with nothing durable (term 0, no vote, no entry, no snapshot).
    pub started_blank: bool,
    /// Whether it came back blank into a cluster with a log (`empty_disk.rs`).
    pub empty_disk: EmptyDisk,
    /// As a leader: followers found to have lost their log, counted since the start, and the
    /// last one (a loss may be repaired within a tick: the caller logs it from these).
    pub lost_logs_seen: u64,
    pub last_lost_log_peer: NodeId,
    pub cfg: Config,
    rng: ChaCha8Rng,
}

/// Message types that only depend on the leader's own state and may be sent before the
/// leader's log append is durable (thesis 10.2.1), requests forwarded to the leader, and
/// heartbeat responses: those promise nothing that a crash could take back (no log entry, no
/// vote; a restarted node keeps the lease promise through `boot_lease`), as in etcd. So a
/// follower whose disk stalls still answers heartbeats, and the leader keeps its quorum.
fn may_send_before_persist(t: MessageType) -> bool {
    use MessageType::*;
    matches!(
        t,
        Append
            | Heartbeat
            | HeartbeatResp
            | Snapshot
            | TimeoutNow
            | ReadIndexResp
            | Propose
            | ReadIndex
            | TransferLeader
    )
}

impl<S: Storage> Raft<S> {
    pub fn new(cfg: &Config, storage: S) -> Result<Raft<S>> {
        cfg.validate()?;
        let (hard_state, mut conf_state) = storage.initial_state();
        if conf_state.voters.is_empty() {
            conf_state = ConfState::from_voters(cfg.voters.clone());
        }
        // A node outside `conf_state` (one about to be added) starts as a non-member: it
        // campaigns only once a change that makes it a voter has taken effect here.
        let log = RaftLog::new(storage, hard_state.commit, cfg.applied);
        let snapshot_index = log.first_index() - 1;
        let committed = log.committed;
        // Blank, under an id that votes: a member added later starts blank by design.
        let started_blank =
            hard_state.term == 0 && hard_state.vote == NO_NODE && log.last_index() == 0 && conf_state.is_voter(cfg.id);
        let mut raft = Raft {
            id: cfg.id,
            term: hard_state.term,
            vote: hard_state.vote,
            role: Role::Follower,
            leader: NO_NODE,
            log,
            conf_state: ConfState::default(),
            conf: JointConfig::default(),
            peers: Vec::new(),
            progress: Vec::new(),
            pending_conf_index: 0,
            conf_applied_index: snapshot_index,
            conf_switches: 0,
            conf_commit_bound: Index::MAX,
            latest_conf_quorums: JointConfig::default(),
            election_conf: JointConfig::default(),
            votes: Vec::new(),
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            read_states: Vec::new(),
            read_only: ReadOnly::new(cfg.max_pending_reads),
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            randomized_election_timeout_ticks: cfg.election_timeout_ticks,
            lead_transferee: NO_NODE,
            timeout_now_sent: false,
            now_ticks: 0,
            boot_lease: false,
            uncommitted_bytes: 0,
            started_blank,
            // An abstention survives restarts until the node holds the committed log again.
            empty_disk: if cfg.empty_disk_guard && hard_state.abstaining {
                EmptyDisk::Abstaining
            } else {
                EmptyDisk::No
            },
            lost_logs_seen: 0,
            last_lost_log_peer: NO_NODE,
            cfg: cfg.clone(),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        };
        raft.conf_state = conf_state;
        raft.replay_conf_changes(committed);
        raft.become_follower(hard_state.term, NO_NODE);
        raft.boot_lease = cfg.read_only == ReadOnlyOption::LeaseBased && hard_state.term > 0;
        Ok(raft)
    }

    /// This node is the only voter (learners aside): it is the leader by itself.
    pub fn is_single_voter(&self) -> bool {
        self.conf.outgoing.voters.is_empty() && self.conf.incoming.voters == [self.id]
    }

    /// Queues `m` for sending, stamping sender and (for non-forwarded messages) term.
    pub fn send(&mut self, mut m: Message) {
        m.from = self.id;
        let forwarded =
            matches!(m.msg_type, MessageType::Propose | MessageType::ReadIndex | MessageType::TransferLeader);
        if forwarded {
            // Forwarded requests carry no term: they are valid in any term (etcd does the same).
            m.term = 0;
        } else if !matches!(
            m.msg_type,
            MessageType::Vote | MessageType::PreVote | MessageType::PreVoteResp | MessageType::VoteResp
        ) {
            // Vote messages set their own term (pre-votes use the next term); all others ours.
            m.term = self.term;
        }
        if may_send_before_persist(m.msg_type) {
            self.msgs.push(m);
        } else {
            self.msgs_after_persist.push(m);
        }
    }

    pub fn progress(&self, id: NodeId) -> Option<&Progress> {
        self.progress.iter().find(|(i, _)| *i == id).map(|(_, p)| p)
    }

    pub fn progress_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.progress.iter_mut().find(|(i, _)| *i == id).map(|(_, p)| p)
    }

    fn reset_randomized_election_timeout(&mut self) {
        let et = self.cfg.election_timeout_ticks;
        self.randomized_election_timeout_ticks = self.rng.gen_range(et..2 * et);
    }

    pub fn past_election_timeout(&self) -> bool {
        self.election_elapsed_ticks >= self.randomized_election_timeout_ticks
    }

    /// Resets the volatile state shared by every role change into `term`.
    fn reset(&mut self, term: Term) {
        if self.term != term {
            self.term = term;
            self.vote = NO_NODE;
        }
        self.leader = NO_NODE;
        self.election_elapsed_ticks = 0;
        self.heartbeat_elapsed_ticks = 0;
        self.reset_randomized_election_timeout();
        self.lead_transferee = NO_NODE;
        self.timeout_now_sent = false;
        self.votes.clear();
        self.read_only.reset();
        self.uncommitted_bytes = 0;
        let next_index = self.log.last_index() + 1;
        let (max_msgs, max_bytes) = (self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
        let members = self.conf_state.members();
        let id = self.id;
        // A leader may widen both to the members of changes not yet in force.
        self.peers = members.iter().copied().filter(|&member| member != id).collect();
        self.progress = members.into_iter().map(|id| (id, Progress::new(next_index, max_msgs, max_bytes))).collect();
        let persisted = self.log.persisted;
        let id = self.id;
        if let Some(p) = self.progress_mut(id) {
            p.match_index = persisted;
        }
    }

    pub fn become_follower(&mut self, term: Term, leader: NodeId) {
        self.reset(term);
        self.leader = leader;
        self.role = Role::Follower;
    }

    pub fn become_pre_candidate(&mut self) {
        assert!(self.role != Role::Leader, "become_pre_candidate: invalid transition from leader");
        // Pre-vote changes neither term nor vote (thesis 9.6); only the role and the tally.
        self.votes.clear();
        self.leader = NO_NODE;
        self.role = Role::PreCandidate;
    }

    pub fn become_candidate(&mut self) {
        assert!(self.role != Role::Leader, "become_candidate: invalid transition from leader");
        self.reset(self.term + 1);
        self.vote = self.id;
        self.role = Role::Candidate;
    }

    pub fn become_leader(&mut self) {
        assert!(self.role == Role::Candidate, "become_leader: invalid transition from {:?}", self.role);
        self.reset(self.term);
        self.leader = self.id;
        self.role = Role::Leader;
        let id = self.id;
        let last_index = self.log.last_index();
        for (pid, p) in self.progress.iter_mut() {
            // The leader trusts its own log; followers start probing right after it.
            p.next_index = last_index + 1;
            p.recent_active = *pid == id;
        }
        if let Some(p) = self.progress_mut(id) {
            p.become_replicate();
        }
        // The log may hold a change of an earlier leader, not yet applied: no other until it is,
        // and nothing past it commits before it is in force.
        self.pending_conf_index = last_index;
        self.refresh_pending_confs();
        self.append_noop();
    }

    /// Whether the leader's commit index is of its own term: until then it cannot know
    /// which of its entries are committed, so reads must wait (thesis 6.4, step 1).
    pub fn committed_in_current_term(&self) -> bool {
        self.log.term_or_zero(self.log.committed) == self.term
    }

    pub fn tick(&mut self) {
        self.now_ticks += 1;
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed_ticks = self.election_elapsed_ticks.saturating_add(1);
        if self.election_elapsed_ticks >= self.cfg.election_timeout_ticks {
            self.boot_lease = false;
        }
        // A node that may not campaign (a learner, a node removed or not yet added) lets its
        // timer run on, as etcd does: past an election timeout it no longer counts on a leader,
        // so it answers the votes of the members that must elect one.
        if self.past_election_timeout() && self.promotable() {
            self.election_elapsed_ticks = 0;
            self.hup(false);
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        self.tick_snapshot_progress();
        if self.election_elapsed_ticks >= self.cfg.election_timeout_ticks {
            self.election_elapsed_ticks = 0;
            if self.cfg.check_quorum && !self.check_quorum_active() {
                self.become_follower(self.term, NO_NODE);
                return;
            }
            // A transfer that did not finish within an election timeout is abandoned; a leader
            // that is no longer a voter (it was handing over) tries again, and leads meanwhile.
            self.lead_transferee = NO_NODE;
            if !self.promotable() {
                self.hand_over_leadership();
            }
            if self.conf_state.auto_leave {
                self.maybe_auto_leave();
            }
        }
        if self.heartbeat_elapsed_ticks >= self.cfg.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.bcast_heartbeat();
        } else {
            self.bcast_commit();
        }
    }

    /// True when a quorum was heard from since the last check; clears the marks for the next
    /// window.
    fn check_quorum_active(&mut self) -> bool {
        let id = self.id;
        let active: Vec<NodeId> =
            self.progress.iter().filter(|(pid, p)| *pid == id || p.recent_active).map(|(pid, _)| *pid).collect();
        for (pid, p) in self.progress.iter_mut() {
            p.recent_active = *pid == id;
        }
        self.conf.has_quorum(|v| active.contains(&v))
    }

    /// Handles one message from a peer.
    pub fn step(&mut self, m: Message) -> Result<()> {
        // Any other node may write: members come and go, and one that joined (or a leader
        // this node has not yet learned of) must be heard before the change is applied here.
        if m.from == NO_NODE || m.from == self.id {
            return Err(RaftError::UnknownPeer { id: m.from });
        }
        check_message(&m).map_err(|problem| RaftError::InvalidMessage { from: m.from, problem })?;
        if self.note_history(&m) && (!m.entries.is_empty() || m.snapshot.is_some()) {
            // The abstention must be durable before any part of the log is: a node that
            // crashed with a part of it and not the abstention would come back voting. The
            // sender sends the log again (to a follower that did not answer).
            return Ok(());
        }
        if m.term == 0 {
            // Forwarded requests carry no term.
        } else if m.term > self.term {
            if !self.step_higher_term(&m) {
                return Ok(());
            }
        } else if m.term < self.term {
            self.step_lower_term(&m);
            return Ok(());
        }
        match m.msg_type {
            MessageType::Vote | MessageType::PreVote => {
                self.handle_vote_request(&m);
                Ok(())
            }
            _ => match self.role {
                Role::Leader => self.step_leader(m),
                Role::Candidate | Role::PreCandidate => self.step_candidate(m),
                Role::Follower => self.step_follower(m),
            },
        }
    }

    /// A message from a higher term. Returns false when it is to be ignored.
    fn step_higher_term(&mut self, m: &Message) -> bool {
        if matches!(m.msg_type, MessageType::Vote | MessageType::PreVote) {
            let forced = m.context == CAMPAIGN_TRANSFER;
            let in_lease = self.cfg.check_quorum
                && (self.leader != NO_NODE || self.boot_lease)
                && self.election_elapsed_ticks < self.cfg.election_timeout_ticks;
            if !forced && in_lease {
                // We heard from a leader within the minimum election timeout: a disruptive
                // candidate (for instance one rejoining after a partition) is ignored (4.2.3).
                return false;
            }
        }
        match m.msg_type {
            // A pre-vote never changes our term; a granted pre-vote response does not either
            // (the pre-candidate campaigns in the next term when it has a quorum).
            MessageType::PreVote => {}
            MessageType::PreVoteResp if !m.reject => {}
            MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot => {
                self.become_follower(m.term, m.from)
            }
            _ => self.become_follower(m.term, NO_NODE),
        }
        true
    }

    fn step_lower_term(&mut self, m: &Message) {
        match m.msg_type {
            MessageType::Append | MessageType::Heartbeat if self.cfg.check_quorum || self.cfg.pre_vote => {
                // A stale leader (cut off by a partition) learns our term and steps down;
                // without this, pre-vote could leave it and us stuck (etcd issue 8501).
                self.send(Message::new(MessageType::AppendResp, self.id, m.from, self.term));
            }
            MessageType::PreVote => {
                let mut resp = Message::new(MessageType::PreVoteResp, self.id, m.from, self.term);
                resp.reject = true;
                self.send(resp);
            }
            _ => {}
        }
    }

    fn step_leader(&mut self, m: Message) -> Result<()> {
        match m.msg_type {
            MessageType::AppendResp => self.handle_append_resp(&m)?,
            MessageType::HeartbeatResp => self.handle_heartbeat_resp(&m),
            MessageType::Propose => {
                // A follower forwarded it; a refusal is not reported back (the proposer
                // retries on its own timeout), as in etcd.
                let data = m.entries.into_iter().map(|e| e.data).collect();
                if self.propose(data).is_ok() {
                    let last = self.log.last_index();
                    self.want_commit(m.from, last);
                }
            }
            MessageType::ReadIndex => {
                let _ = self.read_index(m.from, m.context);
            }
            MessageType::TransferLeader => {
                // The follower's configuration may be older or newer than ours: a target that
                // is no voter here is dropped, as other refused forwarded requests are.
                let _ = self.handle_transfer_leader(m.context);
            }
            _ => {}
        }
        Ok(())
    }

    fn step_candidate(&mut self, m: Message) -> Result<()> {
        match m.msg_type {
            MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot => {
                // A leader of our term exists: we lost.
                self.become_follower(m.term, m.from);
                self.step_follower(m)
            }
            MessageType::VoteResp | MessageType::PreVoteResp => {
                self.handle_vote_resp(&m);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn step_follower(&mut self, m: Message) -> Result<()> {
        match m.msg_type {
            MessageType::Append => {
                self.election_elapsed_ticks = 0;
                self.leader = m.from;
                self.handle_append(&m)?;
                self.note_log_received(m.from, m.commit);
            }
            MessageType::Heartbeat => {
                self.election_elapsed_ticks = 0;
                self.leader = m.from;
                self.handle_heartbeat(&m);
                if m.commit == m.index {
                    // Not capped at what we acknowledged: the leader's whole commit index.
                    self.note_log_received(m.from, m.commit);
                }
            }
            MessageType::Snapshot => {
                self.election_elapsed_ticks = 0;
                self.leader = m.from;
                // No end of an empty-disk abstention here: a snapshot may end below the commit
                // index; the append that follows its acknowledgement states that (`empty_disk`).
                self.handle_snapshot(m);
            }
            MessageType::TimeoutNow => self.hup(true),
            MessageType::ReadIndexResp if !m.reject => {
                self.read_states.push(ReadState { index: m.index, request_id: m.context });
            }
            // A request forwarded to us by a node that thought we lead is dropped, not passed
            // on: one hop at most, so stale leader hints can never make requests circulate.
            // The requester retries after its timeout.
            _ => {}
        }
        Ok(())
    }

    /// The error for a request this node cannot serve or forward.
    pub fn not_leader(&self) -> RaftError {
        RaftError::NotLeader { leader_hint: (self.leader != NO_NODE).then_some(self.leader) }
    }

    /// Sends a request this follower cannot serve to its leader (`msg_type` is Propose,
    /// ReadIndex or TransferLeader; `fill` sets the request's fields). Only a follower that
    /// knows its leader, with forwarding on, forwards; anyone else answers `NotLeader`.
    pub fn forward_to_leader(&mut self, msg_type: MessageType, fill: impl FnOnce(&mut Message)) -> Result<()> {
        if self.role != Role::Follower || self.leader == NO_NODE || !self.cfg.forward_proposals {
            return Err(self.not_leader());
        }
        let mut m = Message::new(msg_type, self.id, self.leader, 0);
        fill(&mut m);
        self.send(m);
        Ok(())
    }

    /// Entries handed out to apply are no longer uncommitted at the leader.
    pub fn reduce_uncommitted_bytes(&mut self, applied: &[Entry]) {
        if self.uncommitted_bytes == 0 {
            return;
        }
        let applied_bytes: usize = applied.iter().map(Entry::size_bytes).sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(applied_bytes);
    }

    pub fn lease_reads(&self) -> bool {
        self.cfg.read_only == ReadOnlyOption::LeaseBased
    }
}
