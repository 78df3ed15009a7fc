//! Snapshots sent out of band (etcd's rafthttp snapshot sender, tikv's snapshot stream).
//!
//! A snapshot message would carry the whole application state in one frame: with a large
//! state the sender encodes (copies) all of it, the receiver buffers all of it before it can
//! decode anything, and the peer connection carries nothing else meanwhile (heartbeats wait
//! behind it). A node whose `MemNode::stream_snapshots` is set sends no such frame: its Ready
//! hands out a [`SnapshotSend`] instead, the message encoded as a frame whose snapshot holds
//! no data (the *head*) beside the snapshot itself (its data shared, not copied). The caller
//! streams the data in chunks over a connection of its own, with flow control, and the
//! receiver hands head and data back to its core together ([`decode_snapshot_head`], then
//! `MemNode::step_snapshot`) once all of it is durable and checked. The core's rules do not
//! change: the message is stepped as if it had arrived whole.

use crate::codec::{decode_message, encode_message, DecodeError};
use crate::raft::message::{Message, MessageType, NodeId, Snapshot};
use bytes::Bytes;

/// A snapshot message to send out of band, of either protocol (`from_message` makes Raft's,
/// `SnapshotSend::from_paxos_message` in `paxos::snapshot_send` Multi-Paxos's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotSend {
    pub to: NodeId,
    /// One frame of the sender's protocol: the snapshot message with the snapshot's metadata
    /// and empty data.
    pub head: Vec<u8>,
    /// The snapshot (`snapshot.data` is what the caller streams).
    pub snapshot: Snapshot,
}

impl SnapshotSend {
    /// The out-of-band form of the snapshot message `msg`.
    ///
    /// # Panics
    /// If `msg` is not a snapshot message carrying a snapshot (a caller's bug).
    pub fn from_message(msg: &Message) -> SnapshotSend {
        assert_eq!(msg.msg_type, MessageType::Snapshot, "SnapshotSend of a {:?} message", msg.msg_type);
        let snapshot = msg.snapshot.clone().expect("a snapshot message carries a snapshot");
        let mut head_msg = msg.clone();
        if let Some(head_snapshot) = head_msg.snapshot.as_mut() {
            head_snapshot.data = Bytes::new();
        }
        let mut head = Vec::new();
        encode_message(&head_msg, &mut head);
        SnapshotSend { to: msg.to, head, snapshot }
    }
}

/// The snapshot message in `head` (one whole Raft frame, a snapshot message whose snapshot has
/// no data) with `data` put in its snapshot. Anything else is an error: the caller drops the
/// stream it came from.
pub fn decode_snapshot_head(head: &Bytes, data: Bytes, max_frame_bytes: usize) -> Result<Message, DecodeError> {
    let Some((mut msg, used)) = decode_message(head, max_frame_bytes)? else {
        return Err(DecodeError::Truncated);
    };
    if used != head.len() {
        return Err(DecodeError::TrailingBytes { count: head.len() - used });
    }
    if msg.msg_type != MessageType::Snapshot {
        return Err(DecodeError::NotASnapshotHead { problem: "not a snapshot message" });
    }
    match msg.snapshot.as_mut() {
        Some(snapshot) if snapshot.data.is_empty() => snapshot.data = data,
        Some(_) => return Err(DecodeError::NotASnapshotHead { problem: "its snapshot carries data" }),
        None => return Err(DecodeError::NotASnapshotHead { problem: "no snapshot" }),
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DEFAULT_MAX_FRAME_BYTES;
    use crate::raft::message::{ConfState, SnapshotMeta};
    use proptest::prelude::*;

    fn snapshot_message(index: u64, term: u64, data: Vec<u8>, learners: Vec<u64>) -> Message {
        let mut msg = Message::new(MessageType::Snapshot, 1, 2, term);
        let conf_state = ConfState { voters: vec![1, 2, 3], learners, ..ConfState::default() };
        msg.snapshot = Some(Snapshot { meta: SnapshotMeta { index, term, conf_state }, data: Bytes::from(data) });
        msg
    }

    proptest! {
        /// Head and data stepped together are the message the core sent.
        #[test]
        fn head_and_data_give_back_the_message(
            index in 1u64..u64::MAX,
            term in 1u64..1_000,
            data in proptest::collection::vec(any::<u8>(), 0..512),
            learner in proptest::option::of(4u64..100),
        ) {
            let msg = snapshot_message(index, term, data.clone(), learner.into_iter().collect());
            let send = SnapshotSend::from_message(&msg);
            prop_assert_eq!(send.to, 2);
            prop_assert_eq!(&send.snapshot.data[..], &data[..]);
            let head = Bytes::from(send.head.clone());
            let back = decode_snapshot_head(&head, Bytes::from(data), DEFAULT_MAX_FRAME_BYTES).unwrap();
            prop_assert_eq!(back, msg);
        }

        /// Whatever the bytes, a head decodes or is refused: never a panic.
        #[test]
        fn any_bytes_are_decoded_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_snapshot_head(&Bytes::from(bytes), Bytes::new(), DEFAULT_MAX_FRAME_BYTES);
        }
    }

    /// A head claiming another sender than the stream's (a member with a valid certificate
    /// for node 3 speaking for leader 1 in its term) is refused and changes nothing; the same
    /// head on node 1's stream is taken.
    #[test]
    fn a_head_from_another_node_than_the_streams_is_refused() {
        use crate::raft::config::Config;
        use crate::raft::mem_node::{MemNode, StepError};
        use crate::RaftError;
        let mut node = MemNode::new(&Config::new(2, vec![1, 2, 3])).unwrap();
        let send = SnapshotSend::from_message(&snapshot_message(5, 7, vec![], vec![]));
        let head = Bytes::from(send.head.clone());
        let err = node.step_snapshot(3, &head, Bytes::from_static(b"state"));
        assert!(matches!(err, Err(StepError::Raft(RaftError::InvalidMessage { from: 3, .. }))), "{err:?}");
        assert_eq!((node.raw.term(), node.raw.leader(), node.raw.has_ready()), (0, 0, false), "nothing changed");
        node.step_snapshot(1, &head, Bytes::from_static(b"state")).unwrap();
        assert_eq!((node.raw.term(), node.raw.leader()), (7, 1), "taken from its sender");
        assert!(node.raw.has_ready(), "the snapshot to install");
    }

    #[test]
    fn a_head_with_data_or_of_another_message_is_refused() {
        let mut whole = Vec::new();
        encode_message(&snapshot_message(5, 2, b"state".to_vec(), vec![]), &mut whole);
        let err = decode_snapshot_head(&Bytes::from(whole), Bytes::new(), DEFAULT_MAX_FRAME_BYTES);
        assert!(matches!(err, Err(DecodeError::NotASnapshotHead { .. })), "{err:?}");
        let mut append = Vec::new();
        encode_message(&Message::new(MessageType::Append, 1, 2, 3), &mut append);
        let err = decode_snapshot_head(&Bytes::from(append), Bytes::new(), DEFAULT_MAX_FRAME_BYTES);
        assert!(matches!(err, Err(DecodeError::NotASnapshotHead { .. })), "{err:?}");
        let send = SnapshotSend::from_message(&snapshot_message(5, 2, vec![], vec![]));
        let mut two = send.head.clone();
        two.extend_from_slice(&send.head);
        let err = decode_snapshot_head(&Bytes::from(two), Bytes::new(), DEFAULT_MAX_FRAME_BYTES);
        assert!(matches!(err, Err(DecodeError::TrailingBytes { .. })), "{err:?}");
    }
}
