//! An in-memory network of `PaxosNode`s (persistence in `ready`) passing encoded frames,
//! driven by hand: deterministic FIFO delivery, links that can be cut, crashes that keep only
//! the storage. The application records `(slot, payload)` of every applied command.
#![allow(dead_code)]

use bytes::Bytes;
use senate_core::driver::NodeRole;
use senate_core::paxos::{PaxosConfig, PaxosNode};
use senate_core::{EntryKind, NodeId, Storage};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Application state: the commands applied, with their slots.
pub type App = Vec<(u64, Vec<u8>)>;

pub fn encode_app(app: &App) -> Bytes {
    let mut out = Vec::new();
    for (slot, data) in app {
        out.extend_from_slice(&slot.to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
    }
    Bytes::from(out)
}

pub fn decode_app(mut data: &[u8]) -> App {
    let mut out = Vec::new();
    while data.len() >= 12 {
        let slot = u64::from_be_bytes(data[..8].try_into().expect("8 bytes"));
        let len = u32::from_be_bytes(data[8..12].try_into().expect("4 bytes")) as usize;
        out.push((slot, data[12..12 + len].to_vec()));
        data = &data[12 + len..];
    }
    out
}

pub struct Peer {
    pub node: PaxosNode,
    pub app: App,
    /// The highest slot applied (no-ops included).
    pub applied_index: u64,
    pub read_states: Vec<(u64, u64)>,
    pub snapshots_restored: usize,
}

pub struct Net {
    pub peers: BTreeMap<NodeId, Peer>,
    /// (from, to, frames).
    pub queue: VecDeque<(NodeId, NodeId, Bytes)>,
    /// Directed links that drop everything: (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Every (slot, payload) any node ever applied: one payload per slot, or safety broke.
    pub chosen: BTreeMap<u64, Vec<u8>>,
}

impl Net {
    pub fn new(n: u64, tweak: impl Fn(&mut PaxosConfig)) -> Net {
        let voters: Vec<NodeId> = (1..=n).collect();
        let mut peers = BTreeMap::new();
        for id in 1..=n {
            let mut cfg = PaxosConfig::new(id, voters.clone());
            cfg.seed = id * 7919;
            tweak(&mut cfg);
            let node = PaxosNode::new(&cfg).expect("valid config");
            peers.insert(
                id,
                Peer { node, app: Vec::new(), applied_index: 0, read_states: Vec::new(), snapshots_restored: 0 },
            );
        }
        Net { peers, queue: VecDeque::new(), cut: BTreeSet::new(), chosen: BTreeMap::new() }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.peers.keys().copied().collect()
    }

    pub fn node(&self, id: NodeId) -> &PaxosNode {
        &self.peers[&id].node
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut PaxosNode {
        &mut self.peers.get_mut(&id).expect("peer exists").node
    }

    pub fn app(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.peers[&id].app.iter().map(|(_, d)| d.clone()).collect()
    }

    pub fn leaders(&self) -> Vec<NodeId> {
        self.ids().into_iter().filter(|&id| self.node(id).role() == NodeRole::Leader).collect()
    }

    /// Takes and carries out every Ready of `id`: frames to the queue, restore, apply, reads.
    pub fn handle_ready(&mut self, id: NodeId) {
        let peer = self.peers.get_mut(&id).expect("peer exists");
        while let Some(rd) = peer.node.ready() {
            for (to, frames) in rd.messages.into_iter().chain(rd.persisted_messages) {
                self.queue.push_back((id, to, Bytes::from(frames)));
            }
            if let Some(snapshot) = rd.snapshot {
                peer.app = decode_app(&snapshot.data);
                peer.applied_index = snapshot.meta.index;
                peer.snapshots_restored += 1;
            }
            for e in rd.committed_entries {
                assert_eq!(e.index, peer.applied_index + 1, "node {id} applies slots in order");
                peer.applied_index = e.index;
                if e.kind == EntryKind::Normal {
                    let data = e.data.to_vec();
                    let earlier = self.chosen.entry(e.index).or_insert_with(|| data.clone());
                    assert_eq!(*earlier, data, "two values applied at slot {}", e.index);
                    peer.app.push((e.index, data));
                } else {
                    assert!(!self.chosen.contains_key(&e.index), "a no-op and a value at slot {}", e.index);
                }
            }
            peer.read_states.extend(rd.read_states.iter().map(|r| (r.request_id, r.index)));
            peer.node.advance();
        }
    }

    /// Delivers everything queued (and what it causes) until the network is quiet.
    pub fn stabilize(&mut self) {
        for _ in 0..10_000 {
            for id in self.ids() {
                self.handle_ready(id);
            }
            if self.queue.is_empty() {
                return;
            }
            while let Some((from, to, frames)) = self.queue.pop_front() {
                if self.cut.contains(&(from, to)) {
                    continue;
                }
                self.node_mut(to).step_frames(&frames).expect("a correct peer's frames step");
            }
        }
        panic!("the network never went quiet");
    }

    /// `n` rounds of one tick on every node, each followed by `stabilize`.
    pub fn tick_all(&mut self, n: usize) {
        for _ in 0..n {
            for id in self.ids() {
                self.node_mut(id).tick();
            }
            self.stabilize();
        }
    }

    /// Ticks until exactly one leader is known to every node that can hear it.
    pub fn elect_by_ticks(&mut self) -> NodeId {
        for _ in 0..200 {
            self.tick_all(1);
            let leaders = self.leaders();
            if leaders.len() == 1 {
                return leaders[0];
            }
        }
        panic!("no leader after 200 ticks");
    }

    /// `id` campaigns now, and the cluster settles.
    pub fn elect(&mut self, id: NodeId) {
        self.node_mut(id).campaign();
        self.stabilize();
        assert_eq!(self.node(id).role(), NodeRole::Leader, "node {id} won");
    }

    pub fn propose(&mut self, id: NodeId, data: &[u8]) -> senate_core::Result<()> {
        let result = self.node_mut(id).propose(Bytes::copy_from_slice(data));
        self.stabilize();
        result
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: NodeId) {
        for other in self.ids() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Crashes `id`: the application comes back from the stored snapshot (or empty) and
    /// applies again from there; messages to it are lost.
    pub fn crash(&mut self, id: NodeId) {
        let peer = self.peers.get_mut(&id).expect("peer exists");
        let snapshot = peer.node.storage().snapshot();
        peer.app = decode_app(&snapshot.data);
        peer.applied_index = snapshot.meta.index;
        peer.node.crash_restart(snapshot.meta.index).expect("restart");
        self.queue.retain(|(_, to, _)| *to != id);
    }

    /// Snapshots `id`'s application at its applied slot and compacts its log.
    pub fn compact(&mut self, id: NodeId) {
        let peer = self.peers.get_mut(&id).expect("peer exists");
        let data = encode_app(&peer.app);
        let _ = peer.node.compact(peer.applied_index, data);
    }
}
