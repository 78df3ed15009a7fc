//! [`Ballot`]: the number of a Paxos proposal attempt, `(round, node id)`, totally ordered.
//!
//! Two proposers never use the same ballot (the node id breaks ties between equal rounds), and
//! a proposer that is refused picks a round above every ballot it has seen. The durable log
//! keeps a ballot in the `u64` a Raft log keeps a term in ([`Ballot::to_u64`]): the promised
//! ballot in the hard state, and the ballot a slot was accepted at in its entry, so both
//! protocols share the WAL's records, recovery and group commit.

use crate::raft::message::NodeId;
use std::fmt;

/// Bits of a stored ballot that hold the node id: node ids of a Paxos cluster are in
/// `[1, MAX_NODE_ID]`, rounds in `[0, MAX_ROUND]`.
pub const NODE_ID_BITS: u32 = 16;
pub const MAX_NODE_ID: NodeId = (1 << NODE_ID_BITS) - 1;
pub const MAX_ROUND: u64 = u64::MAX >> NODE_ID_BITS;

/// A proposal number. Ordered by round, then node id; [`Ballot::ZERO`] is below every ballot a
/// proposer uses (an acceptor that promised nothing has promised `ZERO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    /// Field order matters: the derived `Ord` compares `round` first.
    pub round: u64,
    pub node: NodeId,
}

impl Ballot {
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    pub const fn new(round: u64, node: NodeId) -> Ballot {
        Ballot { round, node }
    }

    /// The smallest ballot of `node` above `seen`.
    pub fn next_after(seen: Ballot, node: NodeId) -> Ballot {
        let candidate = Ballot::new(seen.round, node);
        if candidate > seen {
            candidate
        } else {
            Ballot::new(seen.round + 1, node)
        }
    }

    /// The ballot as stored in a log's `u64` term field; order-preserving for valid ballots
    /// (`round <= MAX_ROUND`, `node <= MAX_NODE_ID`).
    pub fn to_u64(self) -> u64 {
        debug_assert!(self.round <= MAX_ROUND && self.node <= MAX_NODE_ID, "ballot out of range: {self}");
        (self.round << NODE_ID_BITS) | self.node
    }

    pub fn from_u64(stored: u64) -> Ballot {
        Ballot { round: stored >> NODE_ID_BITS, node: stored & MAX_NODE_ID }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.round, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_stored_form_keeps_the_order_and_round_trips(
            a in (0..=MAX_ROUND, 0..=MAX_NODE_ID), b in (0..=MAX_ROUND, 0..=MAX_NODE_ID),
        ) {
            let (a, b) = (Ballot::new(a.0, a.1), Ballot::new(b.0, b.1));
            prop_assert_eq!(Ballot::from_u64(a.to_u64()), a);
            prop_assert_eq!(a.cmp(&b), a.to_u64().cmp(&b.to_u64()));
        }

        #[test]
        fn next_after_is_the_nodes_smallest_ballot_above(seen in (0..MAX_ROUND, 0..=MAX_NODE_ID), node in 1..=MAX_NODE_ID) {
            let seen = Ballot::new(seen.0, seen.1);
            let next = Ballot::next_after(seen, node);
            prop_assert!(next > seen);
            prop_assert_eq!(next.node, node);
            prop_assert!(next.round <= seen.round + 1);
        }
    }
}
