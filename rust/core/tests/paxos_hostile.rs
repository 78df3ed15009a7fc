//! Property: nothing a peer can send makes a Multi-Paxos node panic. Arbitrary bytes go into
//! `step_stream`; arbitrary messages (any type, any ballot, slots and ranges) into leaders,
//! followers and candidates. Each is stepped or refused with a typed error; a refused message
//! changes no state; the node keeps producing Readies and ticking afterwards.

mod paxos_common;

use bytes::Bytes;
use paxos_common::Net;
use proptest::prelude::*;
use senate_core::codec::encode_paxos_message;
use senate_core::paxos::{Ballot, Body, PaxosMessage, PaxosNode};
use senate_core::{ConfState, Entry, EntryKind, Snapshot, SnapshotMeta};

fn small() -> impl Strategy<Value = u64> {
    prop_oneof![0..12u64, Just(u64::MAX), Just(1 << 62), any::<u64>()]
}

fn ballot() -> impl Strategy<Value = Ballot> {
    (prop_oneof![0..4u64, Just(senate_core::paxos::MAX_ROUND)], 0..5u64).prop_map(|(r, n)| Ballot::new(r, n))
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    (small(), proptest::collection::vec((ballot(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..3)), 0..4))
        .prop_map(|(first, items)| {
            items
                .into_iter()
                .enumerate()
                .map(|(i, (b, noop, data))| Entry {
                    index: first.wrapping_add(i as u64),
                    term: b.to_u64(),
                    kind: if noop { EntryKind::NoOp } else { EntryKind::Normal },
                    data: Bytes::from(data),
                })
                .collect()
        })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (small(), proptest::option::of(ballot()))
            .prop_map(|(from_slot, transfer)| Body::Prepare { from_slot, transfer }),
        (small(), small(), small(), entries()).prop_map(|(chosen, first_slot, last_slot, entries)| Body::Promise {
            chosen,
            first_slot,
            last_slot,
            entries
        }),
        ballot().prop_map(|promised| Body::Nack { promised }),
        (small(), small(), entries()).prop_map(|(first_slot, chosen, entries)| Body::Accept {
            first_slot,
            chosen,
            entries
        }),
        small().prop_map(|accepted_to| Body::Accepted { accepted_to }),
        small().prop_map(|position| Body::AcceptRejected { position }),
        (any::<bool>(), small(), small()).prop_map(|(leader, chosen, read_round)| Body::Heartbeat {
            leader,
            chosen,
            read_round
        }),
        (small(), small()).prop_map(|(read_round, accepted_to)| Body::HeartbeatAck { read_round, accepted_to }),
        (small(), small(), any::<bool>()).prop_map(|(index, term, learners)| Body::Snapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index,
                    term,
                    conf_state: ConfState {
                        voters: vec![1, 2, 3],
                        learners: if learners { vec![4] } else { Vec::new() },
                        ..ConfState::default()
                    }
                },
                data: Bytes::new(),
            }
        }),
        Just(Body::TimeoutNow),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3), 0..3)
            .prop_map(|c| Body::Propose { commands: c.into_iter().map(Bytes::from).collect() }),
        small().prop_map(|request_id| Body::ReadIndex { request_id }),
        (small(), small()).prop_map(|(request_id, index)| Body::ReadIndexResp { request_id, index }),
        (0..5u64).prop_map(|target| Body::TransferLeader { target }),
    ]
}

fn message() -> impl Strategy<Value = PaxosMessage> {
    (0..5u64, prop_oneof![Just(1u64), 0..4u64], ballot(), body()).prop_map(|(from, to, ballot, body)| {
        // Entries of an Accept carry the message's ballot on the wire; match it here so a
        // message stepped directly is one that could have been decoded.
        let body = match body {
            Body::Accept { first_slot, chosen, entries } => Body::Accept {
                first_slot,
                chosen,
                entries: entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| Entry { index: first_slot.wrapping_add(i as u64), term: ballot.to_u64(), ..e })
                    .collect(),
            },
            other => other,
        };
        PaxosMessage::new(from, to, ballot, body)
    })
}

/// A 3-node cluster with a few chosen slots, node 1 in the given role: 0 leader, 1 follower,
/// 2 candidate.
fn cluster(role_of_1: u8) -> Net {
    let mut net = Net::new(3, |_| {});
    net.tick_all(2);
    let leader = if role_of_1 == 0 { 1 } else { 2 };
    net.elect(leader);
    for i in 0..4u8 {
        net.propose(leader, &[i]).expect("leader");
    }
    net.tick_all(1);
    net.compact(1);
    if role_of_1 == 2 {
        net.isolate(1);
        net.node_mut(1).campaign();
        net.stabilize();
    }
    net.queue.clear();
    net
}

/// Takes and advances every Ready without judging what it applies (forged messages may make
/// a node accept anything; only panics matter here).
fn drain(node: &mut PaxosNode) {
    for _ in 0..100 {
        let Some(rd) = node.ready() else { return };
        assert!(rd.persisted_messages.is_empty(), "in-ready persistence sends everything at once");
        node.advance();
    }
}

/// A Promise to node 1 from node 2 or 3, with any slot range: the
/// forgeries a candidate must refuse (a `last_slot` far past what it reports, entries that skip
/// the page asked for) among ones a correct acceptor could send.
fn promise_to_candidate() -> impl Strategy<Value = PaxosMessage> {
    let last_slot = prop_oneof![0..12u64, Just(1 << 40), Just(1 << 62)];
    (2..4u64, 0..4u64, last_slot, 0..12u64, 0..4usize).prop_map(|(from, chosen, last_slot, first, count)| {
        let entries = (0..count as u64)
            .map(|i| Entry {
                index: first + i,
                term: Ballot::new(1, 1).to_u64(),
                kind: EntryKind::Normal,
                data: Bytes::new(),
            })
            .collect();
        let body = Body::Promise { chosen: chosen.min(last_slot), first_slot: 1, last_slot, entries };
        // The ballot is set to the candidate's by the test.
        PaxosMessage::new(from, 1, Ballot::ZERO, body)
    })
}

fn is_invalid(result: &senate_core::Result<()>) -> bool {
    matches!(result, Err(senate_core::RaftError::InvalidMessage { .. }))
}

#[test]
fn a_forged_promise_with_a_huge_last_slot_is_refused_and_changes_nothing() {
    let mut net = cluster(2);
    let node = net.node_mut(1);
    let ballot = node.promised();
    let before = (node.status(), node.has_ready());
    for last_slot in [1 << 40, senate_core::paxos::MAX_SLOT] {
        // No entries, yet slots claimed far past the chosen ones the candidate asked from.
        let forged = Body::Promise { chosen: 4, first_slot: 1, last_slot, entries: Vec::new() };
        let result = node.step(PaxosMessage::new(2, 1, ballot, forged));
        assert!(is_invalid(&result), "{result:?}");
        assert_eq!((node.status(), node.has_ready()), before);
    }
    // Entries that skip the page asked for (slot 5 on).
    let entry = Entry { index: 9, term: Ballot::new(1, 1).to_u64(), kind: EntryKind::Normal, data: Bytes::new() };
    let skipping = Body::Promise { chosen: 4, first_slot: 1, last_slot: 9, entries: vec![entry] };
    assert!(is_invalid(&node.step(PaxosMessage::new(2, 1, ballot, skipping))));
    assert_eq!((node.status(), node.has_ready()), before);
    // Entries that are not at consecutive slots (only a message stepped directly can have
    // them: frames carry the first slot alone).
    let at = |index| Entry { index, term: Ballot::new(1, 1).to_u64(), kind: EntryKind::Normal, data: Bytes::new() };
    for body in [
        Body::Accept { first_slot: 5, chosen: 0, entries: vec![at(5), at(7)] },
        Body::Promise { chosen: 4, first_slot: 1, last_slot: 9, entries: vec![at(5), at(9)] },
    ] {
        let ballot = if matches!(body, Body::Accept { .. }) { Ballot::new(9, 2) } else { ballot };
        assert!(is_invalid(&node.step(PaxosMessage::new(2, 1, ballot, body))));
        assert_eq!((node.status(), node.has_ready()), before);
    }
    // The promise node 2 would send: taken, and with node 1's own it wins.
    let correct = Body::Promise { chosen: 4, first_slot: 1, last_slot: 4, entries: Vec::new() };
    node.step(PaxosMessage::new(2, 1, ballot, correct)).expect("a correct promise");
    drain(node);
    assert_eq!(node.role(), senate_core::driver::NodeRole::Leader);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_messages_never_panic_and_refused_ones_change_nothing(
        role in 0..3u8,
        msgs in proptest::collection::vec(message(), 1..10),
    ) {
        let mut net = cluster(role);
        let node = net.node_mut(1);
        for m in msgs {
            let before = (node.status(), node.has_ready());
            if node.step(m.clone()).is_err() {
                prop_assert_eq!((node.status(), node.has_ready()), before, "a refused message changed state: {:?}", m);
            }
            drain(node);
            node.tick();
            drain(node);
        }
    }

    #[test]
    fn promises_at_a_candidates_ballot_that_do_not_fit_are_refused_and_change_nothing(m in promise_to_candidate()) {
        let mut net = cluster(2);
        let node = net.node_mut(1);
        prop_assert_eq!(node.role(), senate_core::driver::NodeRole::Candidate);
        let m = PaxosMessage { ballot: node.promised(), ..m };
        // What the candidate asked every promiser for: the slots after its chosen ones.
        let covered = node.chosen();
        let Body::Promise { first_slot, last_slot, ref entries, .. } = m.body else { unreachable!() };
        let before = (node.status(), node.has_ready());
        let result = node.step(m.clone());
        if result.is_err() {
            prop_assert_eq!((node.status(), node.has_ready()), before, "a refused promise changed state: {:?}", m);
        }
        let claims_unreported = entries.is_empty() && last_slot > covered;
        let skips = entries.first().is_some_and(|e| e.index > covered + 1);
        if first_slot <= covered + 1 && (claims_unreported || skips) {
            prop_assert!(is_invalid(&result), "a forged promise was taken: {:?} -> {:?}", m, result);
        }
        drain(node);
    }

    #[test]
    fn arbitrary_frames_never_panic(role in 0..3u8, msgs in proptest::collection::vec(message(), 1..6)) {
        let mut net = cluster(role);
        let node = net.node_mut(1);
        for m in msgs {
            let mut frame = Vec::new();
            encode_paxos_message(&m, &mut frame);
            let _ = node.step_stream(&Bytes::from(frame));
            drain(node);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(role in 0..3u8, chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..6)) {
        let mut net = cluster(role);
        let node = net.node_mut(1);
        for chunk in chunks {
            let mut bytes = chunk;
            // Half the time, a valid header so the body parser is reached.
            if bytes.len() > 12 && bytes[0] % 2 == 0 {
                let body = bytes[10..].to_vec();
                bytes.clear();
                senate_core::codec::encode_frame(senate_core::ProtocolId::Paxos, body.len(), &mut bytes, |out| {
                    out.extend_from_slice(&body)
                });
            }
            let _ = node.step_stream(&Bytes::from(bytes));
            drain(node);
            node.tick();
        }
    }
}
