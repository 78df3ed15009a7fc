//! Timers and connectivity: who this node heard from, when it campaigns, when a leader steps
//! down, and leader stickiness (after OmniPaxos's quorum-connected heartbeats).
//!
//! Every node heartbeats every peer each heartbeat interval, whatever its role, and records the
//! tick it last heard from each peer (any valid message counts). A node is *connected* to
//! `q` when it heard from at least `q - 1` peers within the last election timeout: with
//! itself they could form a quorum of `q`.
//!
//! - A follower (or candidate) that has not heard from a leader for its randomized election
//!   timeout (drawn from `[et, 2 * et)` by the seeded RNG at every reset) campaigns only if
//!   connected to a phase 1 quorum; otherwise it waits another timeout. A node cut off from a
//!   quorum therefore never raises anyone's promise.
//! - A leader not connected to a phase 2 quorum at the end of an election timeout steps down
//!   (check-quorum): it could choose nothing anyway.
//! - An acceptor that heard from its leader within the election timeout refuses a Prepare
//!   (see `acceptor.rs`), so a node that lost only its own link to the leader (the chained
//!   scenario) cannot depose a leader the rest of the cluster still hears.

use crate::driver::NodeRole;
use crate::paxos::config::PaxosConfig;
use crate::paxos::core::Paxos;
use crate::paxos::message::Body;
use crate::raft::message::{NodeId, NO_NODE};

#[derive(Clone, Debug)]
pub struct Election {
    /// Ticks since this node started. Never reset.
    now_ticks: u64,
    /// The tick each peer was last heard from (`None`: never since the start), by peer id.
    heard: Vec<(NodeId, Option<u64>)>,
    election_timeout_ticks: u32,
    heartbeat_interval_ticks: u32,
    /// Follower: ticks since it last heard from its leader (or promised a candidate).
    /// Candidate: ticks since its campaign started. Leader: ticks since the last quorum check.
    pub election_elapsed_ticks: u32,
    pub heartbeat_elapsed_ticks: u32,
    /// Drawn from `[et, 2 * et)` at every reset.
    pub randomized_election_timeout_ticks: u32,
}

impl Election {
    pub fn new(cfg: &PaxosConfig) -> Election {
        let heard = cfg.voters.iter().filter(|&&id| id != cfg.id).map(|&id| (id, None)).collect();
        Election {
            now_ticks: 0,
            heard,
            election_timeout_ticks: cfg.election_timeout_ticks,
            heartbeat_interval_ticks: cfg.heartbeat_interval_ticks,
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            randomized_election_timeout_ticks: cfg.election_timeout_ticks,
        }
    }

    /// Ticks since this node started: the clock of leases.
    pub fn now_ticks(&self) -> u64 {
        self.now_ticks
    }

    pub fn heard_from(&mut self, id: NodeId) {
        let now = self.now_ticks;
        if let Some((_, tick)) = self.heard.iter_mut().find(|(peer, _)| *peer == id) {
            *tick = Some(now);
        }
    }

    /// The peers to track are `peers` now (membership changes): the others are forgotten, the
    /// new ones never heard from.
    pub fn set_peers(&mut self, peers: &[NodeId]) {
        let old = std::mem::take(&mut self.heard);
        self.heard = peers
            .iter()
            .map(|&id| (id, old.iter().find(|(peer, _)| *peer == id).and_then(|(_, tick)| *tick)))
            .collect();
    }

    /// Of `ids`, the peers heard from within the last election timeout.
    pub fn connected_among(&self, ids: &[NodeId]) -> usize {
        let horizon = self.now_ticks.saturating_sub(self.election_timeout_ticks as u64);
        self.heard.iter().filter(|(id, tick)| ids.contains(id) && tick.is_some_and(|t| t >= horizon)).count()
    }

    /// Peers heard from within the last election timeout.
    pub fn connected_peers(&self) -> usize {
        let horizon = self.now_ticks.saturating_sub(self.election_timeout_ticks as u64);
        self.heard.iter().filter(|(_, tick)| tick.is_some_and(|t| t >= horizon)).count()
    }

    /// Whether this node and the peers it hears form a quorum of `quorum`.
    pub fn connected_to(&self, quorum: usize) -> bool {
        self.connected_peers() + 1 >= quorum
    }

    pub fn reset_timers(&mut self) {
        self.election_elapsed_ticks = 0;
    }

    /// Whether a follower heard from its leader within the (non-randomized) election timeout.
    pub fn leader_recent(&self) -> bool {
        self.election_elapsed_ticks < self.election_timeout_ticks
    }

    fn heartbeat_due(&mut self) -> bool {
        self.heartbeat_elapsed_ticks += 1;
        if self.heartbeat_elapsed_ticks >= self.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            return true;
        }
        false
    }
}

impl Paxos {
    /// One unit of logical time: heartbeats, campaigns, check-quorum.
    pub fn tick(&mut self) {
        self.election.now_ticks += 1;
        self.non_member_answers.clear();
        if self.election.heartbeat_due() {
            self.bcast_heartbeat();
            match self.role {
                NodeRole::Leader => {
                    self.retransmit_stalled();
                    self.tick_removed_leader();
                }
                NodeRole::Candidate => self.keep_campaign_alive(),
                NodeRole::Follower => {}
            }
        }
        // Saturating: a follower cut off from a quorum lets it run for as long as that lasts.
        self.election.election_elapsed_ticks = self.election.election_elapsed_ticks.saturating_add(1);
        match self.role {
            NodeRole::Leader => self.tick_leader(),
            NodeRole::Follower | NodeRole::Candidate => self.tick_election(),
        }
    }

    fn tick_leader(&mut self) {
        if self.election.election_elapsed_ticks < self.cfg.election_timeout_ticks {
            return;
        }
        self.election.election_elapsed_ticks = 0;
        // A removed leader hands over instead (`membership.rs`): it may be the only node that
        // can bring the new voters up to date, which say nothing until someone does.
        if !self.connected_to_quorum(false) && self.is_latest_voter(self.id) {
            self.become_follower(NO_NODE);
        }
    }

    fn tick_election(&mut self) {
        // A node that voted only in the configuration the latest one replaced campaigns after
        // twice its timeout: it leads only to hand over, and the new voters go first (else the
        // two duel, each Prepare ending the other's phase 1).
        let timeout = self.election.randomized_election_timeout_ticks;
        let timeout = if self.is_latest_voter(self.id) { timeout } else { timeout.saturating_mul(2) };
        if self.election.election_elapsed_ticks < timeout {
            return;
        }
        if self.connected_to_quorum(true) && self.may_lead() {
            self.campaign(None);
        } else if self.role == NodeRole::Candidate {
            // Cut off from a phase 1 quorum: campaigning could only raise promises for
            // nothing.
            self.become_follower(NO_NODE);
        }
        // A follower cut off from a phase 1 quorum waits, its timer still expired, and
        // campaigns on the first tick it is connected. It does not reset the timer: it has
        // not heard from its leader, so it must not refuse other candidates for it.
    }

    /// Heartbeats every peer: "alive" from anyone, and from the leader its chosen index and
    /// read round too. With leases every leader heartbeat opens a read round: its
    /// acknowledgements extend the lease from the time it was sent (`lease.rs`).
    pub fn bcast_heartbeat(&mut self) {
        if self.role == NodeRole::Leader && self.cfg.lease_reads() {
            self.start_read_round();
        }
        self.send_heartbeats();
    }

    /// Heartbeats every peer, the leader's with its current read round.
    pub fn send_heartbeats(&mut self) {
        let leading = self.role == NodeRole::Leader;
        let ballot = if leading { self.own_ballot } else { self.promised };
        let (chosen, read_round) = if leading { (self.log.chosen(), self.reads.round()) } else { (0, 0) };
        for (_, p) in &mut self.progress {
            p.sent_chosen = p.sent_chosen.max(chosen.min(p.matched));
        }
        self.broadcast(ballot, |_, _| Body::Heartbeat { leader: leading, chosen, read_round });
    }

    /// Whether this node heard from its leader recently enough to refuse other candidates
    /// (or, with leases, restarted less than an election timeout ago).
    pub fn leader_is_fresh(&self) -> bool {
        match self.role {
            NodeRole::Leader => true,
            _ => self.leader != NO_NODE && self.election.leader_recent() || self.in_boot_lease(),
        }
    }

    /// Follows `leader` of `ballot` (which the caller checked is at least the promise): the
    /// promise rises to it, and a candidate or lower leader steps down.
    pub fn follow(&mut self, leader: NodeId, ballot: crate::paxos::ballot::Ballot) {
        if leader == self.id {
            return;
        }
        if ballot > self.promised {
            self.raise_promise(ballot);
        }
        if self.role != NodeRole::Follower || self.leader != leader {
            self.become_follower(leader);
        }
        self.election.reset_timers();
    }
}
