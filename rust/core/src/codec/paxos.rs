//! The body of a Multi-Paxos frame (protocol byte [`ProtocolId::Paxos`]): one
//! [`PaxosMessage`] in a compact, canonical layout, versioned on its own.
//!
//! ```text
//! body_version u8 (PAXOS_BODY_VERSION) | type u8 | from | to | ballot      ballot as Ballot::to_u64
//! then by type (varints unless noted):
//!   1 Prepare         from_slot | transfer u8 (0|1) | [transfer_from, when 1]
//!   2 Promise         chosen | first_slot | last_slot | count | [entries_from] |
//!                     per entry: ballot | kind u8 | data_len | data
//!   3 Nack            promised
//!   4 Accept          first_slot | chosen | count | per entry: kind u8 | data_len | data
//!   5 Accepted        accepted_to
//!   6 AcceptRejected  position
//!   7 Heartbeat       leader u8 (0|1) | chosen | read_round
//!   8 HeartbeatAck    read_round | accepted_to
//!   9 Snapshot        index | term | voter_count | voters... | data_len | data
//!  10 TimeoutNow      (nothing)
//!  11 Propose         count | per command: data_len | data
//!  12 ReadIndex       request_id
//!  13 ReadIndexResp   request_id | index
//!  14 TransferLeader  target
//!  15 Snapshot        index | term | voter_count | voters... | learner_count (> 0) |
//!                     learners... | data_len | data        (a configuration with learners)
//! ```
//!
//! Entries' slots are implicit (consecutive from `first_slot` / `entries_from`, present only
//! when `count > 0`), and an Accept's entries carry the message's ballot. Every value has one
//! encoding, so a body that decodes re-encodes to itself. Decoding never panics: every count
//! and length is checked against the bytes present before anything is allocated. Whether a
//! message that decodes makes sense (members, slot ranges) is the receiver's check
//! (`paxos::validate`), not the codec's.

use super::error::DecodeError;
use super::frame::{decode_frame, encode_frame};
use super::reader::BodyReader;
use super::varint::{put_varint, MAX_VARINT_BYTES};
use crate::paxos::ballot::Ballot;
use crate::paxos::message::{Body, PaxosMessage, Slot};
use crate::protocol_id::ProtocolId;
use crate::raft::message::{ConfState, Entry, EntryKind, Snapshot, SnapshotMeta};
use bytes::Bytes;

/// The layout version of Multi-Paxos bodies this build reads and writes. 2: a transfer
/// Prepare names the ballot of the leader that asked for it (1 had a flag only).
pub const PAXOS_BODY_VERSION: u8 = 2;

/// The fewest bytes one Accept entry can take: kind, data length.
const MIN_ACCEPT_ENTRY_BYTES: usize = 2;
/// The fewest bytes one Promise entry can take: ballot, kind, data length.
const MIN_PROMISE_ENTRY_BYTES: usize = 3;
/// The fewest bytes one command or voter id can take.
const MIN_COMMAND_BYTES: usize = 1;
const MIN_VOTER_BYTES: usize = 1;
/// Bytes of the fixed fields at most: version, type, and up to eight varints and flags.
const MAX_FIXED_FIELDS_BYTES: usize = 2 + 8 * MAX_VARINT_BYTES;

/// Appends one complete Multi-Paxos frame holding `msg` to `out`.
///
/// # Panics
/// If the body exceeds `u32::MAX` bytes: senders bound their messages far below it
/// (`PaxosConfig::max_bytes_per_msg`, proposals at half a frame).
pub fn encode_paxos_message(msg: &PaxosMessage, out: &mut Vec<u8>) {
    encode_frame(ProtocolId::Paxos, max_body_bytes(msg), out, |out| encode_body(msg, out));
}

/// Decodes the first frame of `buf` as a Multi-Paxos message: `Ok(None)` when only part of a
/// frame is there, else the message and the bytes the frame took. A frame of another protocol
/// is [`DecodeError::WrongProtocol`].
pub fn decode_paxos_message(buf: &Bytes, max_frame_bytes: usize) -> Result<Option<(PaxosMessage, usize)>, DecodeError> {
    let Some((body, frame_bytes)) = decode_frame(buf, ProtocolId::Paxos, max_frame_bytes)? else {
        return Ok(None);
    };
    Ok(Some((decode_paxos_body(&body)?, frame_bytes)))
}

fn max_body_bytes(msg: &PaxosMessage) -> usize {
    let per_item = 3 * MAX_VARINT_BYTES;
    let items_bytes = match &msg.body {
        Body::Promise { entries, .. } | Body::Accept { entries, .. } => {
            entries.iter().map(|e| per_item + e.data.len()).sum()
        }
        Body::Propose { commands } => commands.iter().map(|c| per_item + c.len()).sum(),
        Body::Snapshot { snapshot } => {
            let conf = &snapshot.meta.conf_state;
            (5 + conf.voters.len() + conf.learners.len()) * MAX_VARINT_BYTES + snapshot.data.len()
        }
        _ => 0,
    };
    MAX_FIXED_FIELDS_BYTES + items_bytes
}

/// Appends the body of `msg` to `out`.
pub fn encode_paxos_body(msg: &PaxosMessage, out: &mut Vec<u8>) {
    encode_body(msg, out);
}

fn encode_body(msg: &PaxosMessage, out: &mut Vec<u8>) {
    out.push(PAXOS_BODY_VERSION);
    out.push(msg.body.tag());
    for value in [msg.from, msg.to, msg.ballot.to_u64()] {
        put_varint(value, out);
    }
    match &msg.body {
        Body::Prepare { from_slot, transfer } => {
            put_varint(*from_slot, out);
            out.push(u8::from(transfer.is_some()));
            if let Some(from) = transfer {
                put_varint(from.to_u64(), out);
            }
        }
        Body::Promise { chosen, first_slot, last_slot, entries } => {
            for value in [*chosen, *first_slot, *last_slot, entries.len() as u64] {
                put_varint(value, out);
            }
            if let Some(first) = entries.first() {
                put_varint(first.index, out);
            }
            for entry in entries {
                put_varint(entry.term, out);
                out.push(entry.kind as u8);
                put_bytes(&entry.data, out);
            }
        }
        Body::Nack { promised } => put_varint(promised.to_u64(), out),
        Body::Accept { first_slot, chosen, entries } => {
            for value in [*first_slot, *chosen, entries.len() as u64] {
                put_varint(value, out);
            }
            for entry in entries {
                out.push(entry.kind as u8);
                put_bytes(&entry.data, out);
            }
        }
        Body::Accepted { accepted_to } => put_varint(*accepted_to, out),
        Body::AcceptRejected { position } => put_varint(*position, out),
        Body::Heartbeat { leader, chosen, read_round } => {
            out.push(u8::from(*leader));
            put_varint(*chosen, out);
            put_varint(*read_round, out);
        }
        Body::HeartbeatAck { read_round, accepted_to } => {
            put_varint(*read_round, out);
            put_varint(*accepted_to, out);
        }
        Body::Snapshot { snapshot } => encode_snapshot(snapshot, out),
        Body::TimeoutNow => {}
        Body::Propose { commands } => {
            put_varint(commands.len() as u64, out);
            for command in commands {
                put_bytes(command, out);
            }
        }
        Body::ReadIndex { request_id } => put_varint(*request_id, out),
        Body::ReadIndexResp { request_id, index } => {
            put_varint(*request_id, out);
            put_varint(*index, out);
        }
        Body::TransferLeader { target } => put_varint(*target, out),
    }
}

fn encode_snapshot(snapshot: &Snapshot, out: &mut Vec<u8>) {
    put_varint(snapshot.meta.index, out);
    put_varint(snapshot.meta.term, out);
    let conf = &snapshot.meta.conf_state;
    put_ids(&conf.voters, out);
    if !conf.learners.is_empty() {
        put_ids(&conf.learners, out);
    }
    put_bytes(&snapshot.data, out);
}

fn put_ids(ids: &[u64], out: &mut Vec<u8>) {
    put_varint(ids.len() as u64, out);
    for &id in ids {
        put_varint(id, out);
    }
}

fn put_bytes(data: &[u8], out: &mut Vec<u8>) {
    put_varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// Decodes a whole Multi-Paxos body; entry, command and snapshot data are slices of `body`.
pub fn decode_paxos_body(body: &Bytes) -> Result<PaxosMessage, DecodeError> {
    let mut reader = BodyReader::new(body);
    let version = reader.read_u8()?;
    if version != PAXOS_BODY_VERSION {
        return Err(DecodeError::BadBodyVersion {
            protocol: ProtocolId::Paxos,
            found: version,
            supported: PAXOS_BODY_VERSION,
        });
    }
    let tag = reader.read_u8()?;
    let from = reader.read_varint()?;
    let to = reader.read_varint()?;
    let ballot = Ballot::from_u64(reader.read_varint()?);
    let body = decode_typed(&mut reader, tag, ballot)?;
    reader.finish()?;
    Ok(PaxosMessage { from, to, ballot, body })
}

fn decode_typed(reader: &mut BodyReader<'_>, tag: u8, ballot: Ballot) -> Result<Body, DecodeError> {
    Ok(match tag {
        1 => {
            let from_slot = reader.read_varint()?;
            let transfer =
                if reader.read_flag("transfer")? { Some(Ballot::from_u64(reader.read_varint()?)) } else { None };
            Body::Prepare { from_slot, transfer }
        }
        2 => {
            let chosen = reader.read_varint()?;
            let first_slot = reader.read_varint()?;
            let last_slot = reader.read_varint()?;
            Body::Promise { chosen, first_slot, last_slot, entries: decode_promise_entries(reader)? }
        }
        3 => Body::Nack { promised: Ballot::from_u64(reader.read_varint()?) },
        4 => {
            let first_slot = reader.read_varint()?;
            let chosen = reader.read_varint()?;
            Body::Accept { first_slot, chosen, entries: decode_accept_entries(reader, first_slot, ballot)? }
        }
        5 => Body::Accepted { accepted_to: reader.read_varint()? },
        6 => Body::AcceptRejected { position: reader.read_varint()? },
        7 => Body::Heartbeat {
            leader: reader.read_flag("leader")?,
            chosen: reader.read_varint()?,
            read_round: reader.read_varint()?,
        },
        8 => Body::HeartbeatAck { read_round: reader.read_varint()?, accepted_to: reader.read_varint()? },
        9 => Body::Snapshot { snapshot: decode_snapshot(reader, false)? },
        15 => Body::Snapshot { snapshot: decode_snapshot(reader, true)? },
        10 => Body::TimeoutNow,
        11 => {
            let count = reader.read_count("commands", MIN_COMMAND_BYTES)?;
            let mut commands = Vec::with_capacity(count);
            for _ in 0..count {
                commands.push(reader.read_bytes("command")?);
            }
            Body::Propose { commands }
        }
        12 => Body::ReadIndex { request_id: reader.read_varint()? },
        13 => Body::ReadIndexResp { request_id: reader.read_varint()?, index: reader.read_varint()? },
        14 => Body::TransferLeader { target: reader.read_varint()? },
        _ => return Err(DecodeError::UnknownMessageType(tag)),
    })
}

fn read_kind(reader: &mut BodyReader<'_>) -> Result<EntryKind, DecodeError> {
    let tag = reader.read_u8()?;
    EntryKind::from_tag(tag).ok_or(DecodeError::UnknownEntryKind(tag))
}

fn decode_promise_entries(reader: &mut BodyReader<'_>) -> Result<Vec<Entry>, DecodeError> {
    let count = reader.read_count("entries", MIN_PROMISE_ENTRY_BYTES)?;
    let mut entries = Vec::with_capacity(count);
    if count == 0 {
        return Ok(entries);
    }
    let entries_from: Slot = reader.read_varint()?;
    for offset in 0..count as u64 {
        let term = reader.read_varint()?;
        let kind = read_kind(reader)?;
        let data = reader.read_bytes("entry data")?;
        // Wrapping: a hostile slot near u64::MAX decodes, and the receiver refuses it.
        entries.push(Entry { index: entries_from.wrapping_add(offset), term, kind, data });
    }
    Ok(entries)
}

fn decode_accept_entries(
    reader: &mut BodyReader<'_>,
    first_slot: Slot,
    ballot: Ballot,
) -> Result<Vec<Entry>, DecodeError> {
    let count = reader.read_count("entries", MIN_ACCEPT_ENTRY_BYTES)?;
    let mut entries = Vec::with_capacity(count);
    for offset in 0..count as u64 {
        let kind = read_kind(reader)?;
        let data = reader.read_bytes("entry data")?;
        entries.push(Entry { index: first_slot.wrapping_add(offset), term: ballot.to_u64(), kind, data });
    }
    Ok(entries)
}

/// `with_learners`: the layout of type 15, whose learner list is not empty (one encoding per
/// value: a configuration without learners goes as type 9).
fn decode_snapshot(reader: &mut BodyReader<'_>, with_learners: bool) -> Result<Snapshot, DecodeError> {
    let index = reader.read_varint()?;
    let term = reader.read_varint()?;
    let voters = read_ids(reader, "voters")?;
    let learners = if with_learners { read_ids(reader, "learners")? } else { Vec::new() };
    if with_learners && learners.is_empty() {
        return Err(DecodeError::NonCanonical { field: "snapshot learners" });
    }
    let data = reader.read_bytes("snapshot data")?;
    let conf_state = ConfState { voters, learners, ..ConfState::default() };
    Ok(Snapshot { meta: SnapshotMeta { index, term, conf_state }, data })
}

fn read_ids(reader: &mut BodyReader<'_>, what: &'static str) -> Result<Vec<u64>, DecodeError> {
    let count = reader.read_count(what, MIN_VOTER_BYTES)?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(reader.read_varint()?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DEFAULT_MAX_FRAME_BYTES;

    fn entry(slot: Slot, ballot: Ballot, data: &'static [u8]) -> Entry {
        Entry { index: slot, term: ballot.to_u64(), kind: EntryKind::Normal, data: Bytes::from_static(data) }
    }

    fn samples() -> Vec<PaxosMessage> {
        let b = Ballot::new(3, 2);
        let old = Ballot::new(1, 1);
        let bodies = vec![
            Body::Prepare { from_slot: 7, transfer: Some(Ballot::new(3, 2)) },
            Body::Promise {
                chosen: 4,
                first_slot: 2,
                last_slot: 9,
                entries: vec![entry(5, old, b"x"), entry(6, b, b"")],
            },
            Body::Promise { chosen: 0, first_slot: 1, last_slot: 0, entries: vec![] },
            Body::Nack { promised: Ballot::new(9, 3) },
            Body::Accept { first_slot: 5, chosen: 4, entries: vec![entry(5, b, b"a"), entry(6, b, b"bc")] },
            Body::Accepted { accepted_to: u64::MAX },
            Body::AcceptRejected { position: 3 },
            Body::Heartbeat { leader: true, chosen: 12, read_round: 4 },
            Body::HeartbeatAck { read_round: 4, accepted_to: 12 },
            Body::Snapshot {
                snapshot: Snapshot {
                    meta: SnapshotMeta {
                        index: 8,
                        term: b.to_u64(),
                        conf_state: ConfState::from_voters(vec![1, 2, 3]),
                    },
                    data: Bytes::from_static(b"state"),
                },
            },
            Body::Snapshot {
                snapshot: Snapshot {
                    meta: SnapshotMeta {
                        index: 9,
                        term: b.to_u64(),
                        conf_state: ConfState { voters: vec![2, 3], learners: vec![4, 5], ..ConfState::default() },
                    },
                    data: Bytes::from_static(b"state"),
                },
            },
            Body::TimeoutNow,
            Body::Propose { commands: vec![Bytes::from_static(b"set"), Bytes::new()] },
            Body::ReadIndex { request_id: 77 },
            Body::ReadIndexResp { request_id: 77, index: 12 },
            Body::TransferLeader { target: 3 },
        ];
        bodies.into_iter().map(|body| PaxosMessage::new(2, 1, b, body)).collect()
    }

    #[test]
    fn a_snapshot_with_learners_has_a_layout_of_its_own_and_one_encoding() {
        let with = samples()
            .into_iter()
            .find(|m| matches!(&m.body, Body::Snapshot { snapshot } if !snapshot.meta.conf_state.learners.is_empty()));
        let with = with.expect("a sample with learners");
        let mut body = Vec::new();
        encode_paxos_body(&with, &mut body);
        assert_eq!(body[1], 15);
        // The same bytes under type 15 with no learners: refused, that is type 9's layout.
        let mut empty = body[..2].to_vec();
        for value in [with.from, with.to, with.ballot.to_u64(), 9, with.ballot.to_u64(), 1, 2, 0] {
            put_varint(value, &mut empty);
        }
        put_bytes(b"", &mut empty);
        assert_eq!(
            decode_paxos_body(&Bytes::from(empty)),
            Err(DecodeError::NonCanonical { field: "snapshot learners" })
        );
    }

    #[test]
    fn every_message_round_trips_through_a_frame() {
        for msg in samples() {
            let mut out = Vec::new();
            encode_paxos_message(&msg, &mut out);
            let (decoded, used) = decode_paxos_message(&Bytes::from(out.clone()), DEFAULT_MAX_FRAME_BYTES)
                .expect("well-formed")
                .expect("whole frame");
            assert_eq!(used, out.len());
            assert_eq!(decoded, msg);
        }
    }

    #[test]
    fn a_raft_frame_is_the_wrong_protocol_and_a_bad_body_version_is_refused() {
        let raft = crate::raft::message::Message::new(crate::raft::message::MessageType::Heartbeat, 1, 2, 1);
        let mut out = Vec::new();
        crate::codec::encode_message(&raft, &mut out);
        let err = decode_paxos_message(&Bytes::from(out), DEFAULT_MAX_FRAME_BYTES).unwrap_err();
        assert!(matches!(err, DecodeError::WrongProtocol { .. }), "{err:?}");
        let mut body = Vec::new();
        encode_paxos_body(&samples()[0], &mut body);
        body[0] = 9;
        let err = decode_paxos_body(&Bytes::from(body)).unwrap_err();
        assert!(matches!(err, DecodeError::BadBodyVersion { found: 9, .. }), "{err:?}");
    }

    #[test]
    fn every_truncation_of_every_body_is_an_error_not_a_panic() {
        for msg in samples() {
            let mut body = Vec::new();
            encode_paxos_body(&msg, &mut body);
            for len in 0..body.len() {
                assert!(decode_paxos_body(&Bytes::copy_from_slice(&body[..len])).is_err(), "{msg:?} cut at {len}");
            }
        }
    }
}
