//! A member that comes back with an empty disk (`raft::empty_disk`): it neither votes nor
//! campaigns until a leader gave it a log, and the leader notices the loss and replicates to
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
