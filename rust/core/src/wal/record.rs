//! Log records: the framing (length, two checksums, protocol, type) and the three payloads.
//!
//! ```text
//! offset 0   header_crc32c  u32 LE   CRC32C of bytes [4, 16): the two fields below
//! offset 4   payload_bytes  u64 LE   length of the payload alone, <= max_record_bytes
//! offset 12  body_crc32c    u32 LE   CRC32C of bytes [16, 18 + payload_bytes): protocol,
//!                                    type and payload
//! offset 16  protocol       u8       ProtocolId tag: 1 Raft, 2 Multi-Paxos
//! offset 17  record_type    u8       1 entry, 2 hard state, 3 snapshot marker, 4 sync mark
//! offset 18  payload
//! ```
//!
//! A sync mark (payload: `synced_bytes` u64) states that bytes `[0, synced_bytes)` of its
//! segment file were durable (fdatasync returned) before the mark was written, so
//! `synced_bytes` is at most the mark's own offset. It changes nothing in the log; recovery
//! uses it to tell damage to durable records (corruption) from a write a power cut tore or
//! reordered (a torn tail): see `segment.rs`.
//!
//! The header has its own checksum so that a damaged length is never trusted: without it, a
//! flipped bit in the length of a record in the middle of the last segment could make it look
//! like a torn tail, and recovery would silently cut every record after it.
//!
//! The protocol is a byte of every record rather than of the segment header: record types are
//! a protocol's own (the protocol byte is the namespace of `record_type`), so it is read and
//! checked with the type, under the body checksum, wherever a record is decoded; and the
//! segment header has no checksum of its own. It costs one byte per record. A record of
//! another protocol than the log was opened for is corruption (named with file and offset),
//! never a record to skip: one log belongs to one protocol.

use super::error::Corruption;
use crate::protocol_id::ProtocolId;
use crate::raft::message::{Entry, EntryKind, HardState, Index, Term};
use bytes::Bytes;

/// Bytes before the payload: header checksum, length, body checksum, protocol, type.
pub(crate) const RECORD_HEADER_BYTES: usize = 18;
/// Entry payload bytes before the data: index, term, kind.
pub(crate) const ENTRY_FIELDS_BYTES: usize = 17;
/// Payload bytes of a hard state record: term, vote, commit.
pub(crate) const HARD_STATE_PAYLOAD_BYTES: usize = 24;
/// Payload bytes of a hard state record with flags: term, vote, commit, flags (u8). Written
/// only when a flag is set, so a log without them is byte for byte what it always was and
/// older logs are read as they are.
pub(crate) const HARD_STATE_FLAGGED_PAYLOAD_BYTES: usize = 25;
/// The hard state flag of `HardState::abstaining`; no other bit is defined.
const HARD_STATE_FLAG_ABSTAINING: u8 = 1;
/// Payload bytes of a snapshot marker record: index, term, last index kept.
pub(crate) const MARKER_PAYLOAD_BYTES: usize = 24;
/// Payload bytes of a sync mark: the synced length.
pub(crate) const SYNC_MARK_PAYLOAD_BYTES: usize = 8;
/// Bytes of a whole sync mark record.
pub(crate) const SYNC_MARK_RECORD_BYTES: usize = RECORD_HEADER_BYTES + SYNC_MARK_PAYLOAD_BYTES;

const HEADER_CRC32C_OFFSET: usize = 0;
const PAYLOAD_BYTES_OFFSET: usize = 4;
const BODY_CRC32C_OFFSET: usize = 12;
const PROTOCOL_OFFSET: usize = 16;
const RECORD_TYPE_OFFSET: usize = 17;

const TAG_ENTRY: u8 = 1;
const TAG_HARD_STATE: u8 = 2;
const TAG_MARKER: u8 = 3;
const TAG_SYNC_MARK: u8 = 4;

/// A snapshot took effect: the log now starts after `index` (whose entry had `term`) and holds
/// `(index, last_index]`. The record states the outcome of the snapshot rule (suffix kept or
/// whole log dropped) so that replay never needs the terms of entries in deleted segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Marker {
    pub index: Index,
    pub term: Term,
    /// Invariant: `last_index >= index`.
    pub last_index: Index,
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Entry(Entry),
    HardState(HardState),
    Marker(Marker),
    /// A sync mark: bytes `[0, synced_bytes)` of the file were durable when it was written.
    SyncMark {
        synced_bytes: u64,
    },
}

/// Payload bytes of the record holding `entry`.
pub(crate) fn entry_payload_bytes(entry: &Entry) -> usize {
    ENTRY_FIELDS_BYTES + entry.data.len()
}

/// Appends the record of `entry` to `out`. The caller checked its size against the limit.
pub(crate) fn encode_entry(protocol: ProtocolId, entry: &Entry, out: &mut Vec<u8>) {
    let start = begin_record(out, protocol, TAG_ENTRY, entry_payload_bytes(entry));
    out.extend_from_slice(&entry.index.to_le_bytes());
    out.extend_from_slice(&entry.term.to_le_bytes());
    out.push(entry.kind as u8);
    out.extend_from_slice(&entry.data);
    finish_record(out, start);
}

/// Appends the record of `hard_state` to `out`.
pub(crate) fn encode_hard_state(protocol: ProtocolId, hard_state: &HardState, out: &mut Vec<u8>) {
    let flags = if hard_state.abstaining { HARD_STATE_FLAG_ABSTAINING } else { 0 };
    let payload_bytes = if flags == 0 { HARD_STATE_PAYLOAD_BYTES } else { HARD_STATE_FLAGGED_PAYLOAD_BYTES };
    let start = begin_record(out, protocol, TAG_HARD_STATE, payload_bytes);
    for field in [hard_state.term, hard_state.vote, hard_state.commit] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    if flags != 0 {
        out.push(flags);
    }
    finish_record(out, start);
}

/// Appends the record of `marker` to `out`.
pub(crate) fn encode_marker(protocol: ProtocolId, marker: &Marker, out: &mut Vec<u8>) {
    assert!(marker.last_index >= marker.index, "marker keeps a log ending before its snapshot: {marker:?}");
    let start = begin_record(out, protocol, TAG_MARKER, MARKER_PAYLOAD_BYTES);
    for field in [marker.index, marker.term, marker.last_index] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    finish_record(out, start);
}

/// Appends a sync mark stating that `[0, synced_bytes)` of its file is durable.
pub(crate) fn encode_sync_mark(protocol: ProtocolId, synced_bytes: u64, out: &mut Vec<u8>) {
    let start = begin_record(out, protocol, TAG_SYNC_MARK, SYNC_MARK_PAYLOAD_BYTES);
    out.extend_from_slice(&synced_bytes.to_le_bytes());
    finish_record(out, start);
}

/// The `synced_bytes` of a whole, valid sync mark of `protocol` at `start` of `buf`, if one is
/// there. Cheap where none is (the fixed length and type are compared before any checksum),
/// for searching damaged bytes for marks.
pub(crate) fn sync_mark_at(buf: &Bytes, start: usize, protocol: ProtocolId) -> Option<u64> {
    let record = buf.get(start..start.checked_add(SYNC_MARK_RECORD_BYTES)?)?;
    let looks_like_one = read_u64(record, PAYLOAD_BYTES_OFFSET) == SYNC_MARK_PAYLOAD_BYTES as u64
        && record[RECORD_TYPE_OFFSET] == TAG_SYNC_MARK
        && record[PROTOCOL_OFFSET] == protocol.tag();
    if !looks_like_one {
        return None;
    }
    match decode_record(buf, start, SYNC_MARK_PAYLOAD_BYTES, protocol) {
        Decoded::Record { record: Record::SyncMark { synced_bytes }, .. } => Some(synced_bytes),
        _ => None,
    }
}

/// Writes the header with the checksums left zero; returns where the record starts.
fn begin_record(out: &mut Vec<u8>, protocol: ProtocolId, tag: u8, payload_bytes: usize) -> usize {
    out.reserve(RECORD_HEADER_BYTES + payload_bytes);
    let start = out.len();
    out.extend_from_slice(&[0; PAYLOAD_BYTES_OFFSET]);
    out.extend_from_slice(&(payload_bytes as u64).to_le_bytes());
    out.extend_from_slice(&[0; PROTOCOL_OFFSET - BODY_CRC32C_OFFSET]);
    out.push(protocol.tag());
    out.push(tag);
    start
}

/// Fills in both checksums of the record starting at `start`, now that its payload is written.
fn finish_record(out: &mut [u8], start: usize) {
    let record = &mut out[start..];
    let payload_bytes = read_u64(record, PAYLOAD_BYTES_OFFSET);
    assert_eq!(payload_bytes, (record.len() - RECORD_HEADER_BYTES) as u64, "record payload length");
    let body_crc32c = crc32c::crc32c(&record[PROTOCOL_OFFSET..]);
    record[BODY_CRC32C_OFFSET..PROTOCOL_OFFSET].copy_from_slice(&body_crc32c.to_le_bytes());
    let header_crc32c = crc32c::crc32c(&record[PAYLOAD_BYTES_OFFSET..PROTOCOL_OFFSET]);
    record[HEADER_CRC32C_OFFSET..PAYLOAD_BYTES_OFFSET].copy_from_slice(&header_crc32c.to_le_bytes());
}

/// What lies at some offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A whole, valid record taking `record_bytes`.
    Record { record: Record, record_bytes: usize },
    /// The bytes end inside the header, or before the end the (valid) header states.
    Incomplete,
    /// The bytes are damaged. `end` is where the record ends when its header is valid.
    Damaged { problem: Corruption, end: Option<usize> },
}

/// Decodes the record at `start` of `buf` (`start < buf.len()`), a record of `protocol`.
/// Never panics on any input; the stated length is checked against `max_record_bytes` and the
/// bytes present before the body is touched. Entry data is a zero-copy slice of `buf`.
pub(crate) fn decode_record(buf: &Bytes, start: usize, max_record_bytes: usize, protocol: ProtocolId) -> Decoded {
    let available = &buf[start..];
    if available.len() < RECORD_HEADER_BYTES {
        return Decoded::Incomplete;
    }
    let stated = read_u32(available, HEADER_CRC32C_OFFSET);
    let computed = crc32c::crc32c(&available[PAYLOAD_BYTES_OFFSET..PROTOCOL_OFFSET]);
    if stated != computed {
        return Decoded::Damaged { problem: Corruption::HeaderChecksum { stated, computed }, end: None };
    }
    let payload_bytes = read_u64(available, PAYLOAD_BYTES_OFFSET);
    if payload_bytes > max_record_bytes as u64 {
        let problem = Corruption::RecordTooLarge { size_bytes: payload_bytes, limit_bytes: max_record_bytes };
        return Decoded::Damaged { problem, end: None };
    }
    // Fits in usize: at most max_record_bytes.
    let record_bytes = RECORD_HEADER_BYTES + payload_bytes as usize;
    if available.len() < record_bytes {
        return Decoded::Incomplete;
    }
    let end = Some(start + record_bytes);
    let stated = read_u32(available, BODY_CRC32C_OFFSET);
    let computed = crc32c::crc32c(&available[PROTOCOL_OFFSET..record_bytes]);
    if stated != computed {
        return Decoded::Damaged { problem: Corruption::BodyChecksum { stated, computed }, end };
    }
    if let Err(problem) = check_protocol(available[PROTOCOL_OFFSET], protocol) {
        return Decoded::Damaged { problem, end };
    }
    let payload_start = start + RECORD_HEADER_BYTES;
    match decode_payload(available[RECORD_TYPE_OFFSET], buf, payload_start..start + record_bytes) {
        Ok(record) => Decoded::Record { record, record_bytes },
        Err(problem) => Decoded::Damaged { problem, end },
    }
}

/// Checks a checksummed record's protocol byte against the log's protocol.
fn check_protocol(tag: u8, expected: ProtocolId) -> Result<(), Corruption> {
    let found = ProtocolId::from_tag(tag).map_err(|e| Corruption::UnknownProtocol { tag: e.tag })?;
    if found != expected {
        return Err(Corruption::WrongProtocol { found, expected });
    }
    Ok(())
}

/// Decodes a checksummed payload `buf[range]` of type `tag`.
fn decode_payload(tag: u8, buf: &Bytes, range: std::ops::Range<usize>) -> Result<Record, Corruption> {
    let payload = &buf[range.clone()];
    let bad_length = Corruption::BadPayloadLength { tag, payload_bytes: payload.len() as u64 };
    match tag {
        TAG_ENTRY => {
            if payload.len() < ENTRY_FIELDS_BYTES {
                return Err(bad_length);
            }
            let kind_tag = payload[16];
            let kind = EntryKind::from_tag(kind_tag).ok_or(Corruption::UnknownEntryKind { tag: kind_tag })?;
            Ok(Record::Entry(Entry {
                index: read_u64(payload, 0),
                term: read_u64(payload, 8),
                kind,
                data: buf.slice(range.start + ENTRY_FIELDS_BYTES..range.end),
            }))
        }
        TAG_HARD_STATE
            if payload.len() == HARD_STATE_PAYLOAD_BYTES || payload.len() == HARD_STATE_FLAGGED_PAYLOAD_BYTES =>
        {
            let flags = payload.get(HARD_STATE_PAYLOAD_BYTES).copied();
            // Flags are written only when one is set: a zero byte is no record this writes.
            if let Some(flags) = flags.filter(|f| *f != HARD_STATE_FLAG_ABSTAINING) {
                return Err(Corruption::UnknownHardStateFlags { flags });
            }
            Ok(Record::HardState(HardState {
                abstaining: flags.is_some(),
                ..HardState::new(read_u64(payload, 0), read_u64(payload, 8), read_u64(payload, 16))
            }))
        }
        TAG_MARKER if payload.len() == MARKER_PAYLOAD_BYTES => {
            let marker =
                Marker { index: read_u64(payload, 0), term: read_u64(payload, 8), last_index: read_u64(payload, 16) };
            if marker.last_index < marker.index {
                return Err(Corruption::MarkerBeyondLog {
                    kept_last_index: marker.last_index,
                    last_index: marker.index,
                });
            }
            Ok(Record::Marker(marker))
        }
        TAG_SYNC_MARK if payload.len() == SYNC_MARK_PAYLOAD_BYTES => {
            Ok(Record::SyncMark { synced_bytes: read_u64(payload, 0) })
        }
        TAG_HARD_STATE | TAG_MARKER | TAG_SYNC_MARK => Err(bad_length),
        _ => Err(Corruption::UnknownRecordType { tag }),
    }
}

/// The little-endian u32 at `offset`; the caller checked that 4 bytes are there.
fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    let field: [u8; 4] = bytes[offset..offset + 4].try_into().expect("4 bytes");
    u32::from_le_bytes(field)
}

/// The little-endian u64 at `offset`; the caller checked that 8 bytes are there.
pub(crate) fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    let field: [u8; 8] = bytes[offset..offset + 8].try_into().expect("8 bytes");
    u64::from_le_bytes(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;
    const RAFT: ProtocolId = ProtocolId::Raft;

    fn entry(index: Index, term: Term, data: &'static [u8]) -> Entry {
        Entry { index, term, kind: EntryKind::Normal, data: Bytes::from_static(data) }
    }

    fn decode_all(buf: Vec<u8>) -> Vec<Record> {
        let buf = Bytes::from(buf);
        let mut records = Vec::new();
        let mut start = 0;
        while start < buf.len() {
            match decode_record(&buf, start, LIMIT, RAFT) {
                Decoded::Record { record, record_bytes } => {
                    records.push(record);
                    start += record_bytes;
                }
                other => panic!("at {start}: {other:?}"),
            }
        }
        records
    }

    #[test]
    fn round_trips_each_type() {
        let mut out = Vec::new();
        let e = entry(7, 3, b"payload");
        let noop = Entry { index: 8, term: 3, kind: EntryKind::NoOp, data: Bytes::new() };
        let hs = HardState::new(3, 2, 6);
        let marker = Marker { index: 5, term: 2, last_index: 8 };
        encode_entry(RAFT, &e, &mut out);
        encode_entry(RAFT, &noop, &mut out);
        encode_hard_state(RAFT, &hs, &mut out);
        encode_marker(RAFT, &marker, &mut out);
        let mark_start = out.len();
        encode_sync_mark(RAFT, 12, &mut out);
        assert_eq!(out.len(), 4 * RECORD_HEADER_BYTES + 2 * ENTRY_FIELDS_BYTES + 7 + 24 + 24 + SYNC_MARK_RECORD_BYTES);
        let buf = Bytes::from(out.clone());
        assert_eq!(sync_mark_at(&buf, mark_start, RAFT), Some(12));
        assert_eq!((0..mark_start).find_map(|at| sync_mark_at(&buf, at, RAFT)), None);
        assert_eq!(sync_mark_at(&buf, mark_start, ProtocolId::Paxos), None);
        let records = decode_all(out);
        let mark = Record::SyncMark { synced_bytes: 12 };
        assert_eq!(
            records,
            [Record::Entry(e), Record::Entry(noop), Record::HardState(hs), Record::Marker(marker), mark]
        );
    }

    #[test]
    fn a_hard_state_without_flags_keeps_the_old_layout_and_an_abstaining_one_round_trips() {
        let mut plain = Vec::new();
        encode_hard_state(RAFT, &HardState::new(3, 2, 6), &mut plain);
        assert_eq!(plain.len(), RECORD_HEADER_BYTES + HARD_STATE_PAYLOAD_BYTES);
        let abstaining = HardState { abstaining: true, ..HardState::new(3, 2, 6) };
        let mut flagged = Vec::new();
        encode_hard_state(RAFT, &abstaining, &mut flagged);
        assert_eq!(flagged.len(), RECORD_HEADER_BYTES + HARD_STATE_FLAGGED_PAYLOAD_BYTES);
        assert_eq!(flagged[..RECORD_HEADER_BYTES + 24][RECORD_HEADER_BYTES..], plain[RECORD_HEADER_BYTES..]);
        assert_eq!(decode_all(flagged), [Record::HardState(abstaining)]);
        // Flags this version does not write: none set, or an unknown bit.
        for flags in [0u8, 2, 3, 0x80] {
            let mut out = Vec::new();
            let start = begin_record(&mut out, RAFT, TAG_HARD_STATE, HARD_STATE_FLAGGED_PAYLOAD_BYTES);
            out.extend_from_slice(&[0; HARD_STATE_PAYLOAD_BYTES]);
            out.push(flags);
            finish_record(&mut out, start);
            let end = Some(out.len());
            let problem = Corruption::UnknownHardStateFlags { flags };
            assert_eq!(decode_record(&Bytes::from(out), 0, LIMIT, RAFT), Decoded::Damaged { problem, end }, "{flags}");
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut out = Vec::new();
        encode_entry(RAFT, &entry(1, 1, b"abc"), &mut out);
        for byte in 0..out.len() {
            for bit in 0..8 {
                let mut damaged = out.clone();
                damaged[byte] ^= 1 << bit;
                let decoded = decode_record(&Bytes::from(damaged), 0, LIMIT, RAFT);
                assert!(matches!(decoded, Decoded::Damaged { .. } | Decoded::Incomplete), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn short_input_is_incomplete() {
        let mut out = Vec::new();
        encode_entry(RAFT, &entry(1, 1, b"abc"), &mut out);
        for len in 0..out.len() {
            let buf = Bytes::copy_from_slice(&out[..len]);
            if len > 0 {
                assert_eq!(decode_record(&buf, 0, LIMIT, RAFT), Decoded::Incomplete, "len {len}");
            }
        }
    }

    #[test]
    fn oversized_length_is_refused_before_reading() {
        let mut out = Vec::new();
        encode_hard_state(RAFT, &HardState::default(), &mut out);
        let decoded = decode_record(&Bytes::from(out), 0, MIN_LIMIT_FOR_TEST, RAFT);
        assert_eq!(
            decoded,
            Decoded::Damaged {
                problem: Corruption::RecordTooLarge { size_bytes: 24, limit_bytes: MIN_LIMIT_FOR_TEST },
                end: None
            }
        );
    }

    const MIN_LIMIT_FOR_TEST: usize = 16;

    #[test]
    fn a_record_of_another_protocol_is_damaged_not_skipped() {
        let mut out = Vec::new();
        encode_entry(ProtocolId::Paxos, &entry(1, 1, b"abc"), &mut out);
        assert_eq!(out[PROTOCOL_OFFSET], ProtocolId::Paxos.tag());
        let end = Some(out.len());
        let problem = Corruption::WrongProtocol { found: ProtocolId::Paxos, expected: RAFT };
        assert_eq!(decode_record(&Bytes::from(out), 0, LIMIT, RAFT), Decoded::Damaged { problem, end });
    }

    #[test]
    fn an_unknown_protocol_tag_under_a_valid_checksum_is_named() {
        let mut out = Vec::new();
        encode_hard_state(RAFT, &HardState::default(), &mut out);
        out[PROTOCOL_OFFSET] = 0x7f;
        // Checksums fixed up: a record some other build wrote whole.
        let len = out.len();
        finish_record(&mut out, 0);
        let decoded = decode_record(&Bytes::from(out), 0, LIMIT, RAFT);
        assert_eq!(decoded, Decoded::Damaged { problem: Corruption::UnknownProtocol { tag: 0x7f }, end: Some(len) });
    }
}
