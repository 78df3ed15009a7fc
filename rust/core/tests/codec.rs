//! The peer wire codec: round trips, framing, limits, corruption and hostile input.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use senate_core::codec::{
    decode_all, decode_frame, decode_message, encode_frame, encode_message, DecodeError, DEFAULT_MAX_FRAME_BYTES,
    FRAME_BODY_BYTES_END, FRAME_BODY_BYTES_OFFSET, FRAME_HEADER_BYTES, FRAME_VERSION,
};
use senate_core::{ConfState, Entry, EntryKind, Message, MessageType, ProtocolId, Snapshot, SnapshotMeta};

// ---- helpers ----

fn encoded(msg: &Message) -> Bytes {
    let mut out = Vec::new();
    encode_message(msg, &mut out);
    Bytes::from(out)
}

fn encoded_all(msgs: &[Message]) -> Bytes {
    let mut out = Vec::new();
    for msg in msgs {
        encode_message(msg, &mut out);
    }
    Bytes::from(out)
}

/// A Raft frame with a valid header around `body`, to reach the body decoder with any bytes.
fn frame_around(body: &[u8]) -> Bytes {
    frame_tagged(ProtocolId::Raft.tag(), body)
}

/// A frame written by hand (the layout in `frame.rs`) with protocol byte `protocol_tag`.
fn frame_tagged(protocol_tag: u8, body: &[u8]) -> Bytes {
    let mut frame = vec![FRAME_VERSION, protocol_tag];
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    frame.extend_from_slice(body);
    Bytes::from(frame)
}

fn decode_body(body: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    decode_message(&frame_around(body), DEFAULT_MAX_FRAME_BYTES)
}

fn append_with(entry_count: u64, payload_bytes: usize) -> Message {
    let mut msg = Message::new(MessageType::Append, 1, 2, 7);
    msg.log_term = 7;
    msg.index = 1000;
    msg.commit = 990;
    msg.entries = (1..=entry_count)
        .map(|offset| Entry {
            term: 7,
            index: 1000 + offset,
            kind: EntryKind::Normal,
            data: Bytes::from(vec![offset as u8; payload_bytes]),
        })
        .collect();
    msg
}

/// The body of `Message::new(Vote, 1, 2, 3)`, all other fields zero, as bytes:
/// type, from, to, term, log_term, index, commit, reject, reject_hint, context, entry count,
/// snapshot flag.
const VOTE_BODY: [u8; 12] = [1, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0];
const REJECT_OFFSET: usize = 7;
const ENTRY_COUNT_OFFSET: usize = 10;

// ---- strategies ----

/// Values near the edges as well as anywhere, since varint widths change at powers of 128.
fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![0..200u64, any::<u64>(), (u64::MAX - 3)..=u64::MAX]
}

fn any_data() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..100).prop_map(Bytes::from)
}

fn any_entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![Just(EntryKind::Normal), Just(EntryKind::NoOp), Just(EntryKind::ConfChange)];
    (any_u64(), any_u64(), kind, any_data()).prop_map(|(term, index, kind, data)| Entry { term, index, kind, data })
}

/// Configurations of voters alone (the older layout) as well as joint ones with learners.
fn any_conf_state() -> impl Strategy<Value = ConfState> {
    let ids = || vec(any_u64(), 0..7);
    prop_oneof![
        ids().prop_map(|voters| ConfState { voters, ..ConfState::default() }),
        (ids(), ids(), ids(), any::<bool>()).prop_map(|(voters, voters_outgoing, learners, auto_leave)| ConfState {
            voters,
            voters_outgoing,
            learners,
            auto_leave
        }),
    ]
}

fn any_snapshot() -> impl Strategy<Value = Snapshot> {
    (any_u64(), any_u64(), any_conf_state(), any_data())
        .prop_map(|(index, term, conf_state, data)| Snapshot { meta: SnapshotMeta { index, term, conf_state }, data })
}

/// Consecutive entries as a leader sends them, besides entries with arbitrary positions.
fn any_entries() -> impl Strategy<Value = Vec<Entry>> {
    prop_oneof![
        vec(any_entry(), 0..6),
        (1..5u64, 1..1_000_000u64, 0..20u64).prop_map(|(term, first_index, entry_count)| {
            (0..entry_count)
                .map(|offset| Entry {
                    term,
                    index: first_index + offset,
                    kind: EntryKind::Normal,
                    data: Bytes::from(vec![7; offset as usize]),
                })
                .collect()
        }),
    ]
}

fn any_message() -> impl Strategy<Value = Message> {
    let ids_and_term = (0..14usize, any_u64(), any_u64(), any_u64());
    let positions = (any_u64(), any_u64(), any_u64(), any::<bool>(), any_u64(), any_u64());
    let payload = (any_entries(), proptest::option::of(any_snapshot()));
    (ids_and_term, positions, payload).prop_map(
        |(
            (type_index, from, to, term),
            (log_term, index, commit, reject, reject_hint, context),
            (entries, snapshot),
        )| Message {
            msg_type: MessageType::ALL[type_index],
            from,
            to,
            term,
            log_term,
            index,
            commit,
            reject,
            reject_hint,
            context,
            entries,
            snapshot,
        },
    )
}

// Test modules carry `codec` in their names so that `cargo test codec` selects them.

/// Round trips and robustness over generated messages and bytes.
mod codec_properties {
    use super::*;

    proptest! {
        #[test]
        fn any_message_round_trips(msg in any_message()) {
            let frame = encoded(&msg);
            prop_assert_eq!(
                decode_message(&frame, DEFAULT_MAX_FRAME_BYTES),
                Ok(Some((msg.clone(), frame.len())))
            );
            prop_assert_eq!(decode_all(&frame, DEFAULT_MAX_FRAME_BYTES), Ok(vec![msg]));
        }

        #[test]
        fn concatenated_frames_decode_in_order(msgs in vec(any_message(), 0..6)) {
            let frames = encoded_all(&msgs);
            prop_assert_eq!(decode_all(&frames, DEFAULT_MAX_FRAME_BYTES), Ok(msgs.clone()));

            let mut rest = frames;
            let mut decoded = Vec::new();
            while let Some((msg, frame_bytes)) = decode_message(&rest, DEFAULT_MAX_FRAME_BYTES)? {
                decoded.push(msg);
                rest = rest.slice(frame_bytes..);
            }
            prop_assert!(rest.is_empty());
            prop_assert_eq!(decoded, msgs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            buf in vec(any::<u8>(), 0..300),
            max_frame_bytes in prop_oneof![Just(DEFAULT_MAX_FRAME_BYTES), 0..64usize],
        ) {
            let buf = Bytes::from(buf);
            let _ = decode_message(&buf, max_frame_bytes);
            let _ = decode_all(&buf, max_frame_bytes);
        }

        /// Arbitrary bytes behind a valid header reach the body decoder, which must not panic and,
        /// when it accepts them, must have read the one canonical encoding of what it returns.
        #[test]
        fn arbitrary_bodies_never_panic_and_are_canonical(body in vec(any::<u8>(), 0..200)) {
            let frame = frame_around(&body);
            if let Ok(Some((msg, frame_bytes))) = decode_message(&frame, DEFAULT_MAX_FRAME_BYTES) {
                prop_assert_eq!(frame_bytes, frame.len());
                prop_assert_eq!(encoded(&msg), frame);
            }
        }

        /// Corrupting valid bodies (with the checksum fixed up) explores near-valid inputs.
        #[test]
        fn mutated_bodies_never_panic_and_are_canonical(
            msg in any_message(),
            mutations in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut body = encoded(&msg)[FRAME_HEADER_BYTES..].to_vec();
            for (position, byte) in mutations {
                let position = position.index(body.len());
                body[position] = byte;
            }
            let frame = frame_around(&body);
            if let Ok(Some((msg, _))) = decode_message(&frame, DEFAULT_MAX_FRAME_BYTES) {
                prop_assert_eq!(encoded(&msg), frame);
            }
        }

        #[test]
        fn every_prefix_is_partial(msg in any_message()) {
            let frame = encoded(&msg);
            for prefix_bytes in 0..frame.len() {
                let prefix = frame.slice(..prefix_bytes);
                prop_assert_eq!(decode_message(&prefix, DEFAULT_MAX_FRAME_BYTES), Ok(None));
                if prefix_bytes > 0 {
                    prop_assert_eq!(
                        decode_all(&prefix, DEFAULT_MAX_FRAME_BYTES),
                        Err(DecodeError::Truncated)
                    );
                }
            }
        }
    }
}

/// Frame header, limits, checksums, partial and concatenated frames.
mod codec_framing {
    use super::*;

    #[test]
    fn truncated_at_every_offset_is_partial() {
        let mut msg = append_with(3, 5);
        msg.snapshot = Some(Snapshot {
            meta: SnapshotMeta { index: 9, term: 2, conf_state: ConfState::from_voters(vec![1, 2, 3]) },
            data: Bytes::from_static(b"state"),
        });
        let frame = encoded(&msg);
        for prefix_bytes in 0..frame.len() {
            let prefix = frame.slice(..prefix_bytes);
            assert_eq!(decode_message(&prefix, DEFAULT_MAX_FRAME_BYTES), Ok(None), "{prefix_bytes}");
        }
        assert_eq!(decode_message(&frame, DEFAULT_MAX_FRAME_BYTES), Ok(Some((msg, frame.len()))));
    }

    #[test]
    fn huge_stated_length_is_refused_before_the_body_arrives() {
        let mut header = vec![FRAME_VERSION, ProtocolId::Raft.tag()];
        header.extend_from_slice(&u32::MAX.to_le_bytes());
        let too_large = DecodeError::FrameTooLarge {
            frame_bytes: FRAME_HEADER_BYTES as u64 + u64::from(u32::MAX),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        };
        let expected = Err(too_large.clone());
        // Refused as soon as the length field is complete, before the checksum or any body byte.
        assert_eq!(decode_message(&Bytes::from(header.clone()), DEFAULT_MAX_FRAME_BYTES), expected);
        header.extend_from_slice(&[0; 4]);
        assert_eq!(decode_message(&Bytes::from(header.clone()), DEFAULT_MAX_FRAME_BYTES), expected);
        assert_eq!(decode_all(&Bytes::from(header), DEFAULT_MAX_FRAME_BYTES), Err(too_large));
    }

    #[test]
    fn limit_counts_the_whole_frame() {
        let frame = encoded(&append_with(4, 10));
        assert!(decode_message(&frame, frame.len()).unwrap().is_some());
        assert_eq!(
            decode_message(&frame, frame.len() - 1),
            Err(DecodeError::FrameTooLarge { frame_bytes: frame.len() as u64, max_frame_bytes: frame.len() - 1 })
        );
        // At the limit but incomplete: wait for the rest.
        assert_eq!(decode_message(&frame.slice(..frame.len() - 1), frame.len()), Ok(None));
    }

    #[test]
    fn bad_version_is_refused_from_the_first_byte() {
        let found = FRAME_VERSION + 1;
        let expected = Err(DecodeError::BadVersion { found, supported: FRAME_VERSION });
        assert_eq!(decode_message(&Bytes::from(vec![found]), DEFAULT_MAX_FRAME_BYTES), expected);
    }

    #[test]
    fn a_version_1_frame_is_refused_from_the_first_byte() {
        // Version 1 had no protocol byte: its length field started at offset 1.
        let old = [1u8, 12, 0, 0, 0];
        let expected = Err(DecodeError::BadVersion { found: 1, supported: FRAME_VERSION });
        assert_eq!(decode_message(&Bytes::copy_from_slice(&old), DEFAULT_MAX_FRAME_BYTES), expected);
    }

    #[test]
    fn the_header_layout_is_the_documented_one() {
        let msg = append_with(2, 3);
        let frame = encoded(&msg);
        assert_eq!(frame[0], FRAME_VERSION);
        assert_eq!(frame[1], ProtocolId::Raft.tag());
        let body_bytes = u32::from_le_bytes(frame[FRAME_BODY_BYTES_OFFSET..FRAME_BODY_BYTES_END].try_into().unwrap());
        assert_eq!(FRAME_HEADER_BYTES + body_bytes as usize, frame.len());
        assert_eq!(frame, frame_around(&frame[FRAME_HEADER_BYTES..]));
    }

    #[test]
    fn any_bit_flip_in_the_body_is_a_checksum_mismatch() {
        let frame = encoded(&append_with(2, 3)).to_vec();
        for bit in FRAME_HEADER_BYTES * 8..frame.len() * 8 {
            let mut corrupted = frame.clone();
            corrupted[bit / 8] ^= 1 << (bit % 8);
            let result = decode_message(&Bytes::from(corrupted), DEFAULT_MAX_FRAME_BYTES);
            assert!(matches!(result, Err(DecodeError::ChecksumMismatch { .. })), "bit {bit}");
        }
    }

    #[test]
    fn bit_flip_in_the_stated_checksum_is_a_mismatch() {
        let mut frame = encoded(&append_with(1, 1)).to_vec();
        frame[FRAME_HEADER_BYTES - 1] ^= 0x10;
        let result = decode_message(&Bytes::from(frame), DEFAULT_MAX_FRAME_BYTES);
        assert!(matches!(result, Err(DecodeError::ChecksumMismatch { .. })));
    }

    #[test]
    fn decode_all_of_nothing_is_no_messages() {
        assert_eq!(decode_all(&Bytes::new(), DEFAULT_MAX_FRAME_BYTES), Ok(vec![]));
    }

    #[test]
    fn decode_all_stops_at_a_trailing_partial_frame() {
        let msgs = [append_with(2, 2), Message::new(MessageType::Heartbeat, 1, 3, 4)];
        let frames = encoded_all(&msgs);
        let cut = frames.slice(..frames.len() - 1);
        assert_eq!(decode_all(&cut, DEFAULT_MAX_FRAME_BYTES), Err(DecodeError::Truncated));
        assert_eq!(decode_all(&frames, DEFAULT_MAX_FRAME_BYTES), Ok(msgs.to_vec()));
    }

    #[test]
    fn decoded_data_shares_the_input_buffer() {
        let mut msg = append_with(3, 16);
        msg.snapshot = Some(Snapshot { data: Bytes::from_static(b"snapshot"), ..Snapshot::default() });
        let frame = encoded(&msg);
        let (decoded, _) = decode_message(&frame, DEFAULT_MAX_FRAME_BYTES).unwrap().unwrap();
        let frame_range = frame.as_ptr_range();
        let data = decoded.entries.iter().map(|entry| &entry.data);
        for data in data.chain(decoded.snapshot.as_ref().map(|snapshot| &snapshot.data)) {
            assert!(frame_range.contains(&data.as_ptr()), "data was copied");
        }
    }

    #[test]
    fn consecutive_entries_cost_four_bytes_besides_their_data() {
        let frame_bytes = |entry_count| encoded(&append_with(entry_count, 64)).len();
        assert_eq!(frame_bytes(11) - frame_bytes(10), 4 + 64);
    }
}

/// Bodies with valid frames around them that are non-canonical or lie.
mod codec_hostile_bodies {
    use super::*;

    #[test]
    fn hand_written_vote_body_decodes() {
        let expected = Message::new(MessageType::Vote, 1, 2, 3);
        let frame = frame_around(&VOTE_BODY);
        assert_eq!(encoded(&expected), frame);
        assert_eq!(decode_body(&VOTE_BODY), Ok(Some((expected, frame.len()))));
    }

    #[test]
    fn unknown_message_types_are_refused() {
        for tag in [0, 15, 255] {
            let mut body = VOTE_BODY;
            body[0] = tag;
            assert_eq!(decode_body(&body), Err(DecodeError::UnknownMessageType(tag)));
        }
    }

    #[test]
    fn reject_flag_must_be_zero_or_one() {
        let mut body = VOTE_BODY;
        body[REJECT_OFFSET] = 2;
        assert_eq!(decode_body(&body), Err(DecodeError::BadFlag { field: "reject", found: 2 }));
    }

    #[test]
    fn snapshot_flag_must_be_zero_one_or_two() {
        let mut body = VOTE_BODY;
        body[VOTE_BODY.len() - 1] = 0x80;
        let expected = DecodeError::UnknownTag { field: "snapshot flag", tag: 0x80 };
        assert_eq!(decode_body(&body), Err(expected));
    }

    #[test]
    fn unknown_entry_kinds_are_refused() {
        let mut body = VOTE_BODY[..ENTRY_COUNT_OFFSET].to_vec();
        // One entry: term delta, index delta, kind 3, empty data; then no snapshot.
        body.extend_from_slice(&[1, 0, 0, 3, 0, 0]);
        assert_eq!(decode_body(&body), Err(DecodeError::UnknownEntryKind(3)));
    }

    #[test]
    fn trailing_bytes_in_a_body_are_refused() {
        let mut body = VOTE_BODY.to_vec();
        body.extend_from_slice(&[0, 0]);
        assert_eq!(decode_body(&body), Err(DecodeError::TrailingBytes { count: 2 }));
    }

    #[test]
    fn varints_longer_than_ten_bytes_are_refused() {
        let mut body = vec![MessageType::Vote as u8];
        body.extend_from_slice(&[0xff; 10]);
        body.extend_from_slice(&VOTE_BODY[2..]);
        assert_eq!(decode_body(&body), Err(DecodeError::VarintOverflow));
    }

    #[test]
    fn overlong_varints_are_refused() {
        let mut body = vec![MessageType::Vote as u8, 0x81, 0x00];
        body.extend_from_slice(&VOTE_BODY[2..]);
        assert_eq!(decode_body(&body), Err(DecodeError::NonCanonicalVarint));
    }

    #[test]
    fn entry_count_beyond_the_body_is_refused_before_allocating() {
        let mut body = VOTE_BODY[..ENTRY_COUNT_OFFSET].to_vec();
        // u64::MAX entries, then one byte of "snapshot flag".
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0]);
        let expected = DecodeError::TooManyItems { field: "entries", count: u64::MAX, remaining_bytes: 1 };
        assert_eq!(decode_body(&body), Err(expected));
    }

    #[test]
    fn data_length_beyond_the_body_is_refused() {
        let mut body = VOTE_BODY[..ENTRY_COUNT_OFFSET].to_vec();
        // One entry whose data states 100 bytes, of which 4 follow (counted as remaining).
        body.extend_from_slice(&[1, 0, 0, 0, 100, 1, 2, 3, 0]);
        let expected = DecodeError::LengthOutOfBounds { field: "entry data", len: 100, remaining_bytes: 4 };
        assert_eq!(decode_body(&body), Err(expected));
    }

    #[test]
    fn body_ending_inside_a_field_is_refused() {
        assert_eq!(decode_body(&VOTE_BODY[..5]), Err(DecodeError::BodyTruncated));
        assert_eq!(decode_body(&[]), Err(DecodeError::BodyTruncated));
    }
}

/// The protocol byte: every protocol's frames round trip, a receiver refuses the others'.
mod codec_protocols {
    use super::*;

    const PROTOCOLS: [ProtocolId; 2] = [ProtocolId::Raft, ProtocolId::Paxos];

    fn framed(protocol: ProtocolId, body: &[u8]) -> Bytes {
        let mut out = Vec::new();
        encode_frame(protocol, body.len(), &mut out, |out| out.extend_from_slice(body));
        Bytes::from(out)
    }

    proptest! {
        #[test]
        fn any_body_round_trips_under_its_protocol_and_is_refused_by_the_other(
            body in vec(any::<u8>(), 0..200),
            protocol_index in 0..2usize,
        ) {
            let protocol = PROTOCOLS[protocol_index];
            let frame = framed(protocol, &body);
            prop_assert_eq!(&frame, &frame_tagged(protocol.tag(), &body));
            prop_assert_eq!(
                decode_frame(&frame, protocol, DEFAULT_MAX_FRAME_BYTES),
                Ok(Some((Bytes::from(body.clone()), frame.len())))
            );
            let other = PROTOCOLS[1 - protocol_index];
            // Refused from the protocol byte: the rest of the frame need not have arrived.
            for prefix_bytes in 2..=frame.len() {
                prop_assert_eq!(
                    decode_frame(&frame.slice(..prefix_bytes), other, DEFAULT_MAX_FRAME_BYTES),
                    Err(DecodeError::WrongProtocol { found: protocol, expected: other })
                );
            }
        }

        #[test]
        fn an_unknown_protocol_tag_is_refused_naming_it(
            tag in any::<u8>().prop_filter("unknown", |tag| ProtocolId::from_tag(*tag).is_err()),
            msg in any_message(),
        ) {
            let body = encoded(&msg).slice(FRAME_HEADER_BYTES..);
            let frame = frame_tagged(tag, &body);
            let expected = Err(DecodeError::UnknownProtocol { tag });
            prop_assert_eq!(decode_message(&frame, DEFAULT_MAX_FRAME_BYTES), expected.clone());
            prop_assert_eq!(decode_message(&frame.slice(..2), DEFAULT_MAX_FRAME_BYTES), expected);
            prop_assert_eq!(decode_all(&frame, DEFAULT_MAX_FRAME_BYTES), Err(DecodeError::UnknownProtocol { tag }));
        }

        #[test]
        fn a_raft_message_in_a_paxos_frame_is_refused(msg in any_message()) {
            let body = encoded(&msg).slice(FRAME_HEADER_BYTES..);
            let frame = framed(ProtocolId::Paxos, &body);
            let expected = DecodeError::WrongProtocol { found: ProtocolId::Paxos, expected: ProtocolId::Raft };
            prop_assert_eq!(decode_message(&frame, DEFAULT_MAX_FRAME_BYTES), Err(expected.clone()));
            prop_assert_eq!(decode_all(&frame, DEFAULT_MAX_FRAME_BYTES), Err(expected));
        }
    }

    #[test]
    fn the_errors_name_the_protocols() {
        let wrong = DecodeError::WrongProtocol { found: ProtocolId::Paxos, expected: ProtocolId::Raft };
        assert_eq!(wrong.to_string(), "frame of protocol Multi-Paxos (tag 2) where Raft (tag 1) was expected");
        assert_eq!(DecodeError::UnknownProtocol { tag: 9 }.to_string(), "frame of unknown protocol tag 9");
    }
}

// ---- membership changes: the data of a ConfChange entry ----

mod conf_change {
    use super::*;
    use senate_core::codec::{
        decode_conf_change, encode_conf_change, CONF_CHANGE_VERSION, CONF_CHANGE_VERSION_WITHOUT_ADDRESSES as V1,
    };
    use senate_core::{ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType};

    fn any_conf_change() -> impl Strategy<Value = ConfChange> {
        let transition = prop_oneof![
            Just(ConfChangeTransition::Auto),
            Just(ConfChangeTransition::Implicit),
            Just(ConfChangeTransition::Explicit)
        ];
        let change_type = prop_oneof![
            Just(ConfChangeType::AddVoter),
            Just(ConfChangeType::AddLearner),
            Just(ConfChangeType::RemoveNode)
        ];
        // Addresses absent half the time: both layouts are drawn.
        let address = prop_oneof![Just(String::new()), "[a-z0-9.:\\[\\]-]{1,40}", "\\PC{0,20}"];
        let single = (change_type, any_u64(), address).prop_map(|(change_type, node_id, address)| ConfChangeSingle {
            change_type,
            node_id,
            address,
        });
        (transition, vec(single, 0..8)).prop_map(|(transition, changes)| ConfChange { transition, changes })
    }

    #[test]
    fn the_layout_is_versioned_and_compact() {
        let change = ConfChange::add_voter(4);
        assert_eq!(encode_conf_change(&change).as_ref(), &[V1, 0, 1, 0, 4]);
        assert_eq!(encode_conf_change(&ConfChange::leave_joint()).as_ref(), &[V1, 0, 0]);
        let with_address = ConfChange::add_member_at(4, "h:1", false);
        assert_eq!(encode_conf_change(&with_address).as_ref(), &[CONF_CHANGE_VERSION, 0, 1, 1, 4, 3, b'h', b':', b'1']);
    }

    #[test]
    fn version_1_entries_stay_readable_and_carry_no_address() {
        let old = decode_conf_change(&Bytes::from_static(&[1, 0, 1, 1, 4])).unwrap();
        assert_eq!(old, ConfChange::add_learner(4));
        assert_eq!(old.changes[0].address, "");
    }

    #[test]
    fn a_bad_address_is_refused_naming_it() {
        let refused = decode_conf_change(&Bytes::from_static(&[2, 0, 1, 1, 4, 1, 0xff]));
        assert_eq!(refused, Err(DecodeError::NonCanonical { field: "member address (not UTF-8)" }));
        let refused = decode_conf_change(&Bytes::from_static(&[2, 0, 1, 1, 4, 0]));
        assert!(matches!(refused, Err(DecodeError::NonCanonical { .. })), "version 2 without an address");
        let mut long = vec![2, 0, 1, 1, 4, 0x80, 0x02];
        long.extend(std::iter::repeat_n(b'a', 256));
        assert!(matches!(decode_conf_change(&Bytes::from(long)), Err(DecodeError::NonCanonical { .. })));
    }

    #[test]
    fn another_version_or_an_unknown_tag_is_refused_naming_it() {
        let refused = decode_conf_change(&Bytes::from_static(&[3, 0, 0]));
        assert_eq!(refused, Err(DecodeError::BadConfChangeVersion { found: 3, supported: CONF_CHANGE_VERSION }));
        let refused = decode_conf_change(&Bytes::from_static(&[1, 3, 0]));
        assert_eq!(refused, Err(DecodeError::UnknownTag { field: "conf change transition", tag: 3 }));
        let refused = decode_conf_change(&Bytes::from_static(&[1, 0, 1, 7, 4]));
        assert_eq!(refused, Err(DecodeError::UnknownTag { field: "conf change type", tag: 7 }));
        let refused = decode_conf_change(&Bytes::from_static(&[1, 0, 0, 0]));
        assert_eq!(refused, Err(DecodeError::TrailingBytes { count: 1 }));
    }

    proptest! {
        #[test]
        fn any_conf_change_round_trips(change in any_conf_change()) {
            let data = encode_conf_change(&change);
            prop_assert_eq!(decode_conf_change(&data), Ok(change));
        }

        /// Whatever the bytes, decoding answers (never panics), and what decodes re-encodes to
        /// the same bytes: one encoding per value.
        #[test]
        fn arbitrary_bytes_never_panic_and_decode_canonically(data in vec(any::<u8>(), 0..64)) {
            let data = Bytes::from(data);
            if let Ok(change) = decode_conf_change(&data) {
                prop_assert_eq!(encode_conf_change(&change), data);
            }
        }

        /// A version byte and a valid prefix, then noise: the deeper paths of the decoder.
        #[test]
        fn noise_after_a_valid_header_never_panics(noise in vec(any::<u8>(), 0..64)) {
            let mut data = vec![CONF_CHANGE_VERSION, 0];
            data.extend_from_slice(&noise);
            let data = Bytes::from(data);
            if let Ok(change) = decode_conf_change(&data) {
                prop_assert_eq!(encode_conf_change(&change), data);
            }
        }

        /// Snapshot messages carry any configuration; one of voters alone keeps the older
        /// layout (flag 1), so nodes that predate membership changes still read it.
        #[test]
        fn a_snapshot_of_voters_alone_keeps_the_older_layout(snapshot in any_snapshot()) {
            let mut msg = Message::new(MessageType::Snapshot, 1, 2, 3);
            let voters_only = snapshot.meta.conf_state.voters_outgoing.is_empty()
                && snapshot.meta.conf_state.learners.is_empty()
                && !snapshot.meta.conf_state.auto_leave;
            msg.snapshot = Some(snapshot);
            let frame = encoded(&msg);
            prop_assert_eq!(frame[FRAME_HEADER_BYTES + VOTE_BODY.len() - 1], if voters_only { 1 } else { 2 });
            prop_assert_eq!(decode_all(&frame, DEFAULT_MAX_FRAME_BYTES), Ok(vec![msg]));
        }
    }
}
