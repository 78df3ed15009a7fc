//! Who decides: the voter set and majority arithmetic. A `JointConfig` holds an incoming and an
//! (empty, for now) outgoing majority so that joint consensus can be added without a rewrite:
//! every decision already takes both halves into account.

use crate::raft::message::{Index, NodeId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    Pending,
    Lost,
    Won,
}

/// A set of voters deciding by simple majority. Invariant: sorted, no duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MajorityConfig {
    pub voters: Vec<NodeId>,
}

impl MajorityConfig {
    pub fn new(mut voters: Vec<NodeId>) -> MajorityConfig {
        voters.sort_unstable();
        voters.dedup();
        MajorityConfig { voters }
    }

    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The highest index acknowledged by a majority, given each voter's acknowledged index.
    /// An empty config commits everything (`Index::MAX`), so it is neutral in a joint config.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Index) -> Index {
        let n = self.voters.len();
        if n == 0 {
            return Index::MAX;
        }
        let mut stack = [0 as Index; 16];
        let mut heap;
        let values: &mut [Index] = if n <= stack.len() {
            &mut stack[..n]
        } else {
            heap = vec![0; n];
            &mut heap[..]
        };
        for (slot, &id) in values.iter_mut().zip(&self.voters) {
            *slot = acked(id);
        }
        values.sort_unstable_by(|a, b| b.cmp(a));
        values[self.quorum() - 1]
    }

    /// The outcome of an election given each voter's answer (`None`: not yet answered).
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        if self.voters.is_empty() {
            return VoteResult::Won;
        }
        let (mut granted, mut missing) = (0, 0);
        for &id in &self.voters {
            match vote(id) {
                Some(true) => granted += 1,
                Some(false) => {}
                None => missing += 1,
            }
        }
        let q = self.quorum();
        if granted >= q {
            VoteResult::Won
        } else if granted + missing >= q {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }
}

/// The configuration in force: `incoming`, and during a membership change also `outgoing`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointConfig {
    pub incoming: MajorityConfig,
    /// Empty outside a membership change (membership is fixed for now).
    pub outgoing: MajorityConfig,
}

impl JointConfig {
    pub fn new(voters: Vec<NodeId>) -> JointConfig {
        JointConfig { incoming: MajorityConfig::new(voters), outgoing: MajorityConfig::default() }
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.incoming.voters.binary_search(&id).is_ok() || self.outgoing.voters.binary_search(&id).is_ok()
    }

    /// Every voter of either half, ascending, without duplicates.
    pub fn ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.incoming.voters.iter().chain(&self.outgoing.voters).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Index) -> Index {
        self.incoming.committed_index(&acked).min(self.outgoing.committed_index(&acked))
    }

    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        match (self.incoming.vote_result(&vote), self.outgoing.vote_result(&vote)) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// True when the voters for which `active` holds form a quorum (in both halves).
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.vote_result(|id| Some(active(id))) == VoteResult::Won
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_index_is_the_majority_minimum() {
        let c = MajorityConfig::new(vec![1, 2, 3]);
        let acked = [0, 5, 3, 9];
        assert_eq!(c.committed_index(|id| acked[id as usize]), 5);
        let c5 = MajorityConfig::new(vec![1, 2, 3, 4, 5]);
        let acked5 = [0, 1, 2, 3, 4, 5];
        assert_eq!(c5.committed_index(|id| acked5[id as usize]), 3);
    }

    #[test]
    fn vote_result_pending_won_lost() {
        let c = MajorityConfig::new(vec![1, 2, 3]);
        assert_eq!(c.vote_result(|id| (id == 1).then_some(true)), VoteResult::Pending);
        assert_eq!(c.vote_result(|id| (id != 3).then_some(true)), VoteResult::Won);
        assert_eq!(c.vote_result(|id| (id != 1).then_some(false)), VoteResult::Lost);
    }

    #[test]
    fn joint_config_with_empty_outgoing_is_the_incoming_majority() {
        let j = JointConfig::new(vec![3, 1, 2]);
        assert_eq!(j.ids(), vec![1, 2, 3]);
        assert_eq!(j.committed_index(|id| id * 10), 20);
        assert!(j.has_quorum(|id| id >= 2));
        assert!(!j.has_quorum(|id| id == 3));
    }
}
