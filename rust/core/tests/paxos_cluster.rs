//! Multi-Paxos clusters of 3 and 5 nodes driven by hand (frames delivered, ticks counted):
//! election, proposals at the leader and at followers, crashes, catch-up by log and by
//! snapshot, reads, partitions, leader stickiness, transfer and flexible quorums.

mod paxos_common;

use bytes::Bytes;
use paxos_common::Net;
use senate_core::driver::NodeRole;
use senate_core::paxos::{PaxosConfig, PaxosNode};
use senate_core::RaftError;

fn payloads(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn all_applied(net: &Net, expected: &[Vec<u8>]) {
    for id in net.ids() {
        assert_eq!(net.app(id), expected, "node {id}");
    }
}

#[test]
fn ticks_elect_one_leader_that_every_node_follows() {
    for n in [3, 5] {
        let mut net = Net::new(n, |_| {});
        let leader = net.elect_by_ticks();
        net.tick_all(5);
        assert_eq!(net.leaders(), vec![leader], "{n} nodes: one leader, and it stays");
        for id in net.ids() {
            assert_eq!(net.node(id).leader(), Some(leader), "{n} nodes: node {id} follows the leader");
            assert_eq!(net.node(id).promised(), net.node(leader).promised());
        }
    }
}

#[test]
fn proposals_at_the_leader_and_at_followers_are_applied_in_one_order_everywhere() {
    for n in [3, 5] {
        let mut net = Net::new(n, |_| {});
        let leader = net.elect_by_ticks();
        let follower = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
        net.propose(leader, b"a").expect("leader takes it");
        net.propose(follower, b"b").expect("a follower forwards it");
        net.propose(leader, b"c").expect("leader takes it");
        net.tick_all(2);
        all_applied(&net, &payloads(&["a", "b", "c"]));
        let chosen = net.node(leader).chosen();
        for id in net.ids() {
            assert_eq!(net.node(id).chosen(), chosen, "node {id} knows every slot chosen");
        }
    }
}

#[test]
fn a_leader_crash_and_reelection_keep_every_chosen_value() {
    let mut net = Net::new(3, |_| {});
    let first = net.elect_by_ticks();
    for data in [b"a", b"b", b"c"] {
        net.propose(first, data).expect("leader");
    }
    net.tick_all(2);
    // An accepted value that only the crashed leader and one follower hold survives too:
    // cut the leader from the other follower before proposing.
    let [f1, f2] = <[u64; 2]>::try_from(net.ids().into_iter().filter(|&id| id != first).collect::<Vec<_>>())
        .expect("two followers");
    net.cut.insert((first, f2));
    net.propose(first, b"d").expect("leader");
    net.crash(first);
    net.heal();
    net.isolate(first);
    let second = net.elect_by_ticks();
    assert_ne!(second, first);
    net.heal();
    net.propose(second, b"e").expect("new leader");
    net.tick_all(20);
    all_applied(&net, &payloads(&["a", "b", "c", "d", "e"]));
    assert_eq!(net.node(f1).leader(), Some(second));
}

#[test]
fn a_follower_that_was_down_catches_up_from_the_log() {
    let mut net = Net::new(5, |_| {});
    let leader = net.elect_by_ticks();
    let down = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    net.isolate(down);
    for data in [b"a", b"b", b"c", b"d"] {
        net.propose(leader, data).expect("a quorum of four is up");
    }
    assert!(net.app(down).is_empty());
    net.crash(down);
    net.heal();
    net.tick_all(10);
    all_applied(&net, &payloads(&["a", "b", "c", "d"]));
    assert_eq!(net.peers[&down].snapshots_restored, 0, "caught up from the log alone");
}

#[test]
fn a_follower_behind_the_leaders_snapshot_catches_up_from_it() {
    let mut net = Net::new(3, |_| {});
    let leader = net.elect_by_ticks();
    let down = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    net.isolate(down);
    for data in [b"a", b"b", b"c"] {
        net.propose(leader, data).expect("a quorum of two is up");
    }
    for id in net.ids() {
        if id != down {
            net.compact(id);
        }
    }
    net.propose(leader, b"d").expect("leader");
    net.heal();
    net.tick_all(10);
    all_applied(&net, &payloads(&["a", "b", "c", "d"]));
    assert_eq!(net.peers[&down].snapshots_restored, 1, "the follower restored the leader's snapshot");
    assert!(net.node(down).status().first_slot > 1, "its log starts after the snapshot");
}

#[test]
fn reads_at_the_leader_and_at_a_follower_return_read_states_at_the_assigned_slot() {
    let mut net = Net::new(3, |_| {});
    let leader = net.elect_by_ticks();
    net.propose(leader, b"a").expect("leader");
    let follower = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    let last = net.node(leader).status().last_slot;
    net.node_mut(leader).read_index(7).expect("leader");
    net.node_mut(follower).read_index(8).expect("forwarded");
    net.stabilize();
    assert_eq!(net.peers[&leader].read_states, vec![(7, last)]);
    assert_eq!(net.peers[&follower].read_states, vec![(8, last)]);
    // A leader cut off from every follower confirms nothing.
    net.isolate(leader);
    net.node_mut(leader).read_index(9).expect("still leader");
    net.stabilize();
    assert_eq!(net.peers[&leader].read_states.len(), 1);
}

#[test]
fn a_minority_partition_makes_no_progress_and_the_majority_elects_a_new_leader() {
    let mut net = Net::new(5, |_| {});
    let old = net.elect_by_ticks();
    net.propose(old, b"a").expect("leader");
    let minority: Vec<u64> = vec![old, net.ids().into_iter().find(|&id| id != old).expect("another")];
    for &a in &minority {
        for b in net.ids() {
            if !minority.contains(&b) {
                net.cut.insert((a, b));
                net.cut.insert((b, a));
            }
        }
    }
    net.propose(old, b"lost").expect("the old leader takes it");
    let chosen_before = net.node(old).chosen();
    net.tick_all(60);
    assert_eq!(net.node(old).chosen(), chosen_before, "the minority chooses nothing");
    assert_ne!(net.node(old).role(), NodeRole::Leader, "check-quorum made the old leader step down");
    let majority_leaders: Vec<u64> = net.leaders().into_iter().filter(|id| !minority.contains(id)).collect();
    assert_eq!(majority_leaders.len(), 1, "the majority elected a leader");
    net.propose(majority_leaders[0], b"b").expect("new leader");
    net.heal();
    net.tick_all(20);
    let app = net.app(old);
    assert!(app == payloads(&["a", "b"]) || app == payloads(&["a", "lost", "b"]), "{app:?}");
    for id in net.ids() {
        assert_eq!(net.app(id), app, "node {id}");
    }
}

#[test]
fn a_node_cut_off_from_a_quorum_never_campaigns() {
    let mut net = Net::new(3, |_| {});
    let leader = net.elect_by_ticks();
    let cut = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    let promised = net.node(cut).promised();
    net.isolate(cut);
    for _ in 0..100 {
        net.tick_all(1);
        assert_ne!(net.node(cut).role(), NodeRole::Candidate, "an isolated node does not campaign");
    }
    assert_eq!(net.node(cut).promised(), promised, "it raised no promise, not even its own");
    net.heal();
    net.tick_all(5);
    assert_eq!(net.leaders(), vec![leader], "rejoining disturbs nobody");
}

#[test]
fn a_node_that_lost_only_its_link_to_the_leader_cannot_depose_it() {
    // The chained scenario: 1 - 2 - 3 with the link 1-3 cut. Node 3 is quorum-connected
    // (through 2) and campaigns, but 2 hears from its leader and refuses.
    let mut net = Net::new(3, |_| {});
    net.tick_all(2);
    net.elect(1);
    net.cut.insert((1, 3));
    net.cut.insert((3, 1));
    for _ in 0..100 {
        net.tick_all(1);
        assert_eq!(net.leaders(), vec![1], "node 1 stays the only leader");
    }
    net.propose(1, b"a").expect("leader");
    net.tick_all(2);
    assert_eq!(net.app(2), payloads(&["a"]), "the leader still chooses with node 2");
}

#[test]
fn leadership_transfers_to_the_target() {
    let mut net = Net::new(3, |_| {});
    let leader = net.elect_by_ticks();
    net.propose(leader, b"a").expect("leader");
    let target = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    net.node_mut(leader).transfer_leader(target).expect("leader");
    net.stabilize();
    assert_eq!(net.leaders(), vec![target]);
    let other = net.ids().into_iter().find(|&id| id != leader && id != target).expect("the third");
    net.node_mut(other).transfer_leader(other).expect("a node may ask for leadership itself");
    net.stabilize();
    assert_eq!(net.leaders(), vec![other]);
    net.propose(other, b"b").expect("leader");
    net.tick_all(2);
    all_applied(&net, &payloads(&["a", "b"]));
}

#[test]
fn flexible_quorums_validate_and_choose_with_a_small_phase_2_quorum() {
    let mut bad = PaxosConfig::new(1, vec![1, 2, 3, 4, 5]);
    bad.phase1_quorum = Some(3);
    bad.phase2_quorum = Some(2);
    match PaxosNode::new(&bad) {
        Err(RaftError::InvalidConfig { field, .. }) => assert_eq!(field, "phase2_quorum"),
        other => panic!("expected InvalidConfig, got {:?}", other.err()),
    }
    let mut net = Net::new(5, |c| {
        c.phase1_quorum = Some(4);
        c.phase2_quorum = Some(2);
    });
    net.tick_all(2);
    net.elect(1);
    // Only node 2 hears the leader now: a phase 2 quorum of two still chooses.
    for id in [3, 4, 5] {
        net.isolate(id);
    }
    net.propose(1, b"a").expect("leader");
    assert_eq!(net.app(1), payloads(&["a"]), "chosen by the leader and node 2");
    net.tick_all(1);
    assert_eq!(net.app(2), payloads(&["a"]), "node 2 learns it from the next heartbeat");
    assert_eq!(net.leaders(), vec![1], "a leader connected to a phase 2 quorum stays");
}

#[test]
fn bytes_of_another_protocol_are_refused() {
    let mut node = PaxosNode::new(&PaxosConfig::new(1, vec![1, 2, 3])).expect("valid");
    let raft = senate_core::Message::new(senate_core::MessageType::Heartbeat, 2, 1, 1);
    let mut frame = Vec::new();
    senate_core::codec::encode_message(&raft, &mut frame);
    assert!(node.step_stream(&Bytes::from(frame)).is_err());
}

#[test]
fn an_accept_that_overwrites_a_slot_keeps_the_accepted_slots_after_it_on_disk() {
    use senate_core::paxos::{Ballot, Body, PaxosMessage};
    use senate_core::{Entry, EntryKind, Storage};
    let mut node = PaxosNode::new(&PaxosConfig::new(2, vec![1, 2, 3])).expect("valid");
    let (old, new) = (Ballot::new(1, 1), Ballot::new(2, 3));
    let entry = |slot: u64, ballot: Ballot, data: &'static [u8]| Entry {
        index: slot,
        term: ballot.to_u64(),
        kind: EntryKind::Normal,
        data: Bytes::from_static(data),
    };
    let accept = |from, ballot: Ballot, first_slot, entries| {
        PaxosMessage::new(from, 2, ballot, Body::Accept { first_slot, chosen: 0, entries })
    };
    node.step(accept(1, old, 1, vec![entry(1, old, b"a"), entry(2, old, b"b"), entry(3, old, b"c")])).expect("valid");
    while node.ready().is_some() {
        node.advance();
    }
    // A new leader whose phase 1 quorum did not include this node proposes slot 1 only.
    node.step(accept(3, new, 1, vec![entry(1, new, b"x")])).expect("valid");
    while node.ready().is_some() {
        node.advance();
    }
    let stored = node.storage().entries(1, 4, usize::MAX).expect("slots 1-3 are on disk");
    let slots: Vec<(u64, Ballot, &[u8])> =
        stored.iter().map(|e| (e.index, Ballot::from_u64(e.term), e.data.as_ref())).collect();
    assert_eq!(slots, vec![(1, new, b"x" as &[u8]), (2, old, b"b"), (3, old, b"c")]);
    assert_eq!(node.storage().hard_state().term, new.to_u64(), "the promise rose with the accept");
}

#[test]
fn a_candidate_far_behind_pages_through_a_promisers_log_and_adopts_all_of_it() {
    let mut net = Net::new(3, |c| c.max_entries_per_msg = 2);
    net.tick_all(2);
    net.elect(1);
    net.isolate(3);
    // Node 1 does not hear node 2 accept: nothing is chosen, so node 3 pages node 2's
    // accepted slots (it would hand its campaign to a node ahead in chosen slots).
    net.cut.insert((2, 1));
    let values: Vec<String> = (0..7).map(|i| format!("v{i}")).collect();
    for v in &values {
        net.propose(1, v.as_bytes()).expect("leader with node 2");
    }
    net.heal();
    net.isolate(1);
    // Node 2 still hears of leader 1: only a transfer-flagged Prepare gets its promise.
    net.node_mut(3).transfer_leader(3).expect("campaign");
    net.stabilize();
    assert_eq!(net.leaders(), vec![1, 3], "node 3 leads (node 1, cut off, does not know yet)");
    net.propose(3, b"after").expect("new leader");
    net.tick_all(2);
    let mut expected: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
    expected.push(b"after".to_vec());
    assert_eq!(net.app(3), expected);
    assert_eq!(net.app(2), expected);
}

#[test]
fn a_candidate_behind_a_promisers_snapshot_catches_up_from_it_then_wins() {
    let mut net = Net::new(3, |_| {});
    net.tick_all(2);
    net.elect(1);
    net.isolate(3);
    for v in [b"a", b"b", b"c"] {
        net.propose(1, v).expect("leader with node 2");
    }
    net.tick_all(1);
    net.compact(1);
    net.compact(2);
    net.heal();
    net.isolate(1);
    net.node_mut(3).transfer_leader(3).expect("campaign");
    net.stabilize();
    assert_ne!(net.node(3).role(), NodeRole::Leader, "it cannot adopt slots node 2 compacted");
    assert_eq!(net.peers[&3].snapshots_restored, 1, "it restored node 2's snapshot instead");
    assert_eq!(net.app(3), payloads(&["a", "b", "c"]));
    net.node_mut(3).transfer_leader(3).expect("campaign again");
    net.stabilize();
    assert_eq!(net.node(3).role(), NodeRole::Leader);
    net.propose(3, b"d").expect("leader");
    net.tick_all(2);
    assert_eq!(net.app(2), payloads(&["a", "b", "c", "d"]));
    assert_eq!(net.app(3), payloads(&["a", "b", "c", "d"]));
}

/// Regression (3 nodes, seed 197 of the fault simulation): a candidate that adopted slots a
/// promiser reported chosen counted their bytes as uncommitted, but they were chosen at once
/// and nothing ever released them; once such leaks filled `max_uncommitted_bytes`, the leader
/// refused every proposal forever while every node followed it.
#[test]
fn a_new_leader_does_not_count_adopted_chosen_slots_against_its_proposal_budget() {
    // Room for four small proposals, fewer than the seven slots the new leader adopts.
    let mut net = Net::new(3, |c| c.max_uncommitted_bytes = 4 * (24 + 8));
    net.tick_all(2);
    net.elect(1);
    net.isolate(3);
    for i in 0..7 {
        net.propose(1, format!("v{i}").as_bytes()).expect("leader with node 2");
    }
    net.tick_all(1);
    assert_eq!(net.node(2).chosen(), 7, "node 2 learned every slot chosen");
    net.heal();
    net.isolate(1);
    net.node_mut(3).transfer_leader(3).expect("campaign");
    net.stabilize();
    assert_eq!(net.node(3).role(), NodeRole::Leader);
    for i in 0..10 {
        net.propose(3, format!("after{i}").as_bytes()).expect("the budget is released as slots are chosen");
        net.tick_all(1);
    }
    assert_eq!(net.app(2).len(), 17);
}

/// Regression (3 nodes, seed 805; 5 nodes, seed 700; 7 nodes, seed 803 of the fault
/// simulation): a candidate paged its promise to itself like a peer's, one slot per
/// `max_entries_per_msg`, and each page waited for a Ready and its `advance`; with many
/// slots of its own after its chosen index the driver went round its Ready loop without end
/// and phase 1 outlasted the election timeout. Its own promise now comes in one Ready.
#[test]
fn a_candidate_reads_its_own_log_in_one_promise_whatever_the_page_size() {
    let mut net = Net::new(3, |c| c.max_entries_per_msg = 1);
    net.tick_all(2);
    net.elect(1);
    // Node 2 accepts seven slots but node 1 never hears it, so nothing is chosen.
    net.isolate(3);
    net.cut.insert((2, 1));
    for i in 0..7 {
        net.propose(1, format!("v{i}").as_bytes()).expect("leader");
    }
    assert_eq!(net.node(2).status().last_slot, 7);
    assert_eq!(net.node(2).chosen(), 0);
    net.heal();
    net.isolate(1);
    net.node_mut(2).campaign();
    let mut readies = 0;
    while let Some(_rd) = net.node_mut(2).ready() {
        // Frames to peers are dropped: only its own promise is under test.
        net.node_mut(2).advance();
        readies += 1;
        assert!(readies <= 3, "the candidate pages its own promise one Ready at a time");
    }
    assert_eq!(net.node(2).role(), NodeRole::Candidate);
    // Node 3 still hears of leader 1: only a transfer-flagged Prepare gets its promise.
    net.node_mut(2).transfer_leader(2).expect("campaign");
    net.stabilize();
    assert_eq!(net.node(2).role(), NodeRole::Leader, "node 3's promise completes its quorum");
    net.propose(2, b"after").expect("leader");
    net.tick_all(2);
    let mut expected: Vec<Vec<u8>> = (0..7).map(|i| format!("v{i}").into_bytes()).collect();
    expected.push(b"after".to_vec());
    assert_eq!(net.app(2), expected);
    assert_eq!(net.app(3), expected);
}

/// Regression (3 nodes, seeds 268, 367 and 394; 7 nodes, seed 707 of the fault simulation;
/// 3 nodes, seed 175 of the CI allow-list): a candidate paging a long log through one slot per round trip
/// needed more than an election timeout, and its timeout restarted phase 1 at a higher ballot
/// from scratch, so it never finished. A page that makes progress now restarts its timer.
#[test]
fn a_candidate_paging_for_longer_than_an_election_timeout_keeps_its_campaign() {
    let mut net = Net::new(3, |c| c.max_entries_per_msg = 1);
    net.tick_all(2);
    net.elect(1);
    net.isolate(3);
    // Nothing is chosen (node 1 does not hear node 2 accept): node 3 pages node 2's accepted
    // slots instead of handing its campaign to a node ahead in chosen slots.
    net.cut.insert((2, 1));
    for i in 0..40 {
        net.propose(1, format!("v{i}").as_bytes()).expect("leader with node 2");
    }
    net.heal();
    net.isolate(1);
    net.node_mut(3).transfer_leader(3).expect("campaign");
    let ballot = net.node(3).promised();
    // One network hop per tick: a page takes two ticks, the 40 slots 80, the election timeout
    // at most 20. Only node 3 ticks (node 2, promised, has no reason to campaign).
    for _ in 0..200 {
        net.node_mut(3).tick();
        for id in net.ids() {
            net.handle_ready(id);
        }
        for _ in 0..net.queue.len() {
            let (from, to, frames) = net.queue.pop_front().expect("counted");
            if !net.cut.contains(&(from, to)) {
                net.node_mut(to).step_frames(&frames).expect("a correct peer's frames step");
            }
        }
        if net.node(3).role() == NodeRole::Leader {
            break;
        }
        assert_eq!(net.node(3).promised(), ballot, "the campaign was restarted at a higher ballot");
    }
    assert_eq!(net.node(3).role(), NodeRole::Leader);
    net.propose(3, b"after").expect("leader");
    net.tick_all(2);
    let mut expected: Vec<Vec<u8>> = (0..40).map(|i| format!("v{i}").into_bytes()).collect();
    expected.push(b"after".to_vec());
    assert_eq!(net.app(3), expected);
    assert_eq!(net.app(2), expected);
}

fn with_leases(config: &mut PaxosConfig) {
    config.lease_ticks = config.max_lease_ticks();
}

/// The highest slot any node knows chosen.
fn max_chosen(net: &Net) -> u64 {
    net.ids().into_iter().map(|id| net.node(id).chosen()).max().unwrap_or(0)
}

#[test]
fn a_lease_read_is_answered_at_once_without_a_round() {
    let mut net = Net::new(3, with_leases);
    let leader = net.elect_by_ticks();
    net.propose(leader, b"a").expect("leader");
    net.tick_all(1);
    let last = net.node(leader).status().last_slot;
    net.node_mut(leader).read_index(7).expect("leader");
    net.handle_ready(leader);
    assert_eq!(net.peers[&leader].read_states, vec![(7, last)], "answered in the same Ready");
    assert!(net.queue.is_empty(), "no heartbeat round went out for it");
    // A follower's read costs one forward and one answer.
    let follower = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    net.node_mut(follower).read_index(8).expect("forwarded");
    net.stabilize();
    assert_eq!(net.peers[&follower].read_states, vec![(8, last)]);
    // Without leases the same read waits for a round.
    let mut plain = Net::new(3, |_| {});
    let leader = plain.elect_by_ticks();
    plain.node_mut(leader).read_index(7).expect("leader");
    plain.handle_ready(leader);
    assert!(plain.peers[&leader].read_states.is_empty());
    assert!(!plain.queue.is_empty(), "a heartbeat round went out");
}

/// The key safety property of leases: a leader cut off from the rest keeps leading (until
/// check-quorum) while the others elect a new leader and choose a value; it may answer reads
/// from its lease only while no value it does not have can be chosen.
#[test]
fn a_deposed_leader_serves_no_stale_lease_read() {
    for n in [3, 5] {
        let mut net = Net::new(n, with_leases);
        let old = net.elect_by_ticks();
        net.propose(old, b"a").expect("leader");
        net.tick_all(1);
        net.isolate(old);
        // (request id, highest slot chosen anywhere when the read was issued)
        let mut issued = Vec::new();
        let (mut new_leader_chose_while_old_led, mut request_id, mut proposed) = (false, 0, false);
        for _ in 0..60 {
            if net.node(old).role() == NodeRole::Leader {
                request_id += 1;
                issued.push((request_id, max_chosen(&net)));
                net.node_mut(old).read_index(request_id).expect("still leader");
            }
            net.tick_all(1);
            let others: Vec<u64> = net.leaders().into_iter().filter(|&id| id != old).collect();
            if let Some(&new) = others.first() {
                if !proposed {
                    net.propose(new, b"b").expect("new leader");
                    proposed = true;
                }
                let chosen_beyond = max_chosen(&net) > net.node(old).status().last_slot;
                new_leader_chose_while_old_led |= chosen_beyond && net.node(old).role() == NodeRole::Leader;
            }
        }
        let served = &net.peers[&old].read_states;
        assert!(!served.is_empty(), "{n} nodes: the lease answered reads early in the partition");
        for &(id, index) in served {
            let (_, chosen_then) = issued.iter().find(|(i, _)| *i == id).expect("issued");
            assert!(index >= *chosen_then, "{n} nodes: read {id} at slot {index}, but {chosen_then} was chosen");
        }
        let last_served = served.iter().map(|(id, _)| *id).max().expect("some");
        let old_last = net.node(old).status().last_slot;
        assert!(
            new_leader_chose_while_old_led,
            "{n} nodes: the new leader chose past slot {old_last} while the old one still led"
        );
        assert!(
            issued.iter().filter(|(id, _)| *id > last_served).any(|(_, chosen)| *chosen > old_last),
            "{n} nodes: reads issued after the new leader chose were refused"
        );
        net.heal();
        net.tick_all(30);
        assert_eq!(net.app(old), payloads(&["a", "b"]), "{n} nodes: the old leader catches up");
    }
}

#[test]
fn a_transfer_voids_the_lease() {
    let mut net = Net::new(3, with_leases);
    let leader = net.elect_by_ticks();
    net.tick_all(1);
    let target = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    net.node_mut(leader).read_index(1).expect("leader");
    net.handle_ready(leader);
    assert_eq!(net.peers[&leader].read_states.len(), 1, "the lease holds");
    net.node_mut(leader).transfer_leader(target).expect("leader");
    net.node_mut(leader).read_index(2).expect("still leader");
    net.handle_ready(leader);
    assert_eq!(net.peers[&leader].read_states.len(), 1, "no read from a lease once TimeoutNow left");
    net.stabilize();
    assert_eq!(net.leaders(), vec![target], "the target won at once, despite the acceptors' refusals");
    net.tick_all(1);
    net.node_mut(target).read_index(3).expect("leader");
    net.handle_ready(target);
    assert_eq!(net.peers[&target].read_states.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3]);
}

#[test]
fn with_leases_a_node_asking_for_leadership_goes_through_its_leader() {
    let mut net = Net::new(3, with_leases);
    let leader = net.elect_by_ticks();
    let other = net.ids().into_iter().find(|&id| id != leader).expect("a follower");
    net.node_mut(other).campaign();
    net.stabilize();
    assert_eq!(net.leaders(), vec![leader], "no campaign against a live leader's lease");
    net.node_mut(other).transfer_leader(other).expect("forwarded to the leader");
    net.stabilize();
    assert_eq!(net.leaders(), vec![other]);
}

#[test]
fn with_leases_an_acceptor_refuses_a_late_transfer_and_a_restarted_one_refuses_for_a_timeout() {
    use senate_core::paxos::{Ballot, Body, PaxosMessage};
    let mut config = PaxosConfig::new(2, vec![1, 2, 3]);
    with_leases(&mut config);
    let mut node = PaxosNode::new(&config).expect("valid");
    let settle = |node: &mut PaxosNode| -> Vec<PaxosMessage> {
        let mut out = Vec::new();
        while let Some(rd) = node.ready() {
            for (_, frames) in rd.messages.iter().chain(rd.persisted_messages.iter()) {
                let mut buf = Bytes::from(frames.clone());
                while let Ok(Some((m, used))) =
                    senate_core::codec::decode_paxos_message(&buf, senate_core::codec::DEFAULT_MAX_FRAME_BYTES)
                {
                    out.push(m);
                    buf = buf.slice(used..);
                }
            }
            node.advance();
        }
        out
    };
    let heartbeat = |ballot: Ballot| {
        PaxosMessage::new(ballot.node, 2, ballot, Body::Heartbeat { leader: true, chosen: 0, read_round: 1 })
    };
    let prepare =
        |ballot: Ballot, transfer| PaxosMessage::new(ballot.node, 2, ballot, Body::Prepare { from_slot: 1, transfer });
    let (first, second) = (Ballot::new(1, 1), Ballot::new(1, 3));
    node.step(heartbeat(first)).expect("valid");
    // Leader 1 handed over to node 3, which won; node 2 acknowledges leader 3 now.
    node.step(prepare(second, Some(first))).expect("valid");
    node.step(heartbeat(second)).expect("valid");
    settle(&mut node);
    assert_eq!(node.promised(), second);
    // A transfer leader 1 asked for, arriving late (its target is node 1 itself here): refused.
    node.step(prepare(Ballot::new(2, 1), Some(first))).expect("valid");
    let replies = settle(&mut node);
    assert!(matches!(replies.as_slice(), [m] if matches!(m.body, Body::Nack { .. })), "{replies:?}");
    assert_eq!(node.promised(), second, "the promise did not move");
    // A transfer leader 3 asked for: granted.
    node.step(prepare(Ballot::new(2, 1), Some(second))).expect("valid");
    settle(&mut node);
    assert_eq!(node.promised(), Ballot::new(2, 1));
    // Restarted, it refuses a candidate for its first election timeout, then grants it.
    node.crash_restart(0).expect("restart");
    for tick in 0..config.election_timeout_ticks {
        node.step(prepare(Ballot::new(3, 3), None)).expect("valid");
        settle(&mut node);
        assert_eq!(node.promised(), Ballot::new(2, 1), "tick {tick}: refused");
        node.tick();
    }
    // (Above any ballot it may have campaigned with on its last tick.)
    node.step(prepare(Ballot::new(10, 3), None)).expect("valid");
    settle(&mut node);
    assert_eq!(node.promised(), Ballot::new(10, 3), "granted after an election timeout");
}

fn followers(net: &Net, leader: u64) -> Vec<u64> {
    net.ids().into_iter().filter(|&id| id != leader).collect()
}

/// Messages of each kind queued from `from` to `to` (frames decoded).
fn queued(net: &Net, from: u64, to: u64, kind: fn(&senate_core::paxos::Body) -> bool) -> usize {
    let mut count = 0;
    for (f, t, frames) in &net.queue {
        if (*f, *t) != (from, to) {
            continue;
        }
        let mut buf = frames.clone();
        while let Ok(Some((m, used))) =
            senate_core::codec::decode_paxos_message(&buf, senate_core::codec::DEFAULT_MAX_FRAME_BYTES)
        {
            count += kind(&m.body) as usize;
            buf = buf.slice(used..);
        }
    }
    count
}

#[test]
fn the_chosen_index_goes_at_once_to_a_follower_that_waits_for_it() {
    let mut net = Net::new(3, |_| {});
    let leader = net.elect_by_ticks();
    net.tick_all(1);
    let [waiting, other] = <[u64; 2]>::try_from(followers(&net, leader)).expect("two followers");
    // A forwarded proposal: its follower applies it without a tick; the other follower, which
    // waits for nothing, learns it with the next heartbeat.
    net.propose(waiting, b"a").expect("forwarded");
    assert_eq!(net.app(waiting), payloads(&["a"]), "applied without waiting for a tick");
    assert!(net.app(other).is_empty(), "no extra message to a follower that waits for nothing");
    net.tick_all(1);
    assert_eq!(net.app(other), payloads(&["a"]));
    // A read answered at a slot the follower holds but does not know chosen yet.
    net.propose(leader, b"b").expect("leader");
    assert_eq!(net.app(other), payloads(&["a"]), "chosen, not yet told");
    net.node_mut(other).read_index(9).expect("forwarded");
    net.stabilize();
    let last = net.node(leader).status().last_slot;
    assert_eq!(net.peers[&other].read_states, vec![(9, last)]);
    assert_eq!(net.app(other), payloads(&["a", "b"]), "it can serve the read without a tick");
}

#[test]
fn an_unreachable_follower_is_probed_instead_of_pipelined_into() {
    let mut net = Net::new(3, |c| c.max_entries_per_msg = 1);
    let leader = net.elect_by_ticks();
    net.tick_all(1);
    let lost = followers(&net, leader)[0];
    let is_accept = |b: &senate_core::paxos::Body| matches!(b, senate_core::paxos::Body::Accept { .. });
    let propose = |net: &mut Net, values: &[&str]| {
        for v in values {
            net.node_mut(leader).propose(Bytes::copy_from_slice(v.as_bytes())).expect("leader");
        }
        net.handle_ready(leader);
        let accepts = queued(net, leader, lost, is_accept);
        net.cut.insert((leader, lost));
        net.stabilize();
        net.cut.clear();
        accepts
    };
    assert_eq!(propose(&mut net, &["a", "b", "c"]), 3, "pipelined: one Accept per slot");
    net.node_mut(leader).report_unreachable(lost);
    assert_eq!(propose(&mut net, &["d", "e", "f"]), 1, "probing: one Accept until it answers");
    assert_eq!(propose(&mut net, &["g"]), 0, "still waiting for the probe's answer");
    net.tick_all(10);
    let all = payloads(&["a", "b", "c", "d", "e", "f", "g"]);
    assert_eq!(net.app(lost), all, "once it answers, it catches up");
    assert_eq!(propose(&mut net, &["h", "i"]), 2, "pipelined again");
}

/// Regression (5 nodes, seed 367 of the fault simulation, with no fault at all): with a phase 2
/// quorum of one the leader chose every slot alone, so its proposal budget never filled;
/// clients proposed faster than one entry per round trip replicates, the followers fell
/// hundreds of slots behind, and the liveness marker was not applied everywhere in time. The
/// budget now counts the chosen slots a majority does not hold too.
#[test]
fn a_leader_choosing_alone_stays_within_its_budget_of_a_majority() {
    let entry_bytes = 24 + 2;
    let mut net = Net::new(5, |c| {
        c.phase1_quorum = Some(5);
        c.phase2_quorum = Some(1);
        c.max_uncommitted_bytes = 4 * entry_bytes;
    });
    net.tick_all(2);
    net.elect(1);
    // Two followers of four keep up: with the leader they are a majority, nothing binds.
    net.isolate(4);
    net.isolate(5);
    for i in 0..8 {
        net.propose(1, format!("a{i}").as_bytes()).expect("a majority keeps up");
    }
    // Three followers cut off: the leader still chooses alone, a budget's worth.
    net.isolate(3);
    let chosen = net.node(1).chosen();
    for i in 0..4 {
        net.propose(1, format!("b{i}").as_bytes()).expect("within the budget");
    }
    assert_eq!(net.node(1).chosen(), chosen + 4, "chosen by the leader alone");
    match net.propose(1, b"b4") {
        Err(RaftError::ProposalDropped { reason: senate_core::DropReason::UncommittedLimit }) => {}
        other => panic!("expected the uncommitted limit, got {other:?}"),
    }
    net.heal();
    net.tick_all(3);
    net.propose(1, b"b4").expect("a majority holds the slots again");
    net.tick_all(2);
    let mut expected = payloads(&["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"]);
    expected.extend(payloads(&["b0", "b1", "b2", "b3", "b4"]));
    all_applied(&net, &expected);
}

/// Regression (5 nodes, seed 697; 7 nodes, seed 367 of the fault simulation): with a phase 1
/// quorum of every node, each candidate behind the old leader paged its log one slot per round
/// trip, for longer than an election timeout, and other nodes' campaigns overtook it, round
/// after round. A candidate now hands its campaign to a promiser more than a page of chosen
/// slots ahead of it.
#[test]
fn a_candidate_far_behind_a_promiser_hands_the_campaign_to_it() {
    let mut net = Net::new(3, |c| c.max_entries_per_msg = 1);
    net.tick_all(2);
    net.elect(1);
    net.isolate(3);
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    for v in &values {
        net.propose(1, v.as_bytes()).expect("leader with node 2");
    }
    net.tick_all(1);
    assert_eq!(net.node(2).chosen(), 10, "node 2 learned every slot chosen");
    net.heal();
    net.isolate(1);
    net.node_mut(3).transfer_leader(3).expect("campaign");
    net.stabilize();
    assert_eq!(net.leaders(), vec![1, 2], "node 2 leads (node 1, cut off, does not know yet)");
    assert_eq!(net.node(3).leader(), Some(2));
    net.propose(3, b"after").expect("forwarded to the new leader");
    net.tick_all(2);
    let mut expected: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
    expected.push(b"after".to_vec());
    assert_eq!(net.app(2), expected);
    assert_eq!(net.app(3), expected);
}

/// Regression (7 nodes, seed 560 of the fault simulation): every node held the same chosen
/// index and a tail of unchosen slots, which a candidate paged from each promiser one slot per
/// round trip; a promiser with a short log, done after one page, campaigned against it an
/// election timeout later, round after round. The candidate now tells the promisers it has
/// done with that its campaign goes on.
#[test]
fn a_promiser_done_early_does_not_campaign_while_the_candidate_pages_another() {
    let mut net = Net::new(5, |c| c.max_entries_per_msg = 1);
    net.tick_all(2);
    net.elect(1);
    // Node 2 accepts 40 slots that nothing chooses (no phase 2 quorum hears them).
    for id in [3, 4, 5] {
        net.isolate(id);
    }
    for i in 0..40 {
        net.propose(1, format!("v{i}").as_bytes()).expect("leader");
    }
    assert_eq!(net.node(2).chosen(), 0);
    net.heal();
    net.isolate(1);
    net.isolate(5);
    // Node 3 needs the promises of nodes 2 (40 slots, one a page) and 4 (none).
    net.node_mut(3).transfer_leader(3).expect("campaign");
    let ballot = net.node(3).promised();
    // One network hop per tick: the pages take 80 ticks, node 4's timeout at most 20.
    for _ in 0..200 {
        for id in [2, 3, 4] {
            net.node_mut(id).tick();
        }
        for id in net.ids() {
            net.handle_ready(id);
        }
        for _ in 0..net.queue.len() {
            let (from, to, frames) = net.queue.pop_front().expect("counted");
            if !net.cut.contains(&(from, to)) {
                net.node_mut(to).step_frames(&frames).expect("a correct peer's frames step");
            }
        }
        if net.node(3).role() == NodeRole::Leader {
            break;
        }
        assert_eq!(net.node(4).role(), NodeRole::Follower, "node 4 campaigned against the candidate");
        assert_eq!(net.node(3).promised(), ballot, "the campaign was overtaken");
    }
    assert_eq!(net.node(3).role(), NodeRole::Leader);
    net.propose(3, b"after").expect("new leader");
    net.tick_all(2);
    let mut expected: Vec<Vec<u8>> = (0..40).map(|i| format!("v{i}").into_bytes()).collect();
    expected.push(b"after".to_vec());
    assert_eq!(net.app(3), expected);
    assert_eq!(net.app(4), expected);
}
