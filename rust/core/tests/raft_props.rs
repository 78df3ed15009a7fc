//! Property tests of the protocol: random schedules of ticks, proposals, message loss,
//! partitions and crashes never make two nodes apply different entries, and once the network
//! heals every node applies everything that was committed. proptest shrinks a failure to a
//! short schedule.

mod common;

use common::Net;
use proptest::prelude::*;
use senate_core::Storage;

#[derive(Clone, Debug)]
enum Op {
    Tick(u64),
    Propose(u64, u8),
    DeliverAll,
    DropNext,
    Isolate(u64),
    Heal,
    Crash(u64),
    Compact(u64),
    ReadIndex(u64),
}

fn op(nodes: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..=nodes).prop_map(Op::Tick),
        4 => (1..=nodes, any::<u8>()).prop_map(|(n, b)| Op::Propose(n, b)),
        6 => Just(Op::DeliverAll),
        2 => Just(Op::DropNext),
        1 => (1..=nodes).prop_map(Op::Isolate),
        1 => Just(Op::Heal),
        1 => (1..=nodes).prop_map(Op::Crash),
        1 => (1..=nodes).prop_map(Op::Compact),
        1 => (1..=nodes).prop_map(Op::ReadIndex),
    ]
}

/// No two nodes applied different payloads at the same position (applied lists are prefixes
/// of one another).
fn assert_applied_agree(net: &Net) {
    let lists: Vec<Vec<Vec<u8>>> = net.peers.keys().map(|&id| net.applied_data(id)).collect();
    let longest = lists.iter().max_by_key(|l| l.len()).expect("nodes exist");
    for l in &lists {
        assert_eq!(&longest[..l.len()], &l[..], "applied sequences diverge");
    }
}

fn run(nodes: u64, ops: &[Op]) {
    let mut net = Net::new(nodes, |c| c.election_timeout_ticks = 4);
    for (i, o) in ops.iter().enumerate() {
        match *o {
            Op::Tick(id) => net.node_mut(id).tick(),
            Op::Propose(id, b) => {
                let _ = net.propose(id, &[b, i as u8]);
            }
            Op::DeliverAll => {
                for id in 1..=nodes {
                    net.handle_ready(id);
                }
                while net.deliver_one() {}
            }
            Op::DropNext => {
                net.queue.pop_front();
            }
            Op::Isolate(id) => net.isolate(id),
            Op::Heal => net.heal(),
            Op::Crash(id) => net.crash_restart(id),
            Op::Compact(id) => {
                let applied = net.node(id).applied_index();
                if applied > net.node(id).storage().snapshot().meta.index {
                    net.compact(id, applied);
                }
            }
            Op::ReadIndex(id) => {
                let _ = net.read_index(id, i as u64);
            }
        }
        assert_applied_agree(&net);
    }
    // Heal and let time pass: everyone converges on one leader and one applied sequence.
    net.heal();
    for _ in 0..200 {
        net.tick_all();
        net.stabilize();
    }
    assert_applied_agree(&net);
    let commit: Vec<u64> = net.peers.keys().map(|&id| net.node(id).commit_index()).collect();
    assert!(commit.windows(2).all(|w| w[0] == w[1]), "commit indexes differ after healing: {commit:?}");
    let lens: Vec<usize> = net.peers.keys().map(|&id| net.applied_data(id).len()).collect();
    assert!(lens.windows(2).all(|w| w[0] == w[1]), "applied counts differ after healing: {lens:?}");
    let leaders = net.peers.keys().filter(|&&id| net.role(id) == senate_core::Role::Leader).count();
    assert_eq!(leaders, 1, "exactly one leader after healing");
    // Liveness: a new proposal commits and is applied everywhere.
    let leader = *net.peers.keys().find(|&&id| net.role(id) == senate_core::Role::Leader).expect("a leader");
    net.propose(leader, b"marker").expect("the leader takes proposals");
    net.stabilize();
    net.spread_commit();
    for &id in net.peers.keys() {
        assert_eq!(
            net.applied_data(id).last().map(Vec::as_slice),
            Some(&b"marker"[..]),
            "node {id} applied the marker"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(96), ..ProptestConfig::default() })]

    #[test]
    fn three_nodes_agree_under_random_schedules(ops in proptest::collection::vec(op(3), 1..300)) {
        run(3, &ops);
    }

    #[test]
    fn five_nodes_agree_under_random_schedules(ops in proptest::collection::vec(op(5), 1..300)) {
        run(5, &ops);
    }
}
