//! Property tests of Multi-Paxos under asynchronous writes (persistence by the caller, several
//! Readies in flight, writes that complete later or are lost in a crash), message loss,
//! duplication and reordering, partitions, compaction, and crashes that restart a node from
//! its persisted `MemStorage` alone.
//!
//! Safety, checked after every step: at most one value is ever applied per slot across all
//! nodes, and every node's applied sequence is a prefix of every other's; a node's durable
//! promise never decreases (across crashes too); no durable accepted slot is above the
//! durable promise. Liveness, once the network heals: every node applies the same sequence,
//! which ends with a command proposed after healing.

use bytes::Bytes;
use proptest::prelude::*;
use senate_core::driver::NodeRole;
use senate_core::paxos::{PaxosConfig, PaxosNode};
use senate_core::{EncodedReady, EntryKind, NodeId, PersistMode, Storage};
use std::collections::{BTreeMap, VecDeque};

mod paxos_common;
use paxos_common::{decode_app, encode_app, App};

/// Readies handed out and not yet advanced per node, at most (pipelined writes).
const MAX_PENDING: usize = 4;

struct Node {
    node: PaxosNode,
    /// Readies taken whose writes are not complete, oldest first.
    pending: VecDeque<EncodedReady>,
    /// Readies whose writes completed (their messages left) and that are not yet advanced:
    /// as in the driver, input may be stepped in between.
    advance_due: usize,
    app: App,
    applied_index: u64,
    /// The highest durable promise seen (stored form): it must never go down.
    durable_promise: u64,
}

struct Cluster {
    nodes: Vec<Node>,
    /// (from, to, frames) in flight, in any order.
    queue: Vec<(NodeId, NodeId, Bytes)>,
    isolated: Option<NodeId>,
    /// Every (slot, payload) any node ever applied.
    chosen: BTreeMap<u64, Vec<u8>>,
    next_read: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Tick(usize),
    Propose(usize, u8),
    Read(usize),
    StartWrite(usize),
    TakeWithoutWrite(usize),
    FinishWrite(usize),
    /// Advance past every Ready whose write completed.
    Advance(usize),
    /// Start and finish at once (a fast disk).
    Flush(usize),
    /// Deliver the message at this position (modulo the queue length).
    Deliver(u16),
    DeliverAll,
    Duplicate(u16),
    Drop(u16),
    Crash(usize),
    Isolate(usize),
    Heal,
    Compact(usize),
    /// Campaign now, connected or not (duelling candidates).
    Campaign(usize),
    /// One synchronous round: every node ticks and flushes, everything queued is delivered,
    /// every node flushes again (progress between the faults).
    Round,
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..n).prop_map(Op::Tick),
        4 => (0..n, any::<u8>()).prop_map(|(i, b)| Op::Propose(i, b)),
        1 => (0..n).prop_map(Op::Read),
        2 => (0..n).prop_map(Op::StartWrite),
        1 => (0..n).prop_map(Op::TakeWithoutWrite),
        2 => (0..n).prop_map(Op::FinishWrite),
        1 => (0..n).prop_map(Op::Advance),
        6 => (0..n).prop_map(Op::Flush),
        6 => any::<u16>().prop_map(Op::Deliver),
        3 => Just(Op::DeliverAll),
        1 => any::<u16>().prop_map(Op::Duplicate),
        1 => any::<u16>().prop_map(Op::Drop),
        1 => (0..n).prop_map(Op::Crash),
        1 => (0..n).prop_map(Op::Isolate),
        1 => Just(Op::Heal),
        1 => (0..n).prop_map(Op::Compact),
        1 => (0..n).prop_map(Op::Campaign),
        4 => Just(Op::Round),
    ]
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        let voters: Vec<NodeId> = (1..=n as u64).collect();
        let nodes = voters
            .iter()
            .map(|&id| {
                let mut cfg = PaxosConfig::new(id, voters.clone());
                cfg.election_timeout_ticks = 4;
                cfg.max_entries_per_msg = 3;
                cfg.max_inflight_msgs = 4;
                let storage = senate_core::MemStorage::new(voters.clone());
                let node = PaxosNode::with_mode(&cfg, storage, PersistMode::ByCaller).expect("valid config");
                Node {
                    node,
                    pending: VecDeque::new(),
                    advance_due: 0,
                    app: Vec::new(),
                    applied_index: 0,
                    durable_promise: 0,
                }
            })
            .collect();
        Cluster { nodes, queue: Vec::new(), isolated: None, chosen: BTreeMap::new(), next_read: 1 }
    }

    fn send(&mut self, from: NodeId, frames: Vec<(NodeId, Vec<u8>)>) {
        self.queue.extend(frames.into_iter().map(|(to, f)| (from, to, Bytes::from(f))));
    }

    fn apply(&mut self, i: usize, entries: Vec<senate_core::Entry>) {
        let node = &mut self.nodes[i];
        let stored = node.node.storage().last_index();
        for e in entries {
            assert_eq!(e.index, node.applied_index + 1, "node {} applies slots in order", i + 1);
            assert!(e.index <= stored, "slot {} handed out to apply before it is durable", e.index);
            node.applied_index = e.index;
            if e.kind == EntryKind::Normal {
                let data = e.data.to_vec();
                let earlier = self.chosen.entry(e.index).or_insert_with(|| data.clone());
                assert_eq!(*earlier, data, "two values applied at slot {}", e.index);
                node.app.push((e.index, data));
            } else {
                assert!(!self.chosen.contains_key(&e.index), "a no-op and a value applied at slot {}", e.index);
            }
        }
    }

    /// Takes a Ready: what may leave at once leaves, committed entries (durable already) are
    /// applied; the rest waits for the write. Like the driver, it first advances past the
    /// writes that completed.
    fn start_write(&mut self, i: usize) {
        self.advance(i);
        if self.nodes[i].pending.len() >= MAX_PENDING {
            return;
        }
        let Some(mut rd) = self.nodes[i].node.ready() else { return };
        let id = i as u64 + 1;
        self.send(id, std::mem::take(&mut rd.messages));
        self.apply(i, std::mem::take(&mut rd.committed_entries));
        self.nodes[i].pending.push_back(rd);
    }

    fn take_without_write(&mut self, i: usize) {
        self.advance(i);
        if self.nodes[i].pending.len() >= MAX_PENDING {
            return;
        }
        let Some(mut rd) = self.nodes[i].node.ready_without_write() else { return };
        assert!(rd.persist.as_ref().is_none_or(|b| !b.must_sync), "a Ready without write asks for a write");
        assert!(rd.persisted_messages.is_empty() && rd.snapshot.is_none());
        self.send(i as u64 + 1, std::mem::take(&mut rd.messages));
        self.apply(i, std::mem::take(&mut rd.committed_entries));
        self.nodes[i].pending.push_back(rd);
    }

    /// The oldest write completes: the messages that waited for it leave, its snapshot is
    /// restored; the node is advanced past it later (`advance`).
    fn finish_write(&mut self, i: usize) {
        let Some(rd) = self.nodes[i].pending.pop_front() else { return };
        let node = &mut self.nodes[i];
        if let Some(snapshot) = &rd.snapshot {
            assert!(snapshot.meta.index > node.applied_index, "a snapshot behind the application");
            node.app = decode_app(&snapshot.data);
            node.applied_index = snapshot.meta.index;
        }
        node.advance_due += 1;
        self.send(i as u64 + 1, rd.persisted_messages);
    }

    fn advance(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        for _ in 0..std::mem::take(&mut node.advance_due) {
            node.node.advance();
        }
    }

    /// Crashes node `i`: writes in flight are lost; writes that completed are on disk (the
    /// storage gets them through `advance`, as a WAL reopen would find them).
    fn crash(&mut self, i: usize) {
        self.advance(i);
        let node = &mut self.nodes[i];
        node.pending.clear();
        let snapshot = node.node.storage().snapshot();
        node.app = decode_app(&snapshot.data);
        node.applied_index = snapshot.meta.index;
        node.node.crash_restart(snapshot.meta.index).expect("restart");
    }

    fn deliver_at(&mut self, pos: usize) {
        if self.queue.is_empty() {
            return;
        }
        let (from, to, frames) = self.queue.remove(pos % self.queue.len());
        if self.isolated.is_some_and(|id| id == from || id == to) {
            return;
        }
        let node = &mut self.nodes[to as usize - 1].node;
        node.step_frames(&frames).expect("a correct peer's frames step");
    }

    fn run(&mut self, o: &Op, step: usize) {
        match *o {
            Op::Tick(i) => self.nodes[i].node.tick(),
            Op::Propose(i, b) => {
                let _ = self.nodes[i].node.propose(Bytes::from(vec![b, step as u8, (step >> 8) as u8]));
            }
            Op::Read(i) => {
                let _ = self.nodes[i].node.read_index(self.next_read);
                self.next_read += 1;
            }
            Op::StartWrite(i) => self.start_write(i),
            Op::TakeWithoutWrite(i) => self.take_without_write(i),
            Op::FinishWrite(i) => self.finish_write(i),
            Op::Advance(i) => self.advance(i),
            Op::Flush(i) => {
                self.start_write(i);
                while !self.nodes[i].pending.is_empty() {
                    self.finish_write(i);
                }
                self.advance(i);
            }
            Op::Deliver(pos) => self.deliver_at(pos as usize),
            Op::DeliverAll => {
                for _ in 0..self.queue.len() {
                    self.deliver_at(0);
                }
            }
            Op::Duplicate(pos) if !self.queue.is_empty() => {
                let copy = self.queue[pos as usize % self.queue.len()].clone();
                self.queue.push(copy);
            }
            Op::Drop(pos) if !self.queue.is_empty() => {
                let len = self.queue.len();
                self.queue.remove(pos as usize % len);
            }
            Op::Duplicate(_) | Op::Drop(_) => {}
            Op::Crash(i) => self.crash(i),
            Op::Isolate(i) => self.isolated = Some(i as u64 + 1),
            Op::Heal => self.isolated = None,
            Op::Compact(i) => {
                let node = &mut self.nodes[i];
                let _ = node.node.compact(node.applied_index, encode_app(&node.app));
            }
            Op::Campaign(i) => self.nodes[i].node.campaign(),
            Op::Round => self.round(true),
        }
    }

    fn check(&mut self) {
        let longest = self.nodes.iter().map(|n| &n.app).max_by_key(|a| a.len()).expect("nodes").clone();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            assert_eq!(&longest[..node.app.len()], &node.app[..], "node {} applied a different sequence", i + 1);
            let storage = node.node.storage();
            let promise = storage.hard_state().term;
            assert!(promise >= node.durable_promise, "node {}: durable promise went down", i + 1);
            node.durable_promise = promise;
            let last = storage.last_index();
            if last >= storage.first_index() {
                let entries = storage.entries(storage.first_index(), last + 1, usize::MAX).expect("held");
                let above = entries.iter().find(|e| e.term > promise);
                assert!(above.is_none(), "node {}: slot accepted above the durable promise: {above:?}", i + 1);
            }
            assert!(node.node.promised().to_u64() >= promise, "node {}: in-memory promise below durable", i + 1);
        }
    }

    fn round(&mut self, tick: bool) {
        for i in 0..self.nodes.len() {
            if tick {
                self.nodes[i].node.tick();
            }
            self.run(&Op::Flush(i), 0);
        }
        self.run(&Op::DeliverAll, 0);
        for i in 0..self.nodes.len() {
            self.run(&Op::Flush(i), 0);
        }
    }

    /// Heals everything and runs until every node applied the same sequence, holding a command
    /// proposed after healing.
    fn heal_and_converge(&mut self) {
        self.isolated = None;
        let n = self.nodes.len();
        let marker = b"after-heal".to_vec();
        let mut proposed = false;
        for round in 0..600 {
            self.round(round % 2 == 0);
            self.check();
            let marker_applied = self.nodes.iter().any(|node| node.app.iter().any(|(_, d)| *d == marker));
            // A client retries a proposal that a leader change lost (never chosen), until it is
            // applied somewhere.
            if round % 20 == 0 && !marker_applied {
                proposed = false;
            }
            let leader = (0..n).find(|&i| self.nodes[i].node.role() == NodeRole::Leader);
            if let (Some(l), false) = (leader, proposed) {
                proposed = self.nodes[l].node.propose(Bytes::from(marker.clone())).is_ok();
            }
            let first = &self.nodes[0].app;
            // The marker may land before commands a new leader adopted: it need not be last.
            let converged = first.iter().any(|(_, d)| *d == marker) && self.nodes.iter().all(|node| node.app == *first);
            if converged {
                return;
            }
        }
        let summary: Vec<_> = self.nodes.iter().map(|n| (n.node.status(), n.app.len())).collect();
        panic!("no convergence after healing: {summary:#?}");
    }
}

fn run_schedule(n: usize, ops: &[Op]) {
    let mut cluster = Cluster::new(n);
    for (step, o) in ops.iter().enumerate() {
        cluster.run(o, step);
        cluster.check();
    }
    let before = cluster.chosen.len();
    cluster.heal_and_converge();
    if std::env::var("PAXOS_PROPS_STATS").is_ok() {
        let promises: Vec<_> = cluster.nodes.iter().map(|n| n.node.promised()).collect();
        eprintln!("ops {} chosen before heal {before} after {} promises {promises:?}", ops.len(), cluster.chosen.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn three_nodes_agree_under_faults(ops in proptest::collection::vec(op(3), 1..300)) {
        run_schedule(3, &ops);
    }

    #[test]
    fn five_nodes_agree_under_faults(ops in proptest::collection::vec(op(5), 1..300)) {
        run_schedule(5, &ops);
    }
}
