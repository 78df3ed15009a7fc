//! Property: no message a peer can send makes a node panic. Arbitrary messages (any type,
//! any field values, entries with any indexes and terms) are stepped into leaders, followers
//! and candidates; each is either accepted or refused with a typed error, and the node keeps
//! producing well-formed `Ready`s afterwards.

mod common;

use bytes::Bytes;
use common::Net;
use proptest::prelude::*;
use senate_core::codec::{encode_frame, encode_message, DecodeError, FRAME_HEADER_BYTES};
use senate_core::raft::mem_node::StepError;
use senate_core::{Config, Entry, EntryKind, MemNode, Message, MessageType, ProtocolId, Snapshot, SnapshotMeta};

fn small() -> impl Strategy<Value = u64> {
    prop_oneof![0..8u64, Just(u64::MAX), any::<u64>()]
}

fn entry() -> impl Strategy<Value = Entry> {
    (small(), small(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..4)).prop_map(
        |(term, index, noop, data)| Entry {
            term,
            index,
            kind: if noop { EntryKind::NoOp } else { EntryKind::Normal },
            data: Bytes::from(data),
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    let head = (0..MessageType::ALL.len(), 2..=3u64, small(), small(), small(), small(), any::<bool>());
    let tail = (small(), small(), proptest::collection::vec(entry(), 0..4), proptest::option::of((small(), small())));
    (head, tail).prop_map(|((t, from, term, log_term, index, commit, reject), (hint, context, entries, snap))| {
        let mut m = Message::new(MessageType::ALL[t], from, 1, term);
        m.log_term = log_term;
        m.index = index;
        m.commit = commit;
        m.reject = reject;
        m.reject_hint = hint;
        m.context = context;
        m.entries = entries;
        m.snapshot = snap.map(|(index, term)| Snapshot {
            meta: SnapshotMeta { index, term, conf_state: Default::default() },
            data: Bytes::new(),
        });
        m
    })
}

/// A 3-node cluster with a few committed entries where node 1 has `role_of_1`.
fn cluster(leader_is_1: bool) -> Net {
    let mut net = Net::new(3, |_| {});
    net.elect(if leader_is_1 { 1 } else { 2 });
    let leader = if leader_is_1 { 1 } else { 2 };
    for i in 0..5u8 {
        net.propose(leader, &[i]).unwrap();
    }
    net.stabilize();
    net
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_messages_never_panic(leader_is_1 in any::<bool>(), msgs in proptest::collection::vec(message(), 1..8)) {
        let mut net = cluster(leader_is_1);
        for m in msgs {
            let _ = net.node_mut(1).step(m);
            // Whatever happened, the node hands out a consistent Ready and keeps going.
            net.handle_ready(1);
            net.queue.clear();
            net.node_mut(1).tick();
        }
    }
}

/// A node steps Raft frames only: a frame of another protocol (a misrouted connection) or of
/// an unknown one is a decode error, as any malformed frame, and nothing of it is stepped.
#[test]
fn a_node_refuses_frames_that_are_not_raft() {
    let mut node = MemNode::new(&Config::new(1, vec![1, 2, 3])).unwrap();
    let mut raft_frame = Vec::new();
    encode_message(&Message::new(MessageType::Heartbeat, 2, 1, 1), &mut raft_frame);
    let body = &raft_frame[FRAME_HEADER_BYTES..];
    let mut paxos_frame = Vec::new();
    encode_frame(ProtocolId::Paxos, body.len(), &mut paxos_frame, |out| out.extend_from_slice(body));
    let mut unknown_frame = raft_frame.clone();
    unknown_frame[1] = 0xee;
    let wrong = DecodeError::WrongProtocol { found: ProtocolId::Paxos, expected: ProtocolId::Raft };
    for (frame, expected) in [(paxos_frame, wrong), (unknown_frame, DecodeError::UnknownProtocol { tag: 0xee })] {
        let result = node.step_frames(&Bytes::from(frame.clone()));
        assert!(matches!(&result, Err(StepError::Decode(e)) if *e == expected), "{result:?}");
        let result = node.step_stream(&Bytes::from(frame));
        assert!(matches!(&result, Err(StepError::Decode(e)) if *e == expected), "{result:?}");
    }
    assert_eq!(node.step_frames(&Bytes::from(raft_frame)).unwrap(), 1, "a Raft frame is stepped");
}
