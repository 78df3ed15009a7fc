//! Membership changes, scene by scene: adding and removing voters on the simple path, joint
//! configurations entered and left (on their own or when asked), learners that follow the log
//! without voting and are promoted, a leader that removes itself, a change refused while
//! another is pending, and a restart that recovers the configuration from the log and from a
//! snapshot.

mod common;

use common::{Net, Peer};
use senate_core::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, Config, DropReason, MemStorage,
    MemberRole, NodeId, RaftError, RawNode, Role, Storage,
};

/// Adds node `id` to the network as a fresh node that knows the cluster `voters` but is not a
/// member yet (the first step of adding a machine).
fn start_new_node(net: &mut Net, id: NodeId, voters: &[NodeId]) {
    let mut cfg = Config::new(id, voters.to_vec());
    cfg.seed = id * 7919;
    let raw = RawNode::new(&cfg, MemStorage::new(voters.to_vec())).expect("a node outside the voters starts");
    net.peers.insert(id, Peer { raw, applied: Vec::new(), read_states: Vec::new(), snapshots_restored: 0 });
}

fn conf(net: &Net, id: NodeId) -> ConfState {
    net.node(id).conf_state().clone()
}

fn change(transition: ConfChangeTransition, changes: &[(ConfChangeType, NodeId)]) -> ConfChange {
    ConfChange {
        transition,
        changes: changes.iter().map(|&(change_type, node_id)| ConfChangeSingle::new(change_type, node_id)).collect(),
    }
}

/// Ticks every node up to `rounds` times, stabilizing after each, until `done` holds.
fn tick_until(net: &mut Net, rounds: usize, done: impl Fn(&Net) -> bool) -> bool {
    for _ in 0..rounds {
        if done(net) {
            return true;
        }
        net.tick_all();
        net.stabilize();
    }
    done(net)
}

fn leaders(net: &Net) -> Vec<NodeId> {
    net.peers.keys().copied().filter(|&id| net.role(id) == Role::Leader).collect()
}

#[test]
fn a_voter_is_added_on_the_simple_path_and_catches_up() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    net.propose(1, b"before").unwrap();
    net.stabilize();
    start_new_node(&mut net, 4, &[1, 2, 3]);
    assert_eq!(net.node(4).status().member_role(), MemberRole::NonMember);
    net.node_mut(1).propose_conf_change(&ConfChange::add_voter(4)).unwrap();
    net.stabilize();
    net.spread_commit();
    for id in 1..=4 {
        assert_eq!(conf(&net, id), ConfState::from_voters(vec![1, 2, 3, 4]), "node {id}");
    }
    net.propose(1, b"after").unwrap();
    net.stabilize();
    net.spread_commit();
    assert_eq!(net.applied_data(4), vec![b"before".to_vec(), b"after".to_vec()]);
    // Four voters: a majority is three, so two nodes cut off stop commits.
    net.isolate(3);
    net.isolate(4);
    net.propose(1, b"stalled").unwrap();
    net.stabilize();
    assert_eq!(net.applied_data(1).len(), 2, "two of four voters do not commit");
}

#[test]
fn a_learner_follows_the_log_but_neither_votes_nor_counts() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    start_new_node(&mut net, 4, &[1, 2, 3]);
    net.node_mut(1).propose_conf_change(&ConfChange::add_learner(4)).unwrap();
    net.stabilize();
    net.spread_commit();
    let learner_conf = ConfState { voters: vec![1, 2, 3], learners: vec![4], ..ConfState::default() };
    assert_eq!(conf(&net, 4), learner_conf);
    assert_eq!(net.node(1).status().members()[3], (4, MemberRole::Learner));
    net.propose(1, b"x").unwrap();
    net.stabilize();
    net.spread_commit();
    assert_eq!(net.applied_data(4), vec![b"x".to_vec()], "a learner receives the log");
    let peer_4 = net.node(1).status().peers.into_iter().find(|p| p.id == 4).expect("the leader tracks its learner");
    assert_eq!(peer_4.match_index, net.node(1).status().last_index);

    // The leader and its learner alone are no quorum: nothing commits.
    net.isolate(2);
    net.isolate(3);
    let commit = net.node(1).status().commit;
    net.propose(1, b"needs a voter").unwrap();
    net.stabilize();
    assert_eq!(net.node(1).status().commit, commit, "a learner's acknowledgement does not count");
    net.heal();

    // A learner never campaigns, however long it hears nothing.
    net.isolate(4);
    for _ in 0..100 {
        net.node_mut(4).tick();
        net.stabilize();
        assert_eq!(net.role(4), Role::Follower);
    }
    net.heal();

    // Promoted, it votes and counts.
    net.spread_commit();
    net.node_mut(1).propose_conf_change(&ConfChange::add_voter(4)).unwrap();
    net.stabilize();
    net.spread_commit();
    assert_eq!(conf(&net, 4), ConfState::from_voters(vec![1, 2, 3, 4]));
    net.isolate(1);
    assert!(tick_until(&mut net, 200, |net| leaders(net).iter().any(|&id| id != 1)), "the rest elect a leader");
}

#[test]
fn a_replacement_enters_a_joint_configuration_and_leaves_it_on_its_own() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    start_new_node(&mut net, 4, &[1, 2, 3]);
    let replace = change(ConfChangeTransition::Auto, &[(ConfChangeType::AddVoter, 4), (ConfChangeType::RemoveNode, 3)]);
    net.node_mut(1).propose_conf_change(&replace).unwrap();
    net.stabilize();
    net.spread_commit();
    for id in [1, 2, 4] {
        assert_eq!(conf(&net, id), ConfState::from_voters(vec![1, 2, 4]), "node {id} left the joint configuration");
    }
    // Node 3 may never learn that the leave committed (the leader stops writing to it once it
    // is no member): it still counts itself an outgoing voter, and its campaigns do not
    // disturb the new configuration (pre-vote and check-quorum: the others hear their leader).
    assert_eq!(net.node(1).status().peers.iter().map(|p| p.id).collect::<Vec<_>>(), vec![2, 4]);
    let term = net.node(1).status().term;
    for _ in 0..100 {
        net.tick_all();
        net.stabilize();
    }
    assert_eq!((net.role(1), net.node(1).status().term), (Role::Leader, term));
    net.propose(1, b"after").unwrap();
    net.stabilize();
    net.spread_commit();
    assert_eq!(net.applied_data(4), vec![b"after".to_vec()]);
}

#[test]
fn a_joint_configuration_commits_only_with_both_majorities() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    start_new_node(&mut net, 4, &[1, 2, 3]);
    start_new_node(&mut net, 5, &[1, 2, 3]);
    let explicit = change(
        ConfChangeTransition::Explicit,
        &[
            (ConfChangeType::AddVoter, 4),
            (ConfChangeType::AddVoter, 5),
            (ConfChangeType::RemoveNode, 2),
            (ConfChangeType::RemoveNode, 3),
        ],
    );
    net.node_mut(1).propose_conf_change(&explicit).unwrap();
    net.stabilize();
    net.spread_commit();
    let joint = ConfState { voters: vec![1, 4, 5], voters_outgoing: vec![1, 2, 3], ..ConfState::default() };
    for id in 1..=5 {
        assert_eq!(conf(&net, id), joint, "node {id} is joint");
    }
    assert!(net.node(1).status().is_joint());
    assert_eq!(net.node(1).status().members()[1], (2, MemberRole::OutgoingVoter));
    // No other change while joint, but the leave.
    let refused = net.node_mut(1).propose_conf_change(&ConfChange::add_learner(6));
    assert!(matches!(refused, Err(RaftError::InvalidConfig { field: "conf_change", .. })), "{refused:?}");

    // The new majority {1, 4, 5} alone does not commit: the old one {1, 2, 3} must too.
    net.isolate(2);
    net.isolate(3);
    let commit = net.node(1).status().commit;
    net.propose(1, b"joint").unwrap();
    net.stabilize();
    assert_eq!(net.node(1).status().commit, commit);
    net.heal();
    net.spread_commit();
    assert!(net.node(1).status().commit > commit);

    // And the old majority alone does not either.
    net.isolate(4);
    net.isolate(5);
    let commit = net.node(1).status().commit;
    net.propose(1, b"joint again").unwrap();
    net.stabilize();
    assert_eq!(net.node(1).status().commit, commit);
    net.heal();
    net.spread_commit();

    net.node_mut(1).propose_conf_change(&ConfChange::leave_joint()).unwrap();
    net.stabilize();
    net.spread_commit();
    for id in [1, 4, 5] {
        assert_eq!(conf(&net, id), ConfState::from_voters(vec![1, 4, 5]), "node {id}");
    }
    net.isolate(2);
    net.isolate(3);
    net.propose(1, b"new majority").unwrap();
    net.stabilize();
    net.spread_commit();
    assert_eq!(net.applied_data(5).last().map(Vec::as_slice), Some(&b"new majority"[..]));
}

#[test]
fn a_leader_that_removes_itself_steps_down_once_the_change_commits() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    net.node_mut(1).propose_conf_change(&ConfChange::remove(1)).unwrap();
    assert_eq!(net.role(1), Role::Leader, "it leads until the change is applied");
    net.stabilize();
    assert_eq!(net.role(1), Role::Follower);
    assert_eq!(conf(&net, 1), ConfState::from_voters(vec![2, 3]));
    assert!(tick_until(&mut net, 200, |net| leaders(net).iter().any(|&id| id != 1)), "2 or 3 takes over");
    let leader = leaders(&net)[0];
    net.propose(leader, b"without 1").unwrap();
    net.stabilize();
    net.spread_commit();
    let other = if leader == 2 { 3 } else { 2 };
    assert_eq!(net.applied_data(other), vec![b"without 1".to_vec()]);
    assert_ne!(net.role(1), Role::Leader);
}

#[test]
fn a_change_is_refused_while_another_is_not_applied() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    net.node_mut(1).propose_conf_change(&ConfChange::add_learner(4)).unwrap();
    let refused = net.node_mut(1).propose_conf_change(&ConfChange::add_learner(5));
    assert_eq!(refused, Err(RaftError::ProposalDropped { reason: DropReason::ConfChangePending }));
    let follower = net.node_mut(2).propose_conf_change(&ConfChange::add_learner(5));
    assert!(matches!(follower, Err(RaftError::NotLeader { .. })), "{follower:?}");
    net.stabilize();
    let bad = net.node_mut(1).propose_conf_change(&ConfChange::remove(9));
    assert!(matches!(bad, Err(RaftError::InvalidConfig { field: "conf_change", .. })), "{bad:?}");
    net.node_mut(1).propose_conf_change(&ConfChange::add_learner(5)).unwrap();
    net.stabilize();
    assert_eq!(conf(&net, 1).learners, vec![4, 5]);
}

#[test]
fn a_ready_reports_the_configuration_when_it_changes() {
    let mut net = Net::new(1, |_| {});
    net.elect(1);
    assert!(!net.node(1).has_ready());
    net.node_mut(1).propose_conf_change(&ConfChange::add_learner(2)).unwrap();
    let mut reported = Vec::new();
    while net.node(1).has_ready() {
        let rd = net.node_mut(1).ready();
        let entries = rd.entries.clone();
        net.node_mut(1).storage_mut().persist(None, entries, rd.hard_state).unwrap();
        reported.extend(rd.conf_state);
        net.node_mut(1).advance();
    }
    let expected = ConfState { voters: vec![1], learners: vec![2], ..ConfState::default() };
    assert_eq!(reported, vec![expected]);
}

#[test]
fn a_restart_recovers_the_configuration_from_the_log_and_from_a_snapshot() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    start_new_node(&mut net, 4, &[1, 2, 3]);
    net.node_mut(1).propose_conf_change(&ConfChange::add_learner(4)).unwrap();
    net.stabilize();
    net.spread_commit();
    net.node_mut(1).propose_conf_change(&ConfChange::add_voter(4)).unwrap();
    net.stabilize();
    net.spread_commit();
    let four = ConfState::from_voters(vec![1, 2, 3, 4]);
    // From the log: the snapshot (none yet) still says {1, 2, 3}.
    net.crash_restart(2);
    assert_eq!(conf(&net, 2), four);
    // From a snapshot that covers the changes.
    let applied = net.node(3).status().applied;
    net.compact(3, applied);
    assert_eq!(net.node(3).storage().snapshot().meta.conf_state, four);
    net.crash_restart(3);
    assert_eq!(conf(&net, 3), four);
    // A snapshot in the middle of a joint configuration keeps it joint.
    net.stabilize();
    start_new_node(&mut net, 5, &[1, 2, 3, 4]);
    let explicit =
        change(ConfChangeTransition::Explicit, &[(ConfChangeType::AddVoter, 5), (ConfChangeType::RemoveNode, 4)]);
    net.node_mut(1).propose_conf_change(&explicit).unwrap();
    net.stabilize();
    net.spread_commit();
    let applied = net.node(2).status().applied;
    net.compact(2, applied);
    net.crash_restart(2);
    let joint = ConfState { voters: vec![1, 2, 3, 5], voters_outgoing: vec![1, 2, 3, 4], ..ConfState::default() };
    assert_eq!(conf(&net, 2), joint);
}

#[test]
fn a_new_node_catches_up_from_a_snapshot_that_predates_its_addition() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    for i in 0..5u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize();
    let applied = net.node(1).status().applied;
    net.compact(1, applied);
    start_new_node(&mut net, 4, &[1, 2, 3]);
    net.node_mut(1).propose_conf_change(&ConfChange::add_voter(4)).unwrap();
    net.stabilize();
    net.spread_commit();
    assert_eq!(net.snapshots_restored(4), 1);
    assert_eq!(conf(&net, 4), ConfState::from_voters(vec![1, 2, 3, 4]));
    assert_eq!(net.applied_data(4).len(), 5);
}

/// The durable log: a node whose membership changes were written to a real WAL, and one of
/// whose snapshots holds a joint configuration with a learner, comes back with that
/// configuration (the snapshot's, moved on by the committed changes after it).
#[test]
fn a_node_restarted_from_its_wal_recovers_the_configuration() {
    use senate_core::codec::encode_conf_change;
    use senate_core::{Entry, EntryKind, HardState, Snapshot, SnapshotMeta, Wal, WalOptions};
    let dir = tempfile::TempDir::new().unwrap();
    let options = WalOptions { lock_dir: false, ..WalOptions::default() };
    let joint =
        ConfState { voters: vec![1, 2, 4], voters_outgoing: vec![1, 2, 3], learners: vec![5], auto_leave: true };
    let entry = |index, kind, data| Entry { index, term: 2, kind, data };
    {
        let (mut wal, _) = Wal::open(dir.path(), options.clone()).unwrap();
        let entries = vec![
            entry(1, EntryKind::NoOp, bytes::Bytes::new()),
            entry(2, EntryKind::Normal, bytes::Bytes::from_static(b"x")),
            entry(3, EntryKind::ConfChange, encode_conf_change(&ConfChange::leave_joint())),
            entry(4, EntryKind::ConfChange, encode_conf_change(&ConfChange::add_learner(6))),
        ];
        wal.write(None, &entries, Some(HardState::new(2, 1, 3))).unwrap();
        let snapshot =
            Snapshot { meta: SnapshotMeta { index: 2, term: 2, conf_state: joint.clone() }, data: bytes::Bytes::new() };
        wal.compact(&snapshot).unwrap();
    }
    let (_wal, recovered) = Wal::open(dir.path(), options).unwrap();
    assert_eq!(recovered.snapshot.as_ref().map(|s| s.meta.conf_state.clone()), Some(joint));
    let storage =
        MemStorage::recovered(vec![1, 2, 3], recovered.hard_state, recovered.snapshot, recovered.entries).unwrap();
    let raw = RawNode::new(&Config::new(1, vec![1, 2, 3]), storage).unwrap();
    // Entry 3 (the leave) is committed and in force; entry 4 is not committed yet.
    let expected = ConfState { voters: vec![1, 2, 4], learners: vec![5], ..ConfState::default() };
    assert_eq!(raw.conf_state(), &expected);
}
