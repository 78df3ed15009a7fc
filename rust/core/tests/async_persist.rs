//! The persistence contract under asynchronous writes, as the node runtime will use it: a
//! `Ready` is taken, its `messages` leave at once, and its persistence completes later while
//! the node keeps stepping messages, ticking and taking proposals. Only then do
//! `persisted_messages` leave, committed entries get applied and `advance` is called. A crash
//! before completion loses the write (and the messages that waited for it).
//!
//! Property: under random interleavings, message loss and such crashes, no two nodes apply
//! different entries, and after healing every node applies the same sequence.
//!
//! The pipelined variant is what the node runtime does: several Readies in flight, written
//! and advanced in order, committed entries applied as soon as a Ready hands them out
//! (`apply_durable_only`: they are durable already).

use bytes::Bytes;
use proptest::prelude::*;
use senate_core::{Config, Entry, EntryKind, MemStorage, Message, NodeId, RawNode, Ready, Role, Storage};
use std::collections::VecDeque;

struct Node {
    raw: RawNode<MemStorage>,
    /// Readies whose writes are in progress, oldest first.
    pending: VecDeque<Ready>,
    applied: Vec<Vec<u8>>,
}

struct Cluster {
    nodes: Vec<Node>,
    queue: VecDeque<Message>,
    isolated: Option<NodeId>,
    /// Readies in flight per node, at most (1: one write at a time).
    max_in_flight: usize,
}

#[derive(Clone, Debug)]
enum Op {
    Tick(usize),
    Propose(usize, u8),
    StartWrite(usize),
    /// Pipelined only: takes a Ready that writes nothing (`ready_without_write`), as the
    /// runtime does while writes are in flight.
    TakeWithoutWrite(usize),
    FinishWrite(usize),
    /// Start and finish at once (a fast disk).
    Flush(usize),
    Deliver(u8),
    Drop,
    Crash(usize),
    Isolate(usize),
    Heal,
    Compact(usize),
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..n).prop_map(Op::Tick),
        3 => (0..n, any::<u8>()).prop_map(|(i, b)| Op::Propose(i, b)),
        2 => (0..n).prop_map(Op::StartWrite),
        2 => (0..n).prop_map(Op::TakeWithoutWrite),
        2 => (0..n).prop_map(Op::FinishWrite),
        8 => (0..n).prop_map(Op::Flush),
        8 => prop_oneof![(1..8u8), Just(u8::MAX)].prop_map(Op::Deliver),
        1 => Just(Op::Drop),
        1 => (0..n).prop_map(Op::Crash),
        1 => (0..n).prop_map(Op::Isolate),
        1 => Just(Op::Heal),
        1 => (0..n).prop_map(Op::Compact),
    ]
}

impl Cluster {
    fn new(n: usize, max_in_flight: usize) -> Cluster {
        let voters: Vec<NodeId> = (1..=n as u64).collect();
        let nodes = voters
            .iter()
            .map(|&id| {
                let mut cfg = Config::new(id, voters.clone());
                cfg.election_timeout_ticks = 3;
                let mut raw = RawNode::new(&cfg, MemStorage::new(voters.clone())).expect("valid config");
                if max_in_flight > 1 {
                    raw.apply_durable_only();
                }
                Node { raw, pending: VecDeque::new(), applied: Vec::new() }
            })
            .collect();
        Cluster { nodes, queue: VecDeque::new(), isolated: None, max_in_flight }
    }

    fn pipelined(&self) -> bool {
        self.max_in_flight > 1
    }

    fn cut(&self, m: &Message) -> bool {
        self.isolated.is_some_and(|id| m.from == id || m.to == id)
    }

    /// Takes a Ready and sends what may leave before the write completes; pipelined, also
    /// applies its committed entries (durable already).
    fn start_write(&mut self, i: usize) {
        let pipelined = self.pipelined();
        let node = &mut self.nodes[i];
        if node.pending.len() >= self.max_in_flight || !node.raw.has_ready() {
            return;
        }
        let mut rd = node.raw.ready();
        self.queue.extend(std::mem::take(&mut rd.messages));
        if pipelined {
            let persisted = node.raw.storage().last_index();
            for e in std::mem::take(&mut rd.committed_entries) {
                assert!(e.index <= persisted, "entry {} handed out to apply before it is durable", e.index);
                apply(&mut node.applied, &e);
            }
        }
        self.nodes[i].pending.push_back(rd);
    }

    /// Takes a Ready that asks for no write: its messages leave and its committed entries
    /// are applied at once; it is advanced in turn behind the writes before it.
    fn take_without_write(&mut self, i: usize) {
        const MAX_READIES: usize = 8;
        let node = &mut self.nodes[i];
        if self.max_in_flight <= 1 || node.pending.len() >= MAX_READIES || !node.raw.has_ready_without_write() {
            return;
        }
        let mut rd = node.raw.ready_without_write();
        assert!(rd.entries.is_empty() && rd.snapshot.is_none(), "a Ready without write holds a write");
        assert!(rd.persisted_messages.is_empty(), "a Ready without write holds messages that wait for one");
        if let Some(hs) = rd.hard_state {
            let durable =
                node.pending.iter().rev().find_map(|p| p.hard_state).unwrap_or_else(|| node.raw.storage().hard_state());
            assert_eq!(
                (hs.term, hs.vote),
                (durable.term, durable.vote),
                "a Ready without write moved the term or vote"
            );
        }
        self.queue.extend(std::mem::take(&mut rd.messages));
        let persisted = node.raw.storage().last_index();
        for e in std::mem::take(&mut rd.committed_entries) {
            assert!(e.index <= persisted, "entry {} handed out to apply before it is durable", e.index);
            apply(&mut node.applied, &e);
        }
        node.pending.push_back(rd);
    }

    /// The oldest write completes: persist, send what waited for it, apply, advance.
    fn finish_write(&mut self, i: usize) {
        let Some(mut rd) = self.nodes[i].pending.pop_front() else { return };
        let node = &mut self.nodes[i];
        let entries = std::mem::take(&mut rd.entries);
        node.raw.storage_mut().persist(rd.snapshot.as_ref(), entries, rd.hard_state).expect("newer snapshot");
        if let Some(s) = &rd.snapshot {
            node.applied = decode_app(&s.data);
        }
        self.queue.extend(rd.persisted_messages);
        for e in &rd.committed_entries {
            apply(&mut node.applied, e);
        }
        node.raw.advance();
    }

    fn crash(&mut self, i: usize) {
        let pipelined = self.pipelined();
        let node = &mut self.nodes[i];
        node.pending.clear();
        let storage = node.raw.storage().clone();
        let mut cfg = node.raw.config().clone();
        let snapshot = storage.snapshot();
        cfg.applied = snapshot.meta.index;
        cfg.seed = cfg.seed.wrapping_add(17);
        node.applied = decode_app(&snapshot.data);
        node.raw = RawNode::new(&cfg, storage).expect("restart");
        if pipelined {
            node.raw.apply_durable_only();
        }
        // Replay what the storage holds as committed: the application is rebuilt.
        let id = node.raw.id();
        self.queue.retain(|m| m.to != id);
    }

    fn deliver(&mut self, count: u8) {
        for _ in 0..count {
            let Some(m) = self.queue.pop_front() else { return };
            if self.cut(&m) {
                continue;
            }
            let to = (m.to - 1) as usize;
            let _ = self.nodes[to].raw.step(m);
        }
    }

    fn run(&mut self, o: &Op, step: usize) {
        match *o {
            Op::Tick(i) => self.nodes[i].raw.tick(),
            Op::Propose(i, b) => {
                let _ = self.nodes[i].raw.propose(Bytes::from(vec![b, step as u8, (step >> 8) as u8]));
            }
            Op::StartWrite(i) => self.start_write(i),
            Op::TakeWithoutWrite(i) => self.take_without_write(i),
            Op::FinishWrite(i) => self.finish_write(i),
            Op::Flush(i) => {
                self.start_write(i);
                self.finish_write(i);
            }
            Op::Deliver(n) => self.deliver(n),
            Op::Drop => {
                self.queue.pop_front();
            }
            Op::Crash(i) => self.crash(i),
            Op::Isolate(i) => self.isolated = Some(i as u64 + 1),
            Op::Heal => self.isolated = None,
            Op::Compact(i) => {
                let node = &mut self.nodes[i];
                // Pipelined, the application is ahead of the Readies advanced.
                let applied = if self.max_in_flight > 1 { node.raw.applying_index() } else { node.raw.applied_index() };
                if applied > node.raw.storage().snapshot().meta.index {
                    let data = Bytes::from(node.applied.concat());
                    node.raw.storage_mut().create_snapshot(applied, data).expect("compact at applied");
                }
            }
        }
    }

    fn settle(&mut self) {
        for _ in 0..2000 {
            for i in 0..self.nodes.len() {
                while !self.nodes[i].pending.is_empty() {
                    self.finish_write(i);
                }
                self.start_write(i);
                self.finish_write(i);
            }
            self.deliver(u8::MAX);
            if self.queue.is_empty() && self.nodes.iter().all(|n| !n.raw.has_ready() && n.pending.is_empty()) {
                return;
            }
        }
        panic!("settle: the cluster did not quiesce");
    }

    fn assert_agree(&self) {
        let longest = self.nodes.iter().map(|n| &n.applied).max_by_key(|a| a.len()).expect("nodes");
        for n in &self.nodes {
            assert_eq!(&longest[..n.applied.len()], &n.applied[..], "applied sequences diverge");
        }
    }
}

fn apply(applied: &mut Vec<Vec<u8>>, e: &Entry) {
    if e.kind == EntryKind::Normal {
        applied.push(e.data.to_vec());
    }
}

fn decode_app(data: &[u8]) -> Vec<Vec<u8>> {
    data.chunks(3).map(<[u8]>::to_vec).collect()
}

fn check(n: usize, max_in_flight: usize, ops: &[Op]) {
    let mut c = Cluster::new(n, max_in_flight);
    for (step, o) in ops.iter().enumerate() {
        c.run(o, step);
        c.assert_agree();
    }
    c.isolated = None;
    for _ in 0..100 {
        for node in &mut c.nodes {
            node.raw.tick();
        }
        c.settle();
    }
    c.assert_agree();
    let leader = c.nodes.iter().position(|n| n.raw.status().role == Role::Leader).expect("a leader after healing");
    c.nodes[leader].raw.propose(Bytes::from_static(b"end")).expect("the leader takes proposals");
    c.settle();
    // Followers learn a commit index that no append carries at the leader's next tick.
    c.nodes[leader].raw.tick();
    c.settle();
    for n in &c.nodes {
        assert_eq!(n.applied.last().map(Vec::as_slice), Some(&b"end"[..]), "every node applied the marker");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn writes_completing_later_keep_logs_in_agreement(ops in proptest::collection::vec(op(3), 50..600)) {
        check(3, 1, &ops);
    }

    #[test]
    fn five_nodes_with_late_writes_agree(ops in proptest::collection::vec(op(5), 50..600)) {
        check(5, 1, &ops);
    }

    #[test]
    fn pipelined_writes_keep_logs_in_agreement(ops in proptest::collection::vec(op(3), 50..600)) {
        check(3, 4, &ops);
    }

    #[test]
    fn five_nodes_with_pipelined_writes_agree(ops in proptest::collection::vec(op(5), 50..600)) {
        check(5, 4, &ops);
    }
}
