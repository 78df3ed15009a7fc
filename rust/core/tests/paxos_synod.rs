//! Property tests of the synod (single-decree Paxos): under random schedules of several
//! proposers with different values, message loss, duplication and reordering, proposer restarts
//! at higher ballots, and acceptor crashes that restart from the persisted state only, at most
//! one value is ever chosen, and only a proposed one; once faults stop, a single proposer with
//! a fresh ballot gets a value chosen. Majority and flexible quorums both run.
//!
//! An acceptor's replies go through the duties of an `AcceptorReady` as separate steps of the
//! schedule: persist (the state becomes its disk), then send. A crash clears both queues, so a
//! crash can fall between persisting and sending, and a reply never persisted is never sent.

use proptest::prelude::*;
use proptest::sample::Index;
use senate_core::paxos::synod::{Acceptor, AcceptorReady, AcceptorState, Envelope, Learner, Phase, Proposer, Quorums};
use senate_core::paxos::Ballot;
use senate_core::NodeId;
use std::collections::{BTreeSet, VecDeque};

type Value = u64;

/// Proposer node ids are `PROPOSER_ID_BASE + index`; acceptor ids are `1 + index`.
const PROPOSER_ID_BASE: NodeId = 100;
/// A duplicate is not made while this many messages are in flight, so the network stays bounded.
const MAX_IN_FLIGHT_MESSAGES: usize = 256;
/// Delivery rounds allowed for a fault-free run to go quiet; each round delivers every message.
const MAX_QUIESCE_ROUNDS: usize = 64;

#[derive(Clone, Debug)]
enum Op {
    /// Deliver the in-flight message at this position (any one of them: reordering).
    Deliver(Index),
    Duplicate(Index),
    Drop(Index),
    /// Acceptor: make the oldest not-yet-persisted reply's state durable.
    Persist(usize),
    /// Acceptor: send the oldest persisted, unsent replies.
    Send(usize),
    /// Acceptor: persist and send everything pending.
    Flush(usize),
    /// Acceptor: crash, then restart from its disk.
    Crash(usize),
    /// Proposer: start its first ballot, or abandon the current one for a higher one.
    Retry(usize),
    /// Proposer: crash, then restart with no memory, a new value and a ballot it never used.
    Restart(usize),
    /// A fault-free moment: every acceptor persists and sends all it has pending, then every
    /// message in flight is delivered, starting at this position (so a proposer may get
    /// through a phase before the next retry pre-empts it).
    Settle(Index),
}

fn op(acceptor_count: usize, proposer_count: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        16 => any::<Index>().prop_map(Op::Deliver),
        1 => any::<Index>().prop_map(Op::Duplicate),
        1 => any::<Index>().prop_map(Op::Drop),
        3 => (0..acceptor_count).prop_map(Op::Persist),
        3 => (0..acceptor_count).prop_map(Op::Send),
        6 => (0..acceptor_count).prop_map(Op::Flush),
        1 => (0..acceptor_count).prop_map(Op::Crash),
        2 => (0..proposer_count).prop_map(Op::Retry),
        1 => (0..proposer_count).prop_map(Op::Restart),
        2 => any::<Index>().prop_map(Op::Settle),
    ]
}

struct AcceptorNode {
    acceptor: Acceptor<Value>,
    /// What survives a crash: the state of the last persisted `AcceptorReady`.
    disk: AcceptorState<Value>,
    /// Readies in step order, not yet persisted.
    unpersisted: VecDeque<AcceptorReady<Value>>,
    /// Replies whose state is durable, not yet sent.
    unsent: VecDeque<Vec<Envelope<Value>>>,
}

struct ProposerNode {
    proposer: Proposer<Value>,
    /// Crashes so far; part of the value so every incarnation proposes its own.
    incarnation: u64,
}

struct Sim {
    quorums: Quorums,
    acceptors: Vec<AcceptorNode>,
    proposers: Vec<ProposerNode>,
    network: Vec<Envelope<Value>>,
    /// Taps every Accepted an acceptor sends.
    learner: Learner<Value>,
    /// Every value any proposer incarnation was built with.
    proposed: BTreeSet<Value>,
    /// Every value any proposer or the learner deemed chosen; the property is `len() <= 1`.
    chosen: BTreeSet<Value>,
}

fn acceptor_id(index: usize) -> NodeId {
    index as NodeId + 1
}

fn proposer_id(index: usize) -> NodeId {
    PROPOSER_ID_BASE + index as NodeId
}

fn value_of(id: NodeId, incarnation: u64) -> Value {
    id * 1000 + incarnation
}

impl Sim {
    fn new(quorums: Quorums, proposer_count: usize) -> Sim {
        let acceptors = (0..quorums.acceptors().len())
            .map(|i| AcceptorNode {
                acceptor: Acceptor::new(acceptor_id(i)),
                disk: AcceptorState::default(),
                unpersisted: VecDeque::new(),
                unsent: VecDeque::new(),
            })
            .collect();
        let mut proposed = BTreeSet::new();
        let proposers = (0..proposer_count)
            .map(|i| {
                let id = proposer_id(i);
                proposed.insert(value_of(id, 0));
                let proposer = Proposer::new(id, quorums.clone(), value_of(id, 0), Ballot::new(1, id));
                ProposerNode { proposer, incarnation: 0 }
            })
            .collect();
        let learner = Learner::new(quorums.clone());
        Sim { quorums, acceptors, proposers, network: Vec::new(), learner, proposed, chosen: BTreeSet::new() }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Deliver(i) if !self.network.is_empty() => {
                let envelope = self.network.swap_remove(i.index(self.network.len()));
                self.deliver(envelope);
            }
            Op::Duplicate(i) if !self.network.is_empty() && self.network.len() < MAX_IN_FLIGHT_MESSAGES => {
                let copy = self.network[i.index(self.network.len())].clone();
                self.network.push(copy);
            }
            Op::Drop(i) if !self.network.is_empty() => {
                self.network.swap_remove(i.index(self.network.len()));
            }
            Op::Persist(a) => self.persist_oldest(*a),
            Op::Send(a) => self.send_oldest(*a),
            Op::Flush(a) => self.flush(*a),
            Op::Crash(a) => self.crash_acceptor(*a),
            Op::Retry(p) => self.retry(*p),
            Op::Restart(p) => self.restart_proposer(*p),
            Op::Settle(i) => self.settle(i.index(self.network.len() + 1)),
            Op::Deliver(_) | Op::Duplicate(_) | Op::Drop(_) => {}
        }
        self.check_safety();
    }

    fn deliver(&mut self, envelope: Envelope<Value>) {
        let to = envelope.to;
        if to >= PROPOSER_ID_BASE {
            let node = &mut self.proposers[(to - PROPOSER_ID_BASE) as usize];
            let sent = node.proposer.step(envelope);
            self.network.extend(sent);
        } else {
            let node = &mut self.acceptors[(to - 1) as usize];
            let ready = node.acceptor.step(envelope);
            if !ready.is_empty() {
                node.unpersisted.push_back(ready);
            }
        }
    }

    fn persist_oldest(&mut self, a: usize) {
        let node = &mut self.acceptors[a];
        if let Some(ready) = node.unpersisted.pop_front() {
            if let Some(state) = ready.state {
                node.disk = state;
            }
            node.unsent.push_back(ready.messages);
        }
    }

    fn send_oldest(&mut self, a: usize) {
        if let Some(messages) = self.acceptors[a].unsent.pop_front() {
            for envelope in messages {
                self.learner.observe(&envelope);
                self.network.push(envelope);
            }
        }
    }

    fn flush(&mut self, a: usize) {
        while !self.acceptors[a].unpersisted.is_empty() {
            self.persist_oldest(a);
        }
        while !self.acceptors[a].unsent.is_empty() {
            self.send_oldest(a);
        }
    }

    fn crash_acceptor(&mut self, a: usize) {
        let node = &mut self.acceptors[a];
        node.acceptor = Acceptor::restore(acceptor_id(a), node.disk.clone());
        node.unpersisted.clear();
        node.unsent.clear();
    }

    fn retry(&mut self, p: usize) {
        let proposer = &mut self.proposers[p].proposer;
        let sent = if proposer.phase() == Phase::Idle { proposer.prepare() } else { proposer.retry() };
        self.network.extend(sent);
    }

    /// The new incarnation knows only the highest ballot it used (as if it persisted its last
    /// round), and starts above it at once.
    fn restart_proposer(&mut self, p: usize) {
        let node = &mut self.proposers[p];
        let id = node.proposer.id();
        let ballot = Ballot::next_after(node.proposer.ballot(), id);
        node.incarnation += 1;
        let value = value_of(id, node.incarnation);
        self.proposed.insert(value);
        node.proposer = Proposer::new(id, self.quorums.clone(), value, ballot);
        let sent = node.proposer.prepare();
        self.network.extend(sent);
    }

    fn check_safety(&mut self) {
        let seen = self.proposers.iter().filter_map(|n| n.proposer.chosen()).chain(self.learner.chosen());
        self.chosen.extend(seen.copied());
        assert!(self.chosen.len() <= 1, "two values chosen: {:?}", self.chosen);
        assert!(self.chosen.is_subset(&self.proposed), "a value never proposed was chosen: {:?}", self.chosen);
    }

    /// One fault-free round; the messages it makes stay in flight.
    fn settle(&mut self, start: usize) {
        for a in 0..self.acceptors.len() {
            self.flush(a);
        }
        let mut in_flight = std::mem::take(&mut self.network);
        let start = start.min(in_flight.len());
        in_flight.rotate_left(start);
        for envelope in in_flight {
            self.deliver(envelope);
        }
    }

    fn quiet(&self) -> bool {
        self.network.is_empty() && self.acceptors.iter().all(|n| n.unpersisted.is_empty() && n.unsent.is_empty())
    }

    /// No more faults: every acceptor persists and sends everything, and every message in flight
    /// is delivered, oldest first, until nothing moves.
    fn run_until_quiet(&mut self) {
        for _ in 0..MAX_QUIESCE_ROUNDS {
            self.settle(0);
            self.check_safety();
            if self.quiet() {
                return;
            }
        }
        panic!("the network did not go quiet in {MAX_QUIESCE_ROUNDS} fault-free rounds");
    }

    /// Liveness: with the faults over, proposer 0 restarts with a fresh ballot, and alone it
    /// gets a value chosen in at most two ballots (a refused first ballot learns, from the
    /// Nacks, a ballot above every promise).
    fn check_liveness(&mut self) {
        self.run_until_quiet();
        self.restart_proposer(0);
        self.run_until_quiet();
        if self.proposers[0].proposer.phase() == Phase::Refused {
            self.retry(0);
            self.run_until_quiet();
        }
        let proposer = &self.proposers[0].proposer;
        assert_eq!(proposer.phase(), Phase::Chosen, "a lone proposer at ballot {} chose nothing", proposer.ballot());
        assert!(self.learner.chosen().is_some(), "the learner saw no value chosen");
        assert_eq!(self.chosen.len(), 1);
    }
}

fn run(quorums: Quorums, proposer_count: usize, ops: &[Op]) {
    let mut sim = Sim::new(quorums, proposer_count);
    for op in ops {
        sim.apply(op);
    }
    sim.check_liveness();
}

/// `(acceptor_count, phase1_size, phase2_size)`.
fn majority_quorums() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![Just((1, 1, 1)), Just((3, 2, 2)), Just((4, 3, 3)), Just((5, 3, 3))]
}

fn flexible_quorums() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![Just((5, 4, 2)), Just((5, 2, 4)), Just((3, 3, 1)), Just((3, 1, 3)), Just((4, 3, 2)), Just((6, 5, 2))]
}

fn case(
    (acceptor_count, phase1_size, phase2_size): (usize, usize, usize),
) -> impl Strategy<Value = (Quorums, usize, Vec<Op>)> {
    let quorums = Quorums::new((1..=acceptor_count as NodeId).collect(), phase1_size, phase2_size)
        .expect("every listed configuration intersects");
    (2..=3usize).prop_flat_map(move |proposer_count| {
        let ops = proptest::collection::vec(op(acceptor_count, proposer_count), 1..300);
        (Just(quorums.clone()), Just(proposer_count), ops)
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(1024)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn one_value_is_chosen_with_majority_quorums((quorums, proposer_count, ops) in majority_quorums().prop_flat_map(case)) {
        run(quorums, proposer_count, &ops);
    }

    #[test]
    fn one_value_is_chosen_with_flexible_quorums((quorums, proposer_count, ops) in flexible_quorums().prop_flat_map(case)) {
        run(quorums, proposer_count, &ops);
    }
}

#[test]
fn quorums_that_need_not_intersect_are_refused() {
    assert!(Quorums::new(vec![1, 2, 3, 4, 5], 3, 2).is_err());
    assert!(Quorums::new(vec![1, 2, 3, 4, 5], 4, 2).is_ok());
}
