//! An in-memory network of `RawNode<MemStorage>`s passing `Message` values directly (the
//! codec has its own tests; the simulator drives nodes through it). Deterministic: delivery
//! is FIFO and nothing is random.
#![allow(dead_code)]

use bytes::Bytes;
use senate_core::{Config, Entry, EntryKind, MemStorage, Message, NodeId, RawNode, Role, Storage};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub struct Peer {
    pub raw: RawNode<MemStorage>,
    /// Applied application payloads (no-ops skipped), in order.
    pub applied: Vec<Vec<u8>>,
    pub read_states: Vec<(u64, u64)>,
    pub snapshots_restored: usize,
}

pub struct Net {
    pub peers: BTreeMap<NodeId, Peer>,
    pub queue: VecDeque<Message>,
    /// Directed links that drop everything: (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Every message delivered, for assertions on traffic.
    pub delivered: Vec<Message>,
}

/// Application snapshot format of the test harness: each payload length-prefixed.
fn encode_app(applied: &[Vec<u8>]) -> Bytes {
    let mut out = Vec::new();
    for p in applied {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    Bytes::from(out)
}

fn decode_app(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        out.push(data[4..4 + n].to_vec());
        data = &data[4 + n..];
    }
    out
}

impl Net {
    pub fn new(n: u64, tweak: impl Fn(&mut Config)) -> Net {
        let voters: Vec<NodeId> = (1..=n).collect();
        let mut peers = BTreeMap::new();
        for id in 1..=n {
            let mut cfg = Config::new(id, voters.clone());
            cfg.seed = id * 7919;
            tweak(&mut cfg);
            let raw = RawNode::new(&cfg, MemStorage::new(voters.clone())).expect("valid config");
            peers.insert(id, Peer { raw, applied: Vec::new(), read_states: Vec::new(), snapshots_restored: 0 });
        }
        Net { peers, queue: VecDeque::new(), cut: BTreeSet::new(), delivered: Vec::new() }
    }

    pub fn node(&self, id: NodeId) -> &RawNode<MemStorage> {
        &self.peers[&id].raw
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut RawNode<MemStorage> {
        &mut self.peers.get_mut(&id).expect("peer exists").raw
    }

    pub fn role(&self, id: NodeId) -> Role {
        self.node(id).status().role
    }

    pub fn applied_data(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.peers[&id].applied.clone()
    }

    pub fn read_states(&self, id: NodeId) -> Vec<(u64, u64)> {
        self.peers[&id].read_states.clone()
    }

    pub fn snapshots_restored(&self, id: NodeId) -> usize {
        self.peers[&id].snapshots_restored
    }

    pub fn propose(&mut self, id: NodeId, data: &[u8]) -> senate_core::Result<()> {
        self.node_mut(id).propose(Bytes::copy_from_slice(data))
    }

    pub fn read_index(&mut self, id: NodeId, request_id: u64) -> senate_core::Result<()> {
        self.node_mut(id).read_index(request_id)
    }

    /// Campaigns at `id` and runs the cluster until quiet; `id` must end up leading.
    pub fn elect(&mut self, id: NodeId) {
        self.node_mut(id).campaign();
        self.stabilize();
        assert_eq!(self.role(id), Role::Leader, "elect: node {id} did not win");
    }

    pub fn isolate(&mut self, id: NodeId) {
        let ids: Vec<NodeId> = self.peers.keys().copied().collect();
        for other in ids {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn tick_all(&mut self) {
        for p in self.peers.values_mut() {
            p.raw.tick();
        }
    }

    /// Crash and restart `id`: only what its storage holds survives. The harness's applied
    /// list stands for a state machine rebuilt from the snapshot and the log, so it is cut
    /// back to the snapshot and the committed entries are re-applied from there.
    pub fn crash_restart(&mut self, id: NodeId) {
        let peer = self.peers.get_mut(&id).expect("peer exists");
        let storage = peer.raw.storage().clone();
        let mut cfg = peer.raw.config().clone();
        let snapshot = storage.snapshot();
        cfg.applied = snapshot.meta.index;
        cfg.seed = cfg.seed.wrapping_add(1);
        peer.applied = decode_app(&snapshot.data);
        peer.raw = RawNode::new(&cfg, storage).expect("restart");
        self.queue.retain(|m| m.from != id && m.to != id);
    }

    pub fn compact(&mut self, id: NodeId, index: u64) {
        let peer = self.peers.get_mut(&id).expect("peer exists");
        let data = encode_app(&peer.applied);
        peer.raw.storage_mut().create_snapshot(index, data).expect("compact");
    }

    /// Handles one `Ready` at `id` (persist, queue messages, apply, advance). Returns whether
    /// there was one.
    pub fn handle_ready(&mut self, id: NodeId) -> bool {
        let peer = self.peers.get_mut(&id).expect("peer exists");
        if !peer.raw.has_ready() {
            return false;
        }
        let mut rd = peer.raw.ready();
        let entries = std::mem::take(&mut rd.entries);
        peer.raw.storage_mut().persist(rd.snapshot.as_ref(), entries, rd.hard_state).expect("snapshot newer");
        if let Some(s) = &rd.snapshot {
            peer.applied = decode_app(&s.data);
            peer.snapshots_restored += 1;
        }
        self.queue.extend(rd.messages);
        self.queue.extend(rd.persisted_messages);
        for e in &rd.committed_entries {
            apply(&mut peer.applied, e);
        }
        for rs in &rd.read_states {
            peer.read_states.push((rs.request_id, rs.index));
        }
        peer.raw.advance();
        true
    }

    /// Takes the read states of the next ready at `id` without delivering anything.
    pub fn take_ready_read_states(&mut self, id: NodeId) -> Vec<(u64, u64)> {
        self.handle_ready(id);
        std::mem::take(&mut self.peers.get_mut(&id).expect("peer").read_states)
    }

    /// Delivers one queued message; returns false when the queue is empty.
    pub fn deliver_one(&mut self) -> bool {
        let Some(m) = self.queue.pop_front() else { return false };
        if self.cut.contains(&(m.from, m.to)) {
            return true;
        }
        self.delivered.push(m.clone());
        if let Some(p) = self.peers.get_mut(&m.to) {
            let _ = p.raw.step(m);
        }
        true
    }

    /// Runs readies and deliveries until nothing is left to do (bounded).
    /// Ticks every leader once, then stabilizes: followers learn a commit index that no
    /// append carried (a leader sends one at once only to followers waiting for it).
    pub fn spread_commit(&mut self) {
        let leaders: Vec<NodeId> = self.peers.keys().copied().filter(|&id| self.role(id) == Role::Leader).collect();
        for id in leaders {
            self.node_mut(id).tick();
        }
        self.stabilize();
    }

    pub fn stabilize(&mut self) {
        for _ in 0..100_000 {
            let ids: Vec<NodeId> = self.peers.keys().copied().collect();
            let mut busy = false;
            for id in ids {
                busy |= self.handle_ready(id);
            }
            while self.deliver_one() {
                busy = true;
            }
            if !busy {
                return;
            }
        }
        panic!("stabilize: the cluster did not quiesce");
    }

    pub fn stored_entries(&self, id: NodeId) -> Vec<Entry> {
        let s = self.node(id).storage();
        s.entries(s.first_index(), s.last_index() + 1, usize::MAX).expect("readable")
    }
}

fn apply(applied: &mut Vec<Vec<u8>>, e: &Entry) {
    if e.kind == EntryKind::Normal {
        applied.push(e.data.to_vec());
    }
}
