//! Multi-Paxos snapshots sent out of band: the Paxos form of [`SnapshotSend`] (see
//! `raft::snapshot_send` for why a snapshot leaves its peer connection).
//!
//! A [`PaxosNode`](crate::paxos::PaxosNode) whose `stream_snapshots` is set hands out its
//! InstallSnapshot messages (`Body::Snapshot`: the leader's catch-up of a follower, and a
//! promiser's catch-up of a candidate in phase 1) as a `SnapshotSend`: the head is the message
//! as one Multi-Paxos frame whose snapshot holds no data, and the receiver steps head and data
//! together ([`decode_paxos_snapshot_head`], then `PaxosNode::step_snapshot`) as if the
//! message had arrived whole. The head keeps the message's ballot: the receiver's rules for it
//! (refused below its promise, followed when from the ballot's leader) do not change.

use crate::codec::{decode_paxos_message, encode_paxos_message, DecodeError};
use crate::paxos::message::{Body, PaxosMessage};
use crate::raft::snapshot_send::SnapshotSend;
use bytes::Bytes;

impl SnapshotSend {
    /// The out-of-band form of the InstallSnapshot message `msg`.
    ///
    /// # Panics
    /// If `msg` is not an InstallSnapshot message (a caller's bug).
    pub fn from_paxos_message(msg: &PaxosMessage) -> SnapshotSend {
        let Body::Snapshot { snapshot } = &msg.body else {
            panic!("SnapshotSend of a Paxos message of tag {}", msg.body.tag());
        };
        let mut head_snapshot = snapshot.clone();
        head_snapshot.data = Bytes::new();
        let head_msg = PaxosMessage::new(msg.from, msg.to, msg.ballot, Body::Snapshot { snapshot: head_snapshot });
        let mut head = Vec::new();
        encode_paxos_message(&head_msg, &mut head);
        SnapshotSend { to: msg.to, head, snapshot: snapshot.clone() }
    }
}

/// The InstallSnapshot message in `head` (one whole Multi-Paxos frame, an InstallSnapshot
/// whose snapshot has no data) with `data` put in its snapshot. Anything else (a frame of
/// another protocol, another message, a snapshot carrying data, bytes after the frame) is an
/// error: the caller drops the stream it came from. Whether the message makes sense (members,
/// slots, ballot) is checked when it is stepped (`paxos::validate`), as for any frame.
pub fn decode_paxos_snapshot_head(
    head: &Bytes,
    data: Bytes,
    max_frame_bytes: usize,
) -> Result<PaxosMessage, DecodeError> {
    let Some((mut msg, used)) = decode_paxos_message(head, max_frame_bytes)? else {
        return Err(DecodeError::Truncated);
    };
    if used != head.len() {
        return Err(DecodeError::TrailingBytes { count: head.len() - used });
    }
    match &mut msg.body {
        Body::Snapshot { snapshot } if snapshot.data.is_empty() => snapshot.data = data,
        Body::Snapshot { .. } => return Err(DecodeError::NotASnapshotHead { problem: "its snapshot carries data" }),
        _ => return Err(DecodeError::NotASnapshotHead { problem: "not a snapshot message" }),
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode_message, DEFAULT_MAX_FRAME_BYTES};
    use crate::paxos::ballot::Ballot;
    use crate::raft::message::{ConfState, Message, MessageType, Snapshot, SnapshotMeta};
    use proptest::prelude::*;

    fn snapshot_message(index: u64, ballot: Ballot, data: Vec<u8>, learners: Vec<u64>) -> PaxosMessage {
        let conf_state = ConfState { voters: vec![1, 2, 3], learners, ..ConfState::default() };
        let meta = SnapshotMeta { index, term: ballot.to_u64(), conf_state };
        PaxosMessage::new(1, 2, ballot, Body::Snapshot { snapshot: Snapshot { meta, data: Bytes::from(data) } })
    }

    fn decode(head: Vec<u8>, data: &[u8]) -> Result<PaxosMessage, DecodeError> {
        decode_paxos_snapshot_head(&Bytes::from(head), Bytes::copy_from_slice(data), DEFAULT_MAX_FRAME_BYTES)
    }

    proptest! {
        /// Head and data stepped together are the message the core sent, whoever owns the
        /// ballot (the leader's catch-up, or a promiser's answer to a candidate's ballot).
        #[test]
        fn head_and_data_give_back_the_message(
            index in 1u64..(1 << 62),
            round in 1u64..1_000_000,
            owner in 1u64..3,
            data in proptest::collection::vec(any::<u8>(), 0..512),
            learner in proptest::option::of(4u64..100),
        ) {
            let msg = snapshot_message(index, Ballot::new(round, owner), data.clone(), learner.into_iter().collect());
            let send = SnapshotSend::from_paxos_message(&msg);
            prop_assert_eq!(send.to, 2);
            prop_assert_eq!(&send.snapshot.data[..], &data[..]);
            prop_assert!(send.head.len() < 64 + 8 * 4, "the head holds no data: {} bytes", send.head.len());
            prop_assert_eq!(decode(send.head, &data).unwrap(), msg);
        }

        /// Whatever the bytes, a head decodes or is refused: never a panic.
        #[test]
        fn any_bytes_are_decoded_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(bytes, b"");
        }

        /// A head with any byte changed decodes to a snapshot message or is refused.
        #[test]
        fn a_damaged_head_is_refused_or_still_a_head(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let send = SnapshotSend::from_paxos_message(&snapshot_message(7, Ballot::new(3, 1), b"state".to_vec(), vec![]));
            let mut head = send.head;
            let i = at.index(head.len());
            head[i] ^= xor;
            if let Ok(msg) = decode(head, b"state") {
                let is_snapshot = matches!(msg.body, Body::Snapshot { ref snapshot } if &snapshot.data[..] == b"state");
                prop_assert!(is_snapshot);
            }
        }
    }

    #[test]
    fn a_head_with_data_of_another_message_or_protocol_is_refused() {
        let mut whole = Vec::new();
        encode_paxos_message(&snapshot_message(5, Ballot::new(2, 1), b"state".to_vec(), vec![]), &mut whole);
        let err = decode(whole, b"");
        assert!(matches!(err, Err(DecodeError::NotASnapshotHead { .. })), "{err:?}");
        let mut accepted = Vec::new();
        encode_paxos_message(
            &PaxosMessage::new(1, 2, Ballot::new(2, 2), Body::Accepted { accepted_to: 4 }),
            &mut accepted,
        );
        let err = decode(accepted, b"");
        assert!(matches!(err, Err(DecodeError::NotASnapshotHead { .. })), "{err:?}");
        let mut raft = Vec::new();
        let mut raft_snapshot = Message::new(MessageType::Snapshot, 1, 2, 3);
        raft_snapshot.snapshot =
            Some(Snapshot { meta: SnapshotMeta { index: 5, term: 3, ..SnapshotMeta::default() }, data: Bytes::new() });
        encode_message(&raft_snapshot, &mut raft);
        let err = decode(raft, b"");
        assert!(matches!(err, Err(DecodeError::WrongProtocol { .. })), "{err:?}");
        let send = SnapshotSend::from_paxos_message(&snapshot_message(5, Ballot::new(2, 1), vec![], vec![]));
        let mut two = send.head.clone();
        two.extend_from_slice(&send.head);
        let err = decode(two, b"");
        assert!(matches!(err, Err(DecodeError::TrailingBytes { .. })), "{err:?}");
        let cut = send.head[..send.head.len() - 1].to_vec();
        assert!(matches!(decode(cut, b""), Err(DecodeError::Truncated)));
        assert!(matches!(decode(Vec::new(), b""), Err(DecodeError::Truncated)));
    }
}
