//! A member that comes back with an empty disk (`raft::empty_disk`): it neither votes nor
//! campaigns until a leader gave it the committed log, and the leader notices the loss and replicates to
//! it again. Deterministic: the in-memory network of `common`.

mod common;

use common::Net;
use senate_core::raft::empty_disk::EmptyDisk;
use senate_core::{MemStorage, NodeId, RawNode, Role};

/// Replaces `id`'s storage with an empty one, as a machine whose disk was lost and that
/// restarts under the same id.
fn wipe(net: &mut Net, id: NodeId) {
    let peer = net.peers.get_mut(&id).expect("peer exists");
    let mut cfg = peer.raw.config().clone();
    cfg.applied = 0;
    cfg.seed = cfg.seed.wrapping_add(17);
    peer.raw = RawNode::new(&cfg, MemStorage::new(cfg.voters.clone())).expect("restart");
    peer.applied.clear();
    net.queue.retain(|m| m.from != id && m.to != id);
}

fn empty_disk(net: &Net, id: NodeId) -> EmptyDisk {
    net.node(id).status().empty_disk
}

/// Ticks every node `n` times, stabilizing after each.
fn run_ticks(net: &mut Net, n: usize) {
    for _ in 0..n {
        net.tick_all();
        net.stabilize();
    }
}

#[test]
fn a_new_cluster_elects_from_blank_disks_and_nobody_abstains() {
    let mut net = Net::new(3, |cfg| cfg.empty_disk_guard = true);
    net.elect(1);
    net.propose(1, b"a").unwrap();
    net.stabilize();
    net.spread_commit();
    for id in 1..=3 {
        assert_eq!(empty_disk(&net, id), EmptyDisk::No, "node {id}");
        assert_eq!(net.applied_data(id), vec![b"a".to_vec()], "node {id}");
    }
}

/// Entries committed by {1, 3} while 2 was cut off; 3 loses its disk, 1 goes away. 2's log
/// lacks the committed entries: had 3 voted for it, 2 would lead and the committed entries
/// would be lost. 3 abstains, so nobody leads until 1 is back, and 1 then gives 3 its log.
#[test]
fn a_wiped_node_does_not_elect_a_leader_that_lacks_committed_entries() {
    let mut net = Net::new(3, |cfg| cfg.empty_disk_guard = true);
    net.elect(1);
    net.isolate(2);
    for i in 0..5u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize();
    net.spread_commit();
    let committed = net.node(1).status().commit;
    assert!(committed >= 6, "the entries committed without node 2: {committed}");
    assert!(net.node(2).status().last_index < committed);

    wipe(&mut net, 3);
    net.heal();
    net.isolate(1);
    run_ticks(&mut net, 200); // many election timeouts: node 2 campaigns again and again
    assert_ne!(net.role(2), Role::Leader, "node 2 won with the wiped node's vote");
    assert_ne!(net.role(3), Role::Leader);
    assert_eq!(empty_disk(&net, 3), EmptyDisk::Abstaining);
    assert_eq!(net.node(3).status().vote, 0, "the wiped node voted");

    // Node 1 comes back: it (or a node it makes catch up) leads, and 3 gets the log back.
    net.heal();
    run_ticks(&mut net, 200);
    let leader = (1..=3).find(|&id| net.role(id) == Role::Leader).expect("a leader");
    assert_ne!(leader, 3, "the wiped node campaigned");
    net.propose(leader, b"after").unwrap();
    run_ticks(&mut net, 5);
    assert_eq!(empty_disk(&net, 3), EmptyDisk::Recovered);
    let log = |id| net.stored_entries(id);
    assert_eq!(log(3), log(leader), "the wiped node holds the leader's log again");
    assert_eq!(net.applied_data(3), net.applied_data(leader));
}

/// The leader's follower lost its disk while nothing new is written: the leader would send
/// it nothing (its match index says it holds everything). The heartbeat's commit index shows
/// the follower the loss, the leader records it and replicates again, here by snapshot.
#[test]
fn the_leader_notices_a_lost_log_and_sends_it_again_by_snapshot() {
    let mut net = Net::new(3, |cfg| cfg.empty_disk_guard = true);
    net.elect(1);
    for i in 0..10u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize();
    net.spread_commit();
    let commit = net.node(1).status().commit;
    net.compact(1, commit);
    wipe(&mut net, 2);

    net.node_mut(1).tick(); // a heartbeat
    net.stabilize();
    let peer = |net: &Net| net.node(1).status().peers.into_iter().find(|p| p.id == 2).expect("peer 2");
    // Seen and replicated at once: the snapshot went out with the probe.
    assert_eq!(net.snapshots_restored(2), 1, "the wiped follower got no snapshot");
    assert_eq!(empty_disk(&net, 2), EmptyDisk::Recovered);
    assert_eq!(net.node(2).status().vote, 1, "the log from leader 1 counts as the vote in its term");
    assert_eq!(peer(&net).match_index, commit);
    assert_eq!(peer(&net).lost_log_at, 0, "the loss is cleared once the follower matches again");
    run_ticks(&mut net, 3);
    assert_eq!(net.applied_data(2), net.applied_data(1));
}

/// Until the follower matches again, the leader reports the loss.
#[test]
fn the_leader_reports_a_lost_log_until_the_follower_matches_again() {
    let mut net = Net::new(3, |cfg| cfg.empty_disk_guard = true);
    net.elect(1);
    for i in 0..3u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize();
    net.spread_commit();
    let peer3 = |net: &Net| net.node(1).status().peers.into_iter().find(|p| p.id == 3).expect("peer 3");
    let matched = peer3(&net).match_index;
    assert!(matched > 0);
    wipe(&mut net, 3);
    // One heartbeat round, step by step: the answers reach the leader, its probe has not left.
    net.node_mut(1).tick();
    net.handle_ready(1);
    while net.deliver_one() {}
    net.handle_ready(2);
    net.handle_ready(3);
    while net.deliver_one() {}
    assert_eq!(peer3(&net).lost_log_at, matched, "the loss is reported at the match index it undid");
    assert_eq!(peer3(&net).match_index, 0);
    assert_eq!(empty_disk(&net, 3), EmptyDisk::Abstaining);
    run_ticks(&mut net, 3);
    assert_eq!(peer3(&net).lost_log_at, 0);
    assert!(peer3(&net).match_index >= matched);
    assert_eq!(empty_disk(&net, 3), EmptyDisk::Recovered);
}

/// Delivers messages one at a time (each node's ready handled first) until `id` holds at least
/// `index` entries: a wiped node caught mid-replication, holding part of the leader's log.
fn deliver_until_holds(net: &mut Net, id: NodeId, index: u64) {
    for _ in 0..10_000 {
        if net.node(id).status().last_index >= index {
            return;
        }
        let ids: Vec<NodeId> = net.peers.keys().copied().collect();
        let mut busy = false;
        for other in ids {
            busy |= net.handle_ready(other);
        }
        busy |= net.deliver_one();
        assert!(busy, "node {id} never reached index {index}");
    }
    panic!("node {id} never reached index {index}");
}

/// Commits entries with {1, 3} while 2 is cut off, 2's log ending at `lagging_last`; wipes 3
/// and lets leader 1 replicate to it until 3 holds `lagging_last` entries (a part of the
/// committed log); then 1 goes away. 2 is as up to date as 3: had 3 voted for it, 2 would
/// lead without the entries committed after `lagging_last`. 3 must abstain until a leader
/// told it a commit index its log reaches, and then hold the whole committed log. With
/// `crash`, 3 crashes and restarts while it holds that part of the log: no longer blank, it
/// must still abstain (the abstention is durable).
fn a_partly_refilled_node_does_not_elect_a_lagging_leader(net: &mut Net, lagging_last: u64, crash: bool) {
    let committed = net.node(1).status().commit;
    assert!(committed > lagging_last, "committed {committed}, lagging node at {lagging_last}");
    assert_eq!(net.node(2).status().last_index, lagging_last);

    wipe(net, 3);
    net.heal();
    net.node_mut(1).tick(); // a heartbeat shows 3 the loss; the leader replicates again
    deliver_until_holds(net, 3, lagging_last);
    assert!(net.node(3).status().last_index < committed, "3 got the whole log: the case is not set up");
    if crash {
        net.handle_ready(3);
        assert!(net.node(3).storage().hard_state().abstaining, "the abstention is not durable");
        net.crash_restart(3);
        assert!(net.node(3).status().last_index >= lagging_last, "the restarted node lost its part of the log");
        assert_eq!(empty_disk(net, 3), EmptyDisk::Abstaining, "the restart ended the abstention");
    }
    net.isolate(1);
    net.queue.clear();
    run_ticks(net, 200); // many election timeouts: node 2 campaigns again and again
    assert_ne!(net.role(2), Role::Leader, "node 2 won with the vote of a node holding part of the log");
    assert_ne!(net.role(3), Role::Leader);
    assert_eq!(empty_disk(net, 3), EmptyDisk::Abstaining, "a part of the log ended the abstention");

    net.heal();
    run_ticks(net, 200);
    let leader = (1..=3).find(|&id| net.role(id) == Role::Leader).expect("a leader");
    assert_ne!(leader, 3, "the wiped node campaigned");
    run_ticks(net, 5);
    assert_eq!(empty_disk(net, 3), EmptyDisk::Recovered);
    assert!(net.node(3).status().commit >= committed);
    assert_eq!(net.applied_data(3), net.applied_data(leader));
    // Recovering is durable too: a restart now finds a node like any other.
    net.handle_ready(3);
    assert!(!net.node(3).storage().hard_state().abstaining, "the recovery is not durable");
    net.crash_restart(3);
    assert_eq!(empty_disk(net, 3), EmptyDisk::No);
}

/// One entry per append, node 2 cut off after the first entry, five more committed: the wiped
/// node receives the log in pieces and holds a prefix of it after each, shorter than the
/// commit index every one of those appends states.
fn one_entry_per_append_with_a_lagging_node() -> (Net, u64) {
    let mut net = Net::new(3, |cfg| {
        cfg.empty_disk_guard = true;
        cfg.max_entries_per_msg = 1;
    });
    net.elect(1);
    net.propose(1, b"both").unwrap();
    net.stabilize();
    net.spread_commit();
    let lagging_last = net.node(2).status().last_index;
    net.isolate(2);
    for i in 0..5u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize();
    net.spread_commit();
    (net, lagging_last)
}

#[test]
fn a_wiped_node_holding_part_of_the_log_does_not_elect_a_lagging_leader() {
    let (mut net, lagging_last) = one_entry_per_append_with_a_lagging_node();
    a_partly_refilled_node_does_not_elect_a_lagging_leader(&mut net, lagging_last, false);
}

/// The wiped node crashes again while it abstains, holding a part of the log: it comes back
/// abstaining (before the abstention was durable, it came back voting and 2 won).
#[test]
fn a_wiped_node_that_crashes_while_abstaining_still_abstains() {
    let (mut net, lagging_last) = one_entry_per_append_with_a_lagging_node();
    a_partly_refilled_node_does_not_elect_a_lagging_leader(&mut net, lagging_last, true);
}

/// The leader's log is compacted at an index below its commit index: the wiped node gets a
/// snapshot that ends where the lagging node's log ends, short of the commit index.
#[test]
fn a_wiped_node_holding_a_snapshot_short_of_the_commit_does_not_elect_a_lagging_leader() {
    let mut net = Net::new(3, |cfg| cfg.empty_disk_guard = true);
    net.elect(1);
    for i in 0..3u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize();
    net.spread_commit();
    let lagging_last = net.node(2).status().last_index;
    net.compact(1, lagging_last);
    net.isolate(2);
    for i in 3..8u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize();
    net.spread_commit();
    a_partly_refilled_node_does_not_elect_a_lagging_leader(&mut net, lagging_last, true);
    assert!(net.snapshots_restored(3) >= 1, "the wiped node got no snapshot");
}

/// A new leader's commit index may lag what its predecessor committed, until it commits an
/// entry of its own term: reaching that stale index is not holding the committed log.
/// Five nodes; 1 commits 3..7 with 2 and 4 while 3 and 5 are cut off, and 4 is not told.
/// 2 is wiped, 1 dies, 4 wins (3 and 5 vote for its longer log) with commit index 2 and
/// sends 2 the log one entry per append; 4 dies while 2 holds [1, 2]. 3's log ends there
/// too: with 2's vote, 3 and 5 would elect a leader lacking 3..7.
#[test]
fn a_wiped_node_does_not_take_a_new_leaders_lagging_commit_index_for_the_whole_log() {
    let mut net = Net::new(5, |cfg| {
        cfg.empty_disk_guard = true;
        cfg.max_entries_per_msg = 1;
        cfg.check_quorum = false; // 3 and 5 may vote at once, without waiting out a lease
    });
    net.elect(1);
    net.propose(1, b"all").unwrap();
    net.stabilize();
    net.spread_commit();
    let lagging_last = net.node(3).status().last_index;
    net.isolate(3);
    net.isolate(5);
    for i in 0..5u8 {
        net.propose(1, &[i]).unwrap();
    }
    net.stabilize(); // no tick: 2 and 4 hold 3..7 but are told commit index `lagging_last`
    let committed = net.node(1).status().commit;
    assert!(committed > lagging_last, "1 committed {committed}");
    assert_eq!(net.node(4).status().commit, lagging_last);

    wipe(&mut net, 2);
    net.heal();
    net.isolate(1);
    net.node_mut(4).campaign();
    deliver_until_holds(&mut net, 2, lagging_last);
    assert_eq!(net.role(4), Role::Leader);
    assert!(net.node(4).status().commit < committed, "4 committed its own entry: the case is not set up");
    net.isolate(4);
    net.queue.clear();
    run_ticks(&mut net, 200);
    for id in [2, 3, 5] {
        assert_ne!(net.role(id), Role::Leader, "node {id} leads without entries 1 committed");
    }
    assert_eq!(empty_disk(&net, 2), EmptyDisk::Abstaining, "a lagging commit index ended the abstention");
}
