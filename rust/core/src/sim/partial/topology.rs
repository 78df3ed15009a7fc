//! [`Topology`]: which links between the nodes of a cluster are up, as a symmetric relation.
//!
//! The partial-connectivity scenarios cut links, not nodes: a node can be cut off from some
//! peers and still reach others. A topology is the ground truth the scenario imposes on the
//! network (`Topology::apply_to`); it is also what a scenario's roles are defined by, e.g. a
//! node is quorum-connected when it reaches a majority counting itself.

use crate::raft::message::NodeId;
use crate::sim::network::Network;

/// Links up between the nodes at positions `0..nodes` (node id = position + 1). Links are
/// symmetric: the scenarios of the paper cut both directions of a link at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    nodes: usize,
    /// `up[a * nodes + b]`: nodes `a` and `b` hear each other. Invariant: symmetric, and
    /// `up[a * nodes + a]` holds for every `a` (a node always reaches itself).
    up: Vec<bool>,
}

impl Topology {
    /// Every link up.
    pub fn full(nodes: usize) -> Topology {
        Topology { nodes, up: vec![true; nodes * nodes] }
    }

    /// Only the links of the pairs in `links` up.
    pub fn only(nodes: usize, links: &[(usize, usize)]) -> Topology {
        let mut topology = Topology::full(nodes);
        for a in 0..nodes {
            for b in 0..nodes {
                if a != b {
                    topology.set(a, b, false);
                }
            }
        }
        for &(a, b) in links {
            topology.set(a, b, true);
        }
        topology
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Whether `a` and `b` hear each other.
    pub fn is_up(&self, a: usize, b: usize) -> bool {
        assert!(a < self.nodes && b < self.nodes, "link {a}-{b} outside a {}-node cluster", self.nodes);
        self.up[a * self.nodes + b]
    }

    /// Cuts both directions of the link `a`-`b`.
    pub fn cut(&mut self, a: usize, b: usize) {
        assert_ne!(a, b, "a node cannot be cut from itself");
        self.set(a, b, false);
    }

    /// Cuts every link of `position`.
    pub fn isolate(&mut self, position: usize) {
        for other in (0..self.nodes).filter(|&o| o != position) {
            self.cut(position, other);
        }
    }

    /// The nodes `position` hears, itself included.
    pub fn reach(&self, position: usize) -> usize {
        (0..self.nodes).filter(|&other| self.is_up(position, other)).count()
    }

    /// Whether `position` reaches a majority of the cluster counting itself: a node that can
    /// gather a quorum of votes or acknowledgements on its own links.
    pub fn is_quorum_connected(&self, position: usize) -> bool {
        self.reach(position) > self.nodes / 2
    }

    /// The quorum-connected nodes, in position order.
    pub fn quorum_connected(&self) -> Vec<usize> {
        (0..self.nodes).filter(|&p| self.is_quorum_connected(p)).collect()
    }

    /// Restores every link of `network`, then cuts those this topology has down.
    pub fn apply_to(&self, network: &mut Network) {
        network.heal();
        for a in 0..self.nodes {
            for b in (0..self.nodes).filter(|&b| !self.is_up(a, b)) {
                network.cut_link(a as NodeId + 1, b as NodeId + 1);
            }
        }
    }

    fn set(&mut self, a: usize, b: usize, up: bool) {
        assert!(a < self.nodes && b < self.nodes, "link {a}-{b} outside a {}-node cluster", self.nodes);
        self.up[a * self.nodes + b] = up;
        self.up[b * self.nodes + a] = up;
    }
}

/// The links up, by node id: "1-2 1-3 2-3".
impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for a in 0..self.nodes {
            for b in (a + 1..self.nodes).filter(|&b| self.is_up(a, b)) {
                write!(f, "{}{}-{}", if first { "" } else { " " }, a + 1, b + 1)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_has_one_quorum_connected_node() {
        let star = Topology::only(5, &[(2, 0), (2, 1), (2, 3), (2, 4)]);
        assert_eq!(star.quorum_connected(), vec![2]);
        assert_eq!(star.reach(2), 5);
        assert_eq!(star.reach(0), 2);
        assert!(star.is_up(0, 2) && star.is_up(2, 0) && star.is_up(0, 0));
        assert!(!star.is_up(0, 1));
        assert_eq!(star.to_string(), "1-3 2-3 3-4 3-5");
    }

    #[test]
    fn isolation_leaves_the_others_fully_connected() {
        let mut topology = Topology::full(5);
        topology.isolate(3);
        assert_eq!(topology.reach(3), 1);
        assert_eq!(topology.quorum_connected(), vec![0, 1, 2, 4]);
    }

    #[test]
    fn apply_to_cuts_exactly_the_links_down_both_ways() {
        let mut network = Network::new(3);
        network.cut_link(1, 2);
        let mut topology = Topology::full(3);
        topology.cut(0, 2);
        topology.apply_to(&mut network);
        assert!(network.is_cut(1, 3) && network.is_cut(3, 1));
        // The earlier cut 1 -> 2 is healed: the topology is the whole truth.
        assert!(!network.is_cut(1, 2) && !network.is_cut(2, 1) && !network.is_cut(2, 3));
    }
}
