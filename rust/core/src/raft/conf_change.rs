//! Membership changes: what a change asks for ([`ConfChange`]) and how it moves a configuration
//! ([`ConfState`]) on, with etcd's ConfChangeV2 semantics (etcd-io/raft `confchange/`).
//!
//! A change is a list of single changes (add a voter, add a learner, remove a member) and a
//! transition:
//!
//! * the simple path: one voter added or removed at most (any number of learner changes), in
//!   one step, when the transition is `Auto` and there is one single change. A majority of the
//!   old voters and one of the new always overlap, so one step is safe;
//! * the joint path (Raft thesis 4.3): any other change enters the joint configuration
//!   C_old,new (`voters` = new, `voters_outgoing` = old), in which elections and commits need a
//!   majority of both; a second change with no single changes leaves it (C_new). With `Auto`
//!   and `Implicit` the leader proposes the leave itself once the joint configuration is applied
//!   (`auto_leave`); with `Explicit` the application does.
//!
//! A change takes effect when its entry is handed out to apply (it is committed), on every node
//! alike, so the configuration is a function of the applied log. The leader lets at most one
//! change be uncommitted or unapplied at a time (`Raft::pending_conf_index`), which makes every
//! change apply to the configuration it was checked against. Only the leader checks a change
//! before proposing it; a committed change that does not apply (it could only come from a
//! buggy or older leader) is skipped by every node alike.
//!
//! Demoting a voter to a learner in one change (etcd's `learners_next`) is refused: remove it,
//! then add it as a learner.

use crate::raft::config::MAX_PEERS;
use crate::raft::message::{ConfState, NodeId, NO_NODE};

/// What one single change does to one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeType {
    /// Makes `node_id` a voter: a new node, or a learner promoted.
    AddVoter = 0,
    /// Makes a new node a learner (it receives the log, does not vote, does not count).
    AddLearner = 1,
    /// Removes a voter or a learner.
    RemoveNode = 2,
}

impl ConfChangeType {
    pub fn from_tag(tag: u8) -> Option<ConfChangeType> {
        match tag {
            0 => Some(ConfChangeType::AddVoter),
            1 => Some(ConfChangeType::AddLearner),
            2 => Some(ConfChangeType::RemoveNode),
            _ => None,
        }
    }

    /// The type named `name` (as `as_str` spells it).
    pub fn from_name(name: &str) -> Option<ConfChangeType> {
        [ConfChangeType::AddVoter, ConfChangeType::AddLearner, ConfChangeType::RemoveNode]
            .into_iter()
            .find(|t| t.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConfChangeType::AddVoter => "add-voter",
            ConfChangeType::AddLearner => "add-learner",
            ConfChangeType::RemoveNode => "remove",
        }
    }
}

/// How a change with several single changes (or a voter change) is carried out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConfChangeTransition {
    /// The simple path when it is safe (one single change), else joint with auto-leave.
    #[default]
    Auto = 0,
    /// Always joint, left by the leader on its own (auto-leave).
    Implicit = 1,
    /// Always joint, left when the application proposes an empty change.
    Explicit = 2,
}

impl ConfChangeTransition {
    pub fn from_tag(tag: u8) -> Option<ConfChangeTransition> {
        match tag {
            0 => Some(ConfChangeTransition::Auto),
            1 => Some(ConfChangeTransition::Implicit),
            2 => Some(ConfChangeTransition::Explicit),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfChangeSingle {
    pub change_type: ConfChangeType,
    pub node_id: NodeId,
    /// Where the member listens for its peers (`host:port`), carried with an addition so
    /// that every node learns it from the log; empty: not given (a removal, or an older
    /// entry). Opaque to the core, at most [`MAX_MEMBER_ADDRESS_BYTES`].
    pub address: String,
}

/// The longest member address a change may carry (a DNS name is at most 253 bytes).
pub const MAX_MEMBER_ADDRESS_BYTES: usize = 255;

impl ConfChangeSingle {
    /// A single change without an address.
    pub fn new(change_type: ConfChangeType, node_id: NodeId) -> ConfChangeSingle {
        ConfChangeSingle { change_type, node_id, address: String::new() }
    }
}

/// A membership change as proposed and stored in the log (`EntryKind::ConfChange`). No single
/// changes: leave the joint configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfChange {
    pub transition: ConfChangeTransition,
    pub changes: Vec<ConfChangeSingle>,
}

/// Single changes in one `ConfChange`, at most: a change names each node once, and a cluster
/// has at most `MAX_PEERS` voters and as many learners.
pub const MAX_CONF_CHANGES: usize = 2 * MAX_PEERS;

impl ConfChange {
    /// Adds `node_id` as a voter (a new node, or a learner promoted), on the simple path.
    pub fn add_voter(node_id: NodeId) -> ConfChange {
        ConfChange::single(ConfChangeType::AddVoter, node_id)
    }

    pub fn add_learner(node_id: NodeId) -> ConfChange {
        ConfChange::single(ConfChangeType::AddLearner, node_id)
    }

    /// Adds `node_id`, listening for its peers at `address`, as a learner (`voter` false) or
    /// a voter.
    pub fn add_member_at(node_id: NodeId, address: &str, voter: bool) -> ConfChange {
        let change_type = if voter { ConfChangeType::AddVoter } else { ConfChangeType::AddLearner };
        let mut change = ConfChange::single(change_type, node_id);
        change.changes[0].address = address.to_string();
        change
    }

    pub fn remove(node_id: NodeId) -> ConfChange {
        ConfChange::single(ConfChangeType::RemoveNode, node_id)
    }

    /// Leaves the joint configuration (needed only after an `Explicit` change).
    pub fn leave_joint() -> ConfChange {
        ConfChange::default()
    }

    fn single(change_type: ConfChangeType, node_id: NodeId) -> ConfChange {
        ConfChange {
            transition: ConfChangeTransition::Auto,
            changes: vec![ConfChangeSingle::new(change_type, node_id)],
        }
    }

    pub fn is_leave_joint(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether this change enters a joint configuration rather than taking the simple path.
    /// (etcd's `EnterJoint`: any transition but `Auto`, or more than one single change.)
    pub fn enters_joint(&self) -> bool {
        !self.is_leave_joint() && (self.transition != ConfChangeTransition::Auto || self.changes.len() > 1)
    }

    /// The change in words, for traces and errors: `add-voter 4, remove 1 (auto)`.
    pub fn describe(&self) -> String {
        if self.is_leave_joint() {
            return "leave-joint".to_string();
        }
        let changes: Vec<String> =
            self.changes.iter().map(|c| format!("{} {}", c.change_type.as_str(), c.node_id)).collect();
        format!("{} ({:?})", changes.join(", "), self.transition)
    }
}

/// The configuration `conf` moves to when `change` is applied, or why it cannot.
pub fn apply_conf_change(conf: &ConfState, change: &ConfChange) -> Result<ConfState, String> {
    if change.is_leave_joint() {
        return leave_joint(conf);
    }
    if conf.is_joint() {
        return Err("the configuration is joint: leave it before another change".into());
    }
    if change.changes.len() > MAX_CONF_CHANGES {
        return Err(format!("{} single changes, at most {MAX_CONF_CHANGES}", change.changes.len()));
    }
    let mut next = conf.clone();
    for single in &change.changes {
        apply_single(&mut next, single)?;
    }
    if next.voters.is_empty() {
        return Err("the change would remove every voter".into());
    }
    if next.voters.len() > MAX_PEERS {
        return Err(format!("the change would make {} voters, at most {MAX_PEERS}", next.voters.len()));
    }
    if change.enters_joint() {
        next.voters_outgoing = conf.voters.clone();
        next.auto_leave = change.transition != ConfChangeTransition::Explicit;
    } else if symmetric_difference_count(&conf.voters, &next.voters) > 1 {
        return Err("more than one voter changed on the simple path: use a joint change".into());
    }
    Ok(next)
}

fn leave_joint(conf: &ConfState) -> Result<ConfState, String> {
    if !conf.is_joint() {
        return Err("the configuration is not joint: there is nothing to leave".into());
    }
    let mut next = conf.clone();
    next.voters_outgoing.clear();
    next.auto_leave = false;
    Ok(next)
}

fn apply_single(conf: &mut ConfState, single: &ConfChangeSingle) -> Result<(), String> {
    let id = single.node_id;
    if id == NO_NODE {
        return Err("node id 0 is reserved".into());
    }
    if single.address.len() > MAX_MEMBER_ADDRESS_BYTES {
        return Err(format!(
            "the address of node {id} has {} bytes, at most {MAX_MEMBER_ADDRESS_BYTES}",
            single.address.len()
        ));
    }
    match single.change_type {
        ConfChangeType::AddVoter => {
            remove_sorted(&mut conf.learners, id);
            insert_sorted(&mut conf.voters, id);
        }
        ConfChangeType::AddLearner => {
            if conf.voters.binary_search(&id).is_ok() {
                return Err(format!("node {id} is a voter: demoting is not supported (remove it, then add it)"));
            }
            insert_sorted(&mut conf.learners, id);
        }
        ConfChangeType::RemoveNode => {
            let was_member = remove_sorted(&mut conf.voters, id) | remove_sorted(&mut conf.learners, id);
            if !was_member {
                return Err(format!("node {id} is not a member"));
            }
        }
    }
    Ok(())
}

fn insert_sorted(ids: &mut Vec<NodeId>, id: NodeId) {
    if let Err(position) = ids.binary_search(&id) {
        ids.insert(position, id);
    }
}

fn remove_sorted(ids: &mut Vec<NodeId>, id: NodeId) -> bool {
    match ids.binary_search(&id) {
        Ok(position) => {
            ids.remove(position);
            true
        }
        Err(_) => false,
    }
}

/// Ids in exactly one of two sorted lists.
fn symmetric_difference_count(a: &[NodeId], b: &[NodeId]) -> usize {
    a.iter().filter(|id| b.binary_search(id).is_err()).count()
        + b.iter().filter(|id| a.binary_search(id).is_err()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters(ids: &[NodeId]) -> ConfState {
        ConfState::from_voters(ids.to_vec())
    }

    #[test]
    fn simple_changes_move_one_voter() {
        let conf = voters(&[1, 2, 3]);
        let added = apply_conf_change(&conf, &ConfChange::add_voter(4)).unwrap();
        assert_eq!(added.voters, vec![1, 2, 3, 4]);
        assert!(!added.is_joint());
        let removed = apply_conf_change(&added, &ConfChange::remove(1)).unwrap();
        assert_eq!(removed.voters, vec![2, 3, 4]);
        assert_eq!(apply_conf_change(&removed, &ConfChange::remove(9)), Err("node 9 is not a member".into()));
    }

    #[test]
    fn learners_are_added_promoted_and_never_demoted() {
        let conf = apply_conf_change(&voters(&[1, 2, 3]), &ConfChange::add_learner(4)).unwrap();
        assert_eq!((conf.voters.clone(), conf.learners.clone()), (vec![1, 2, 3], vec![4]));
        let promoted = apply_conf_change(&conf, &ConfChange::add_voter(4)).unwrap();
        assert_eq!((promoted.voters.clone(), promoted.learners.clone()), (vec![1, 2, 3, 4], vec![]));
        assert!(apply_conf_change(&promoted, &ConfChange::add_learner(2)).is_err());
    }

    #[test]
    fn several_changes_enter_and_leave_a_joint_configuration() {
        let replace = ConfChange {
            transition: ConfChangeTransition::Auto,
            changes: vec![
                ConfChangeSingle::new(ConfChangeType::AddVoter, 4),
                ConfChangeSingle::new(ConfChangeType::RemoveNode, 1),
            ],
        };
        let joint = apply_conf_change(&voters(&[1, 2, 3]), &replace).unwrap();
        assert_eq!((joint.voters.clone(), joint.voters_outgoing.clone()), (vec![2, 3, 4], vec![1, 2, 3]));
        assert!(joint.is_joint() && joint.auto_leave);
        assert!(joint.is_voter(1) && joint.is_voter(4));
        assert!(apply_conf_change(&joint, &ConfChange::add_voter(5)).is_err(), "no change while joint");
        let left = apply_conf_change(&joint, &ConfChange::leave_joint()).unwrap();
        assert_eq!(left, voters(&[2, 3, 4]));
        assert!(apply_conf_change(&left, &ConfChange::leave_joint()).is_err());
    }

    #[test]
    fn the_simple_path_refuses_two_voter_changes_and_no_voters() {
        let conf = voters(&[1]);
        assert!(apply_conf_change(&conf, &ConfChange::remove(1)).is_err());
        let explicit = ConfChange { transition: ConfChangeTransition::Explicit, ..ConfChange::add_voter(2) };
        let joint = apply_conf_change(&conf, &explicit).unwrap();
        assert!(joint.is_joint() && !joint.auto_leave);
    }
}
