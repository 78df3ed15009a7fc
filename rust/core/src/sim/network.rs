//! The simulated network: packets in flight, delivered in order of (due tick, send order), and
//! the links cut by partitions.
//!
//! A packet is one encoded frame. What happens to it on the way (loss, delay, duplication,
//! corruption) is decided when it is sent (see `faults::LinkFaults`); a cut link loses it when it
//! arrives, so a partition also catches packets that were in flight when it began.

use crate::raft::message::NodeId;
use bytes::Bytes;
use std::collections::BTreeMap;

/// Packets the network holds at once; a send beyond this loses the packet (a full queue).
pub const MAX_PACKETS_IN_FLIGHT: usize = 1 << 16;

/// One frame on its way from one node to another.
#[derive(Clone, Debug)]
pub struct Packet {
    pub from: NodeId,
    pub to: NodeId,
    pub frame: Bytes,
    /// The frame was corrupted on the way: the receiver must refuse it.
    pub corrupted: bool,
}

/// The network between nodes `1..=nodes`.
#[derive(Clone, Debug)]
pub struct Network {
    nodes: usize,
    /// Packets keyed by (due tick, send sequence): iteration order is delivery order, and equal
    /// due ticks keep send order.
    in_flight: BTreeMap<(u64, u64), Packet>,
    next_sequence: u64,
    /// `cut[(from - 1) * nodes + (to - 1)]`: packets from `from` to `to` are lost on arrival.
    cut: Vec<bool>,
}

impl Network {
    /// A network of nodes with ids `1..=nodes`, every link up.
    pub fn new(nodes: usize) -> Network {
        Network { nodes, in_flight: BTreeMap::new(), next_sequence: 0, cut: vec![false; nodes * nodes] }
    }

    /// Queues `packet` for delivery at `due_tick`. Returns false (the packet is lost) when the
    /// network is full.
    pub fn send(&mut self, due_tick: u64, packet: Packet) -> bool {
        if self.in_flight.len() >= MAX_PACKETS_IN_FLIGHT {
            return false;
        }
        self.in_flight.insert((due_tick, self.next_sequence), packet);
        self.next_sequence += 1;
        true
    }

    /// The next packet due at or before `now`, removed from the network.
    pub fn pop_due(&mut self, now: u64) -> Option<Packet> {
        let first = self.in_flight.first_entry()?;
        if first.key().0 > now {
            return None;
        }
        Some(first.remove())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// True when packets from `from` to `to` are lost.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.link(from, to).is_some_and(|k| self.cut[k])
    }

    /// Cuts every link from a node on `side_a` to a node off it; when `both_ways`, the links back
    /// too. `side_a[k]` tells whether node `k + 1` is on side A.
    pub fn partition(&mut self, side_a: &[bool], both_ways: bool) {
        for from in 0..self.nodes {
            for to in 0..self.nodes {
                let crosses = side_a[from] != side_a[to];
                if crosses && (both_ways || side_a[from]) {
                    self.cut[from * self.nodes + to] = true;
                }
            }
        }
    }

    /// Cuts the one link from `from` to `to` (a link that does not exist is ignored).
    pub fn cut_link(&mut self, from: NodeId, to: NodeId) {
        if let Some(k) = self.link(from, to) {
            self.cut[k] = true;
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.iter_mut().for_each(|c| *c = false);
    }

    fn link(&self, from: NodeId, to: NodeId) -> Option<usize> {
        let (from, to) = (from.checked_sub(1)? as usize, to.checked_sub(1)? as usize);
        (from < self.nodes && to < self.nodes).then_some(from * self.nodes + to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(from: NodeId, to: NodeId) -> Packet {
        Packet { from, to, frame: Bytes::new(), corrupted: false }
    }

    #[test]
    fn delivers_by_due_tick_then_send_order() {
        let mut network = Network::new(3);
        network.send(5, packet(1, 2));
        network.send(3, packet(2, 1));
        network.send(3, packet(3, 1));
        assert!(network.pop_due(2).is_none());
        assert_eq!(network.pop_due(4).map(|p| p.from), Some(2));
        assert_eq!(network.pop_due(4).map(|p| p.from), Some(3));
        assert!(network.pop_due(4).is_none());
        assert_eq!(network.pop_due(5).map(|p| p.from), Some(1));
    }

    #[test]
    fn one_way_partition_cuts_one_direction() {
        let mut network = Network::new(3);
        network.partition(&[true, false, false], false);
        assert!(network.is_cut(1, 2) && network.is_cut(1, 3));
        assert!(!network.is_cut(2, 1) && !network.is_cut(2, 3));
        network.partition(&[true, false, false], true);
        assert!(network.is_cut(2, 1));
        network.heal();
        assert!(!network.is_cut(1, 2));
    }

    #[test]
    fn cut_link_cuts_that_link_only() {
        let mut network = Network::new(3);
        network.cut_link(1, 3);
        network.cut_link(0, 3);
        network.cut_link(1, 4);
        assert!(network.is_cut(1, 3));
        assert!(!network.is_cut(3, 1) && !network.is_cut(1, 2) && !network.is_cut(2, 3));
    }
}
