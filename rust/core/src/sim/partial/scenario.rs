//! [`Scenario`]: the three partial-connectivity scenarios of the Omni-Paxos paper, as which
//! links are up in each phase of a run. Nothing here knows a protocol: the runner imposes
//! these topologies on any cluster (see the module docs of `partial` for the phases).

use crate::sim::partial::topology::Topology;

/// A named partial-connectivity scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// 5 nodes. Every link is cut except those of one follower, the hub, to every other node:
    /// the leader keeps only its link to the hub. The hub alone is quorum-connected.
    QuorumLoss,
    /// 5 nodes. The hub was cut off while entries committed, so its log is behind; then every
    /// link is cut except those of the hub to the other followers, and the old leader is cut
    /// off entirely. The hub alone is quorum-connected, and its log is the least up to date.
    ConstrainedElection,
    /// 3 nodes A (the leader), B (the hub) and C: the link A-C is cut. B hears both; C cannot
    /// hear A.
    Chained,
}

/// The nodes a scenario gives a part to, as positions (node id - 1), fixed before the cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    /// The leader when the cut comes.
    pub leader: usize,
    /// The follower that keeps its links to (almost) everyone: the quorum-connected node.
    pub hub: usize,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::QuorumLoss, Scenario::ConstrainedElection, Scenario::Chained];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::QuorumLoss => "quorum-loss",
            Scenario::ConstrainedElection => "constrained-election",
            Scenario::Chained => "chained",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Cluster size, as in the paper.
    pub fn nodes(self) -> usize {
        match self {
            Scenario::QuorumLoss | Scenario::ConstrainedElection => 5,
            Scenario::Chained => 3,
        }
    }

    /// Whether the hub is cut off while entries commit before the cut, so that its log is
    /// behind when the cut comes.
    pub fn hub_lags(self) -> bool {
        self == Scenario::ConstrainedElection
    }

    /// The links up while the hub lags: every link but the hub's.
    pub fn lagging_links(self, roles: Roles) -> Topology {
        let mut topology = Topology::full(self.nodes());
        topology.isolate(roles.hub);
        topology
    }

    /// The links up from the cut to the end of the run.
    pub fn links_after_cut(self, roles: Roles) -> Topology {
        let nodes = self.nodes();
        assert_ne!(roles.leader, roles.hub, "the hub is a follower");
        assert!(roles.leader < nodes && roles.hub < nodes, "roles {roles:?} outside {nodes} nodes");
        let others = (0..nodes).filter(|&p| p != roles.hub);
        match self {
            Scenario::QuorumLoss => {
                let links: Vec<(usize, usize)> = others.map(|p| (roles.hub, p)).collect();
                Topology::only(nodes, &links)
            }
            // The old leader loses its link to the hub too: through it, the leader would bring
            // the hub's log up to date in a round trip before stepping down, and the scenario
            // would turn into quorum-loss. Cut off, it is as if it had crashed (the paper's
            // constrained election follows a leader failure).
            Scenario::ConstrainedElection => {
                let links: Vec<(usize, usize)> =
                    others.filter(|&p| p != roles.leader).map(|p| (roles.hub, p)).collect();
                Topology::only(nodes, &links)
            }
            Scenario::Chained => {
                let third = (0..nodes).find(|&p| p != roles.leader && p != roles.hub).expect("3 nodes");
                let mut topology = Topology::full(nodes);
                topology.cut(roles.leader, third);
                topology
            }
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::from_name(scenario.name()), Some(scenario));
        }
        assert_eq!(Scenario::from_name("all"), None);
    }

    #[test]
    fn quorum_loss_leaves_the_hub_alone_quorum_connected() {
        let roles = Roles { leader: 0, hub: 3 };
        let links = Scenario::QuorumLoss.links_after_cut(roles);
        assert_eq!(links.quorum_connected(), vec![3]);
        for p in (0..5).filter(|&p| p != 3) {
            assert!(links.is_up(3, p), "hub-{p} is up");
            // Every other node, the leader included, hears only itself and the hub.
            assert_eq!(links.reach(p), 2, "node at {p}");
        }
        assert!(!links.is_up(0, 1) && !links.is_up(1, 2) && !links.is_up(2, 4));
    }

    #[test]
    fn constrained_election_isolates_the_old_leader_and_lags_the_hub() {
        let roles = Roles { leader: 1, hub: 4 };
        assert!(Scenario::ConstrainedElection.hub_lags());
        let lagging = Scenario::ConstrainedElection.lagging_links(roles);
        assert_eq!(lagging.reach(4), 1);
        assert_eq!(lagging.quorum_connected(), vec![0, 1, 2, 3]);
        let links = Scenario::ConstrainedElection.links_after_cut(roles);
        assert_eq!(links.quorum_connected(), vec![4]);
        assert_eq!(links.reach(1), 1, "the old leader is cut off");
        assert_eq!(links.reach(4), 4, "the hub reaches every follower and itself");
        for p in [0, 2, 3] {
            assert_eq!(links.reach(p), 2, "node at {p} hears only the hub");
        }
    }

    #[test]
    fn chained_cuts_only_the_leader_from_the_third_node() {
        assert!(!Scenario::Chained.hub_lags() && !Scenario::QuorumLoss.hub_lags());
        let roles = Roles { leader: 2, hub: 0 };
        let links = Scenario::Chained.links_after_cut(roles);
        assert!(!links.is_up(2, 1) && !links.is_up(1, 2));
        assert!(links.is_up(0, 1) && links.is_up(0, 2));
        assert_eq!((links.reach(0), links.reach(1), links.reach(2)), (3, 2, 2));
    }

    #[test]
    #[should_panic(expected = "the hub is a follower")]
    fn the_hub_cannot_be_the_leader() {
        Scenario::QuorumLoss.links_after_cut(Roles { leader: 2, hub: 2 });
    }
}
