//! The synod: single-decree Paxos ("Paxos Made Simple", section 2), sans-IO and deterministic.
//!
//! Proposers try to get one value chosen by a set of acceptors; at most one value is ever
//! chosen, and only a value some proposer proposed. Each role is a plain state machine: a
//! handler takes one [`Envelope`] and returns the envelopes to send. Nothing here reads a clock,
//! draws a random number or touches a disk.
//!
//! * [`Acceptor`]: keeps the promised ballot and the last accepted [`Proposal`] (its
//!   [`AcceptorState`], the only durable state of the protocol). [`Acceptor::step`] returns an
//!   [`AcceptorReady`]: the caller **persists `state` first, then sends `messages`**. A Promise
//!   or an Accepted is a promise to a proposer about what the acceptor will never do; sent
//!   before it is durable, a crash lets the acceptor forget it and break it.
//! * [`Proposer`]: phase 1 (Prepare, collect a phase-1 quorum of Promises), then phase 2 with
//!   the value of the highest-ballot Proposal reported in those Promises, or its own value if
//!   none reported one (the rule P2c), then learns the value chosen once a phase-2 quorum
//!   answers Accepted. A Nack ends its ballot; when to [`Proposer::retry`] is the caller's
//!   policy (back off, or defer to a leader), so two proposers need not duel forever.
//! * [`Learner`]: counts Accepted messages per ballot and deems a value chosen once a phase-2
//!   quorum of acceptors accepted it at one ballot.
//!
//! Quorum sizes are [`Quorums`]: any phase-1 quorum must meet any phase-2 quorum
//! (`phase1_size + phase2_size > acceptor_count`, Flexible Paxos), which is all the safety
//! argument needs, so e.g. five acceptors may run phase 2 with two of them if phase 1 takes four.
//!
//! Proposers keep no durable state, so the caller must give a restarted proposer a ballot it
//! never used before (persist its last round, or pick one above every ballot it can learn of):
//! two proposals at one ballot with different values can get both chosen.

use super::ballot::Ballot;
use crate::raft::message::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use thiserror::Error;

/// A value accepted at a ballot: what an acceptor reports in a Promise (P2c needs the ballot to
/// pick the highest one) and what it stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal<V> {
    pub ballot: Ballot,
    pub value: V,
}

/// The messages of the synod. Every message names the ballot it is about, so a reply to an
/// abandoned ballot is recognised and ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<V> {
    /// Phase 1a, proposer to acceptor: promise to accept nothing below `ballot`.
    Prepare { ballot: Ballot },
    /// Phase 1b, acceptor to proposer: promised `ballot`; `accepted` is the acceptor's last
    /// accepted proposal (its ballot is at most `ballot`).
    Promise { ballot: Ballot, accepted: Option<Proposal<V>> },
    /// Acceptor to proposer: refused the Prepare or Accept at `ballot` because it promised
    /// `promised` (> `ballot`), so the proposer can pick a ballot above it.
    Nack { ballot: Ballot, promised: Ballot },
    /// Phase 2a, proposer to acceptor: accept `value` at `ballot`.
    Accept { ballot: Ballot, value: V },
    /// Phase 2b, acceptor to proposer (and any learner): accepted `value` at `ballot`.
    Accepted { ballot: Ballot, value: V },
}

/// A message with its sender and receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<V> {
    pub from: NodeId,
    pub to: NodeId,
    pub message: Message<V>,
}

/// Why a quorum configuration was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum QuorumError {
    #[error("a synod needs at least one acceptor")]
    NoAcceptors,
    #[error("acceptor {node} is listed twice")]
    DuplicateAcceptor { node: NodeId },
    /// A phase's quorum size is 0 or above the number of acceptors.
    #[error("phase-{phase} quorum size {size} is outside [1, {acceptor_count}]")]
    SizeOutOfRange { phase: u8, size: usize, acceptor_count: usize },
    /// A phase-1 quorum and a phase-2 quorum could be disjoint, so a proposer could miss a
    /// chosen value in phase 1 and choose another.
    #[error("quorums of {phase1_size} and {phase2_size} among {acceptor_count} acceptors need not intersect")]
    NoIntersection { phase1_size: usize, phase2_size: usize, acceptor_count: usize },
}

/// The acceptors and how many of them make a quorum in each phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorums {
    /// Distinct, non-empty.
    acceptors: Vec<NodeId>,
    /// In `[1, acceptors.len()]`, and `phase1_size + phase2_size > acceptors.len()`.
    phase1_size: usize,
    phase2_size: usize,
}

impl Quorums {
    /// Flexible quorums; refused unless every phase-1 quorum meets every phase-2 quorum.
    pub fn new(acceptors: Vec<NodeId>, phase1_size: usize, phase2_size: usize) -> Result<Quorums, QuorumError> {
        let acceptor_count = acceptors.len();
        if acceptor_count == 0 {
            return Err(QuorumError::NoAcceptors);
        }
        let mut seen = BTreeSet::new();
        if let Some(&node) = acceptors.iter().find(|&&node| !seen.insert(node)) {
            return Err(QuorumError::DuplicateAcceptor { node });
        }
        for (phase, size) in [(1, phase1_size), (2, phase2_size)] {
            if size == 0 || size > acceptor_count {
                return Err(QuorumError::SizeOutOfRange { phase, size, acceptor_count });
            }
        }
        if phase1_size + phase2_size <= acceptor_count {
            return Err(QuorumError::NoIntersection { phase1_size, phase2_size, acceptor_count });
        }
        Ok(Quorums { acceptors, phase1_size, phase2_size })
    }

    /// A majority in both phases.
    pub fn majority(acceptors: Vec<NodeId>) -> Result<Quorums, QuorumError> {
        let size = acceptors.len() / 2 + 1;
        Quorums::new(acceptors, size, size)
    }

    pub fn acceptors(&self) -> &[NodeId] {
        &self.acceptors
    }

    pub fn phase1_size(&self) -> usize {
        self.phase1_size
    }

    pub fn phase2_size(&self) -> usize {
        self.phase2_size
    }

    fn contains(&self, node: NodeId) -> bool {
        self.acceptors.contains(&node)
    }

    fn broadcast<V: Clone>(&self, from: NodeId, message: Message<V>) -> Vec<Envelope<V>> {
        self.acceptors.iter().map(|&to| Envelope { from, to, message: message.clone() }).collect()
    }
}

/// What an acceptor must not forget across a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptorState<V> {
    /// The highest ballot promised; [`Ballot::ZERO`] when nothing was. Invariant:
    /// `accepted.ballot <= promised`.
    pub promised: Ballot,
    /// The proposal accepted last (at the highest ballot accepted so far).
    pub accepted: Option<Proposal<V>>,
}

impl<V> Default for AcceptorState<V> {
    fn default() -> Self {
        AcceptorState { promised: Ballot::ZERO, accepted: None }
    }
}

/// What an acceptor asks of its caller after a message, in this order: make `state` durable
/// (if set), then send `messages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptorReady<V> {
    /// The whole durable state to write, replacing what was stored; set whenever `messages`
    /// hold a Promise or an Accepted, which vouch for it.
    pub state: Option<AcceptorState<V>>,
    /// Replies, to send only once `state` is durable.
    pub messages: Vec<Envelope<V>>,
}

impl<V> AcceptorReady<V> {
    fn nothing() -> Self {
        AcceptorReady { state: None, messages: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_none() && self.messages.is_empty()
    }
}

/// An acceptor: promises and accepts by the rules of the synod.
#[derive(Clone, Debug)]
pub struct Acceptor<V> {
    id: NodeId,
    /// Ahead of the caller's durable copy until the caller persists the last `AcceptorReady`.
    state: AcceptorState<V>,
}

impl<V: Clone> Acceptor<V> {
    /// An acceptor that never promised anything.
    pub fn new(id: NodeId) -> Self {
        Acceptor::restore(id, AcceptorState::default())
    }

    /// An acceptor restarted from the state its caller persisted.
    pub fn restore(id: NodeId, state: AcceptorState<V>) -> Self {
        assert!(
            state.accepted.as_ref().is_none_or(|p| p.ballot <= state.promised),
            "restore: accepted ballot above promised"
        );
        Acceptor { id, state }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn state(&self) -> &AcceptorState<V> {
        &self.state
    }

    /// Handles a message addressed to this acceptor; messages for proposers are ignored.
    pub fn step(&mut self, envelope: Envelope<V>) -> AcceptorReady<V> {
        assert_eq!(envelope.to, self.id, "step: message for {} given to acceptor {}", envelope.to, self.id);
        match envelope.message {
            Message::Prepare { ballot } => self.step_prepare(envelope.from, ballot),
            Message::Accept { ballot, value } => self.step_accept(envelope.from, ballot, value),
            Message::Promise { .. } | Message::Nack { .. } | Message::Accepted { .. } => AcceptorReady::nothing(),
        }
    }

    /// Promises a ballot above every one promised before. The ballot promised already gets
    /// the same Promise again (a duplicated or retransmitted Prepare): it promises nothing new,
    /// and carries the state so it is never sent ahead of it.
    fn step_prepare(&mut self, from: NodeId, ballot: Ballot) -> AcceptorReady<V> {
        if ballot < self.state.promised {
            return self.nack(from, ballot);
        }
        self.state.promised = ballot;
        let promise = Message::Promise { ballot, accepted: self.state.accepted.clone() };
        self.reply(from, promise)
    }

    /// Accepts at any ballot not below the promise (a proposer need not have sent this
    /// acceptor a Prepare), and promises that ballot from then on.
    fn step_accept(&mut self, from: NodeId, ballot: Ballot, value: V) -> AcceptorReady<V> {
        if ballot < self.state.promised {
            return self.nack(from, ballot);
        }
        self.state.promised = ballot;
        self.state.accepted = Some(Proposal { ballot, value: value.clone() });
        self.reply(from, Message::Accepted { ballot, value })
    }

    /// A refusal promises nothing, so it needs nothing persisted.
    fn nack(&self, to: NodeId, ballot: Ballot) -> AcceptorReady<V> {
        let message = Message::Nack { ballot, promised: self.state.promised };
        AcceptorReady { state: None, messages: vec![Envelope { from: self.id, to, message }] }
    }

    fn reply(&self, to: NodeId, message: Message<V>) -> AcceptorReady<V> {
        AcceptorReady { state: Some(self.state.clone()), messages: vec![Envelope { from: self.id, to, message }] }
    }
}

/// Where a proposer is with its current ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Built, no Prepare sent yet.
    Idle,
    /// Prepare sent; collecting Promises.
    Preparing,
    /// Accept sent; collecting Accepted.
    Accepting,
    /// A phase-2 quorum accepted at this ballot.
    Chosen,
    /// An acceptor promised a higher ballot; this one is over until [`Proposer::retry`].
    Refused,
}

/// A proposer: drives one ballot at a time through both phases.
#[derive(Clone, Debug)]
pub struct Proposer<V> {
    id: NodeId,
    quorums: Quorums,
    /// Proposed in phase 2 when no Promise reports an accepted proposal.
    own_value: V,
    /// `ballot.node == id`.
    ballot: Ballot,
    /// The highest ballot heard of (in a Nack); `>= ballot`. A retry goes above it.
    highest_seen: Ballot,
    phase: Phase,
    /// Acceptors that promised `ballot`; `len() < phase1_size` while `Preparing`.
    promised_by: BTreeSet<NodeId>,
    /// The highest-ballot proposal reported by `promised_by`.
    highest_accepted: Option<Proposal<V>>,
    /// The value sent in phase 2 at `ballot`; set from `Accepting` on.
    proposing: Option<V>,
    /// Acceptors that accepted `proposing` at `ballot`.
    accepted_by: BTreeSet<NodeId>,
    /// The value this proposer saw chosen, at this or an earlier ballot. Never changes once set.
    chosen: Option<V>,
}

impl<V: Clone + Eq + fmt::Debug> Proposer<V> {
    /// A proposer of `own_value` that will start at `ballot`, a ballot it never used before.
    pub fn new(id: NodeId, quorums: Quorums, own_value: V, ballot: Ballot) -> Self {
        assert!(ballot.node == id && ballot > Ballot::ZERO, "new: ballot {ballot} is not one of node {id}'s");
        Proposer {
            id,
            quorums,
            own_value,
            ballot,
            highest_seen: ballot,
            phase: Phase::Idle,
            promised_by: BTreeSet::new(),
            highest_accepted: None,
            proposing: None,
            accepted_by: BTreeSet::new(),
            chosen: None,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn ballot(&self) -> Ballot {
        self.ballot
    }

    /// The highest ballot this proposer used or heard of.
    pub fn highest_seen(&self) -> Ballot {
        self.highest_seen
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn chosen(&self) -> Option<&V> {
        self.chosen.as_ref()
    }

    /// Starts phase 1 at the ballot given to [`Proposer::new`].
    pub fn prepare(&mut self) -> Vec<Envelope<V>> {
        assert_eq!(self.phase, Phase::Idle, "prepare: proposer {} already ran ballot {}", self.id, self.ballot);
        self.phase = Phase::Preparing;
        self.quorums.broadcast(self.id, Message::Prepare { ballot: self.ballot })
    }

    /// Abandons the current ballot and starts phase 1 at this node's smallest ballot above
    /// every ballot it heard of.
    pub fn retry(&mut self) -> Vec<Envelope<V>> {
        self.ballot = Ballot::next_after(self.highest_seen, self.id);
        self.highest_seen = self.ballot;
        self.promised_by.clear();
        self.highest_accepted = None;
        self.proposing = None;
        self.accepted_by.clear();
        self.phase = Phase::Idle;
        self.prepare()
    }

    /// Handles a reply from an acceptor. Replies about another ballot, from a node that is not
    /// an acceptor, or that the current phase does not wait for, are ignored.
    pub fn step(&mut self, envelope: Envelope<V>) -> Vec<Envelope<V>> {
        assert_eq!(envelope.to, self.id, "step: message for {} given to proposer {}", envelope.to, self.id);
        if !self.quorums.contains(envelope.from) {
            return Vec::new();
        }
        match envelope.message {
            Message::Promise { ballot, accepted } if ballot == self.ballot => {
                self.step_promise(envelope.from, accepted)
            }
            Message::Accepted { ballot, value } if ballot == self.ballot => self.step_accepted(envelope.from, value),
            Message::Nack { ballot, promised } => {
                self.step_nack(ballot, promised);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn step_promise(&mut self, from: NodeId, accepted: Option<Proposal<V>>) -> Vec<Envelope<V>> {
        if self.phase != Phase::Preparing {
            return Vec::new();
        }
        if let Some(proposal) = accepted {
            assert!(proposal.ballot <= self.ballot, "step_promise: acceptor {from} accepted above the promised ballot");
            if self.highest_accepted.as_ref().is_none_or(|h| proposal.ballot > h.ballot) {
                self.highest_accepted = Some(proposal);
            }
        }
        self.promised_by.insert(from);
        if self.promised_by.len() < self.quorums.phase1_size {
            return Vec::new();
        }
        self.become_accepting()
    }

    /// P2c: with a phase-1 quorum promised, a value accepted at a lower ballot may have been
    /// chosen, and if so it is the one accepted at the highest ballot any of them reports (every
    /// phase-2 quorum meets this phase-1 quorum). Propose that value, or any value if none.
    fn become_accepting(&mut self) -> Vec<Envelope<V>> {
        let value = match &self.highest_accepted {
            Some(proposal) => proposal.value.clone(),
            None => self.own_value.clone(),
        };
        self.phase = Phase::Accepting;
        self.proposing = Some(value.clone());
        self.quorums.broadcast(self.id, Message::Accept { ballot: self.ballot, value })
    }

    fn step_accepted(&mut self, from: NodeId, value: V) -> Vec<Envelope<V>> {
        if self.phase != Phase::Accepting {
            return Vec::new();
        }
        assert_eq!(Some(&value), self.proposing.as_ref(), "step_accepted: acceptor {from} accepted another value");
        self.accepted_by.insert(from);
        if self.accepted_by.len() >= self.quorums.phase2_size {
            self.become_chosen(value);
        }
        Vec::new()
    }

    fn become_chosen(&mut self, value: V) {
        if let Some(earlier) = &self.chosen {
            assert_eq!(earlier, &value, "become_chosen: proposer {} saw two values chosen", self.id);
        }
        self.phase = Phase::Chosen;
        self.chosen = Some(value);
    }

    fn step_nack(&mut self, ballot: Ballot, promised: Ballot) {
        self.highest_seen = self.highest_seen.max(promised);
        let ends_current = ballot == self.ballot && promised > self.ballot;
        if ends_current && matches!(self.phase, Phase::Preparing | Phase::Accepting) {
            self.phase = Phase::Refused;
        }
    }
}

/// A learner: deems a value chosen once a phase-2 quorum of acceptors accepted it at one ballot.
/// It keeps one entry per ballot it hears of, for the one decree it learns.
#[derive(Clone, Debug)]
pub struct Learner<V> {
    quorums: Quorums,
    /// Per ballot: its value (one per ballot) and the acceptors that accepted it.
    accepted_at: BTreeMap<Ballot, (V, BTreeSet<NodeId>)>,
    /// Never changes once set.
    chosen: Option<V>,
}

impl<V: Clone + Eq + fmt::Debug> Learner<V> {
    pub fn new(quorums: Quorums) -> Self {
        Learner { quorums, accepted_at: BTreeMap::new(), chosen: None }
    }

    pub fn chosen(&self) -> Option<&V> {
        self.chosen.as_ref()
    }

    /// Observes a message; only Accepted from an acceptor counts. Returns the chosen value, if
    /// one is known.
    pub fn observe(&mut self, envelope: &Envelope<V>) -> Option<&V> {
        if let Message::Accepted { ballot, value } = &envelope.message {
            if self.quorums.contains(envelope.from) {
                self.count(envelope.from, *ballot, value);
            }
        }
        self.chosen.as_ref()
    }

    fn count(&mut self, from: NodeId, ballot: Ballot, value: &V) {
        let (ballot_value, acceptors) =
            self.accepted_at.entry(ballot).or_insert_with(|| (value.clone(), BTreeSet::new()));
        assert_eq!(ballot_value, value, "observe: two values accepted at ballot {ballot}");
        acceptors.insert(from);
        if acceptors.len() < self.quorums.phase2_size {
            return;
        }
        if let Some(earlier) = &self.chosen {
            assert_eq!(earlier, value, "observe: two values chosen");
        }
        self.chosen = Some(value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROPOSER: NodeId = 9;

    fn prepare(ballot: Ballot) -> Envelope<&'static str> {
        Envelope { from: PROPOSER, to: 1, message: Message::Prepare { ballot } }
    }

    fn accept(ballot: Ballot, value: &'static str) -> Envelope<&'static str> {
        Envelope { from: PROPOSER, to: 1, message: Message::Accept { ballot, value } }
    }

    fn only_message(ready: &AcceptorReady<&'static str>) -> Message<&'static str> {
        assert_eq!(ready.messages.len(), 1);
        assert_eq!(ready.messages[0].to, PROPOSER);
        ready.messages[0].message.clone()
    }

    #[test]
    fn an_acceptor_promises_only_above_its_promise_and_a_nack_carries_the_promise() {
        let mut acceptor = Acceptor::new(1);
        let ready = acceptor.step(prepare(Ballot::new(2, 9)));
        assert_eq!(only_message(&ready), Message::Promise { ballot: Ballot::new(2, 9), accepted: None });
        assert_eq!(ready.state, Some(AcceptorState { promised: Ballot::new(2, 9), accepted: None }));

        let ready = acceptor.step(prepare(Ballot::new(2, 3)));
        assert_eq!(only_message(&ready), Message::Nack { ballot: Ballot::new(2, 3), promised: Ballot::new(2, 9) });
        assert_eq!(ready.state, None, "a refusal changes nothing durable");
        assert_eq!(acceptor.state().promised, Ballot::new(2, 9));

        let ready = acceptor.step(prepare(Ballot::new(3, 1)));
        assert_eq!(only_message(&ready), Message::Promise { ballot: Ballot::new(3, 1), accepted: None });
    }

    #[test]
    fn a_repeated_prepare_gets_the_same_promise_with_its_state() {
        let mut acceptor = Acceptor::new(1);
        let first = acceptor.step(prepare(Ballot::new(1, 9)));
        let again = acceptor.step(prepare(Ballot::new(1, 9)));
        assert_eq!(first, again);
    }

    #[test]
    fn an_acceptor_accepts_at_or_above_its_promise_only() {
        let mut acceptor = Acceptor::new(1);
        acceptor.step(prepare(Ballot::new(5, 9)));

        let ready = acceptor.step(accept(Ballot::new(4, 9), "low"));
        assert_eq!(only_message(&ready), Message::Nack { ballot: Ballot::new(4, 9), promised: Ballot::new(5, 9) });
        assert_eq!(acceptor.state().accepted, None);

        let ready = acceptor.step(accept(Ballot::new(5, 9), "equal"));
        assert_eq!(only_message(&ready), Message::Accepted { ballot: Ballot::new(5, 9), value: "equal" });
        let stored = AcceptorState {
            promised: Ballot::new(5, 9),
            accepted: Some(Proposal { ballot: Ballot::new(5, 9), value: "equal" }),
        };
        assert_eq!(ready.state, Some(stored));

        // Above the promise with no Prepare first: accepted, and promised from then on.
        let ready = acceptor.step(accept(Ballot::new(7, 2), "higher"));
        assert_eq!(only_message(&ready), Message::Accepted { ballot: Ballot::new(7, 2), value: "higher" });
        assert_eq!(acceptor.state().promised, Ballot::new(7, 2));
        let ready = acceptor.step(prepare(Ballot::new(6, 9)));
        assert_eq!(only_message(&ready), Message::Nack { ballot: Ballot::new(6, 9), promised: Ballot::new(7, 2) });
    }

    #[test]
    fn a_promise_reports_the_last_accepted_proposal() {
        let mut acceptor = Acceptor::new(1);
        acceptor.step(accept(Ballot::new(1, 9), "v"));
        let ready = acceptor.step(prepare(Ballot::new(2, 9)));
        let accepted = Some(Proposal { ballot: Ballot::new(1, 9), value: "v" });
        assert_eq!(only_message(&ready), Message::Promise { ballot: Ballot::new(2, 9), accepted });
    }

    #[test]
    fn a_restored_acceptor_keeps_its_promise() {
        let mut acceptor = Acceptor::new(1);
        let persisted = acceptor.step(prepare(Ballot::new(3, 9))).state.expect("a promise is persisted");
        let mut restarted = Acceptor::restore(1, persisted);
        let ready = restarted.step(prepare(Ballot::new(2, 9)));
        assert_eq!(only_message(&ready), Message::Nack { ballot: Ballot::new(2, 9), promised: Ballot::new(3, 9) });
    }

    #[test]
    fn quorums_must_intersect() {
        assert!(Quorums::new(vec![1, 2, 3, 4, 5], 4, 2).is_ok());
        assert_eq!(
            Quorums::new(vec![1, 2, 3, 4, 5], 3, 2),
            Err(QuorumError::NoIntersection { phase1_size: 3, phase2_size: 2, acceptor_count: 5 })
        );
        assert_eq!(
            Quorums::new(vec![1, 2, 3], 0, 3),
            Err(QuorumError::SizeOutOfRange { phase: 1, size: 0, acceptor_count: 3 })
        );
        assert_eq!(
            Quorums::new(vec![1, 2, 3], 3, 4),
            Err(QuorumError::SizeOutOfRange { phase: 2, size: 4, acceptor_count: 3 })
        );
        assert_eq!(Quorums::new(vec![1, 2, 1], 2, 2), Err(QuorumError::DuplicateAcceptor { node: 1 }));
        assert_eq!(Quorums::new(vec![], 1, 1), Err(QuorumError::NoAcceptors));
        assert_eq!(Quorums::majority(vec![1, 2, 3, 4]).map(|q| (q.phase1_size(), q.phase2_size())), Ok((3, 3)));
    }

    fn promise(from: NodeId, ballot: Ballot, accepted: Option<Proposal<&'static str>>) -> Envelope<&'static str> {
        Envelope { from, to: PROPOSER, message: Message::Promise { ballot, accepted } }
    }

    #[test]
    fn a_proposer_adopts_the_highest_accepted_value_p2c() {
        let quorums = Quorums::majority(vec![1, 2, 3]).expect("valid");
        let ballot = Ballot::new(5, PROPOSER);
        let mut proposer = Proposer::new(PROPOSER, quorums, "own", ballot);
        assert_eq!(proposer.prepare().len(), 3);
        let low = Proposal { ballot: Ballot::new(1, 4), value: "low" };
        let high = Proposal { ballot: Ballot::new(3, 2), value: "high" };
        assert!(proposer.step(promise(2, ballot, Some(high))).is_empty());
        let accepts = proposer.step(promise(1, ballot, Some(low)));
        assert_eq!(accepts.len(), 3);
        assert!(accepts.iter().all(|e| e.message == Message::Accept { ballot, value: "high" }));
        assert_eq!(proposer.phase(), Phase::Accepting);
    }

    #[test]
    fn a_proposer_learns_the_value_chosen_by_a_phase2_quorum() {
        let quorums = Quorums::new(vec![1, 2, 3, 4, 5], 4, 2).expect("valid");
        let ballot = Ballot::new(1, PROPOSER);
        let mut proposer = Proposer::new(PROPOSER, quorums, "own", ballot);
        proposer.prepare();
        for from in 1..=3 {
            assert!(proposer.step(promise(from, ballot, None)).is_empty(), "three promises are not a phase-1 quorum");
        }
        assert_eq!(proposer.step(promise(4, ballot, None)).len(), 5);
        let accepted = |from| Envelope { from, to: PROPOSER, message: Message::Accepted { ballot, value: "own" } };
        proposer.step(accepted(2));
        proposer.step(accepted(2));
        assert_eq!(proposer.chosen(), None, "one acceptor twice is not a quorum");
        proposer.step(accepted(5));
        assert_eq!(proposer.chosen(), Some(&"own"));
        assert_eq!(proposer.phase(), Phase::Chosen);
    }

    #[test]
    fn a_nack_for_the_current_ballot_refuses_it_and_a_retry_goes_above() {
        let quorums = Quorums::majority(vec![1, 2, 3]).expect("valid");
        let ballot = Ballot::new(1, PROPOSER);
        let mut proposer = Proposer::new(PROPOSER, quorums, "own", ballot);
        proposer.prepare();
        let promised = Ballot::new(4, 2);
        proposer.step(Envelope { from: 3, to: PROPOSER, message: Message::Nack { ballot, promised } });
        assert_eq!(proposer.phase(), Phase::Refused);
        let prepares = proposer.retry();
        assert_eq!(proposer.ballot(), Ballot::new(4, PROPOSER));
        assert!(prepares.iter().all(|e| e.message == Message::Prepare { ballot: Ballot::new(4, PROPOSER) }));
    }
}
