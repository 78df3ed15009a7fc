//! Segment files: naming, the file header, and scanning a file into records.
//!
//! A segment is `{seq:016x}.wal` (so names sort in log order) holding
//!
//! ```text
//! offset 0   magic     8 bytes  SEGMENT_MAGIC
//! offset 8   version   u32 LE   SEGMENT_VERSION
//! offset 12  records, see `record.rs`; the first two are the hard state and the snapshot
//!            marker current when the segment was created
//! ```
//!
//! Version 2 added the protocol byte to every record (`record.rs`), version 3 the sync mark
//! record. A segment of any other version is refused on open
//! ([`Corruption::UnsupportedVersion`], naming the version found and the one expected, with the
//! file): older logs are not migrated, since no user holds one (the format changed before any
//! release).
//!
//! A segment is created whole under a temporary name and renamed, so every segment file has
//! its header and starting records. Only the last segment can have a torn tail.
//!
//! # Torn tail or corruption
//!
//! A power cut keeps what was synced; of the writes since the last sync, a disk may keep any
//! sectors and lose others, in any order (a write torn at 512-byte granularity, a later write
//! on disk and an earlier one not). The space a log writes into reads as zeros where its
//! write did not reach the disk (the file was allocated ahead or extended, never holding
//! older data there), so after the first bad record of the last segment there may still be
//! valid records: written, not synced, not acknowledged. Checksums cannot tell such a record
//! from a durable one damaged later; the sync marks can. Every write after a sync begins with
//! a mark stating how much of the file that sync made durable. A bad record at `offset` in the
//! last segment is a torn tail unless a valid mark anywhere after it states more than `offset`
//! bytes durable: then the bad record was durable, and it is corruption. So damage to any
//! record but those of the last write (and of unsynced writes just before it) is detected;
//! damage to those is indistinguishable from a torn write and cut as one. The search for a
//! mark after a bad record cannot trust that record's length, so it tries every offset: entry
//! data holding the bytes of a valid mark there could make recovery refuse a log whose tail
//! was merely torn (a false alarm that stops the node), never cut a durable record.

use super::error::Corruption;
use super::record::{decode_record, sync_mark_at, Decoded, Record};
use crate::protocol_id::ProtocolId;
use bytes::Bytes;

/// The first bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"senatwal";
/// The version of the segment and record layout this build writes and reads.
pub(crate) const SEGMENT_VERSION: u32 = 3;
/// Bytes of the segment file header: magic and version.
pub(crate) const SEGMENT_HEADER_BYTES: usize = 12;

const SEGMENT_EXTENSION: &str = ".wal";
const SEQ_HEX_DIGITS: usize = 16;

/// The file name of segment `seq`.
pub(crate) fn segment_file_name(seq: u64) -> String {
    format!("{seq:016x}{SEGMENT_EXTENSION}")
}

/// The sequence number named by a segment file name, or `None` for any other name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    parse_hex_name(name, SEGMENT_EXTENSION)
}

/// The number in a name of exactly 16 lowercase hex digits followed by `extension`.
pub(crate) fn parse_hex_name(name: &str, extension: &str) -> Option<u64> {
    let digits = name.strip_suffix(extension)?;
    let is_canonical = digits.len() == SEQ_HEX_DIGITS && digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !is_canonical {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Appends the segment file header to `out`.
pub(crate) fn encode_segment_header(out: &mut Vec<u8>) {
    out.extend_from_slice(&SEGMENT_MAGIC);
    out.extend_from_slice(&SEGMENT_VERSION.to_le_bytes());
}

/// Checks the segment file header at the start of `buf`: the magic, then the version.
fn check_segment_header(buf: &[u8]) -> Result<(), Corruption> {
    if buf.len() < SEGMENT_HEADER_BYTES || buf[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        return Err(Corruption::BadSegmentHeader);
    }
    let field: [u8; 4] = buf[SEGMENT_MAGIC.len()..SEGMENT_HEADER_BYTES].try_into().expect("4 bytes");
    match u32::from_le_bytes(field) {
        SEGMENT_VERSION => Ok(()),
        found => Err(Corruption::UnsupportedVersion { found, expected: SEGMENT_VERSION }),
    }
}

/// A located record: its byte offset in the file and the record.
pub(crate) type LocatedRecord = (u64, Record);

/// The records of one segment file as found on disk.
#[derive(Debug)]
pub(crate) struct ScannedSegment {
    /// Every whole, valid record in file order, but the sync marks.
    pub records: Vec<LocatedRecord>,
    /// Bytes of the valid prefix (header and whole records). Below the file length only for
    /// the last segment with a torn tail, which recovery truncates to this length.
    pub valid_bytes: u64,
}

/// Decodes the segment file contents `buf`, records of `protocol`. `is_last`: whether it is
/// the newest segment, the only one whose tail may be torn by a crash. The last segment ends
/// at its first bad record (incomplete, or failing a checksum) unless a sync mark after it
/// proves it durable (see the module docs), or where only zero bytes follow.
///
/// Anything else that is not a valid record is corruption, returned with its byte offset: any
/// bad record of an earlier segment, a proven-durable bad record, and whole records no torn
/// write produces (a header with a valid checksum stating a length above the limit, an unknown
/// type or protocol, a payload of the wrong length).
pub(crate) fn scan_segment(
    buf: &Bytes,
    is_last: bool,
    max_record_bytes: usize,
    protocol: ProtocolId,
) -> Result<ScannedSegment, (u64, Corruption)> {
    check_segment_header(buf).map_err(|problem| (0, problem))?;
    // Where the trailing run of zero bytes starts (the file length when it ends non-zero).
    let zero_tail_start = if is_last { buf.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1) } else { buf.len() };
    let mut records = Vec::new();
    let mut start = SEGMENT_HEADER_BYTES;
    while start < zero_tail_start {
        let problem = match decode_record(buf, start, max_record_bytes, protocol) {
            Decoded::Record { record: Record::SyncMark { .. }, record_bytes } => {
                start += record_bytes;
                continue;
            }
            Decoded::Record { record, record_bytes } => {
                records.push((start as u64, record));
                start += record_bytes;
                continue;
            }
            Decoded::Incomplete => Corruption::Truncated,
            Decoded::Damaged { problem, .. } => problem,
        };
        let may_be_torn = matches!(
            problem,
            Corruption::Truncated | Corruption::HeaderChecksum { .. } | Corruption::BodyChecksum { .. }
        );
        if is_last && may_be_torn && !proven_durable(buf, start, zero_tail_start, protocol) {
            break;
        }
        return Err((start as u64, problem));
    }
    Ok(ScannedSegment { records, valid_bytes: start.min(buf.len()) as u64 })
}

/// Whether a valid sync mark in `buf[bad_start + 1..end)` states that the byte at `bad_start`
/// was durable. A mark never states more than its own offset (it speaks of what came before
/// it), so one claiming more is no mark this log wrote and proves nothing. Searched byte by
/// byte, since the bad record's length is not to be trusted; only a damaged last segment
/// pays for it.
fn proven_durable(buf: &Bytes, bad_start: usize, end: usize, protocol: ProtocolId) -> bool {
    (bad_start + 1..end).any(|at| {
        sync_mark_at(buf, at, protocol).is_some_and(|synced| synced > bad_start as u64 && synced <= at as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::message::{Entry, EntryKind, HardState};
    use crate::wal::record::{encode_entry, encode_hard_state, encode_sync_mark, RECORD_HEADER_BYTES};

    const LIMIT: usize = 1 << 20;
    const RAFT: ProtocolId = ProtocolId::Raft;

    fn segment_with_two_records() -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        encode_segment_header(&mut out);
        encode_hard_state(RAFT, &HardState::new(1, 1, 0), &mut out);
        let second = out.len();
        let e = Entry { index: 1, term: 1, kind: EntryKind::Normal, data: Bytes::from_static(b"x") };
        encode_entry(RAFT, &e, &mut out);
        (out, second)
    }

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(segment_file_name(0x2a), "000000000000002a.wal");
        assert_eq!(parse_segment_file_name("000000000000002a.wal"), Some(0x2a));
        assert_eq!(parse_segment_file_name("000000000000002A.wal"), None);
        assert_eq!(parse_segment_file_name("2a.wal"), None);
        assert_eq!(parse_segment_file_name("000000000000002a.wal.tmp"), None);
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn torn_tails_of_the_last_segment_are_cut() {
        let (full, second) = segment_with_two_records();
        for len in second..full.len() {
            let scanned = scan_segment(&Bytes::copy_from_slice(&full[..len]), true, LIMIT, RAFT).unwrap();
            assert_eq!((scanned.records.len(), scanned.valid_bytes), (1, second as u64), "len {len}");
            let not_last = scan_segment(&Bytes::copy_from_slice(&full[..len]), false, LIMIT, RAFT);
            assert!(len == second || not_last.is_err(), "len {len}");
        }
        let mut zero_filled = full[..second].to_vec();
        zero_filled.resize(full.len() + 100, 0);
        let scanned = scan_segment(&Bytes::from(zero_filled), true, LIMIT, RAFT).unwrap();
        assert_eq!(scanned.valid_bytes, second as u64);
    }

    #[test]
    fn damage_a_later_sync_mark_proves_durable_is_corruption() {
        // The mark proves the first record durable, not the second.
        let (mut full, second) = segment_with_two_records();
        let mark = full.len();
        encode_sync_mark(RAFT, second as u64, &mut full);
        let mut damaged = full.clone();
        damaged[SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES] ^= 1;
        let err = scan_segment(&Bytes::from(damaged.clone()), true, LIMIT, RAFT).unwrap_err();
        assert_eq!(err.0, SEGMENT_HEADER_BYTES as u64);
        assert!(matches!(err.1, Corruption::BodyChecksum { .. }));
        // Damage to the header too (the record's length cannot be trusted).
        damaged[SEGMENT_HEADER_BYTES + 5] ^= 1;
        let err = scan_segment(&Bytes::from(damaged), true, LIMIT, RAFT).unwrap_err();
        assert_eq!(err.0, SEGMENT_HEADER_BYTES as u64);
        assert!(matches!(err.1, Corruption::HeaderChecksum { .. }));
        // Damage after what the mark proves, and damage to the mark itself, is a torn tail.
        let mut damaged = full.clone();
        damaged[mark - 1] ^= 1;
        assert_eq!(scan_segment(&Bytes::from(damaged), true, LIMIT, RAFT).unwrap().valid_bytes, second as u64);
        let mut damaged = full.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(scan_segment(&Bytes::from(damaged), true, LIMIT, RAFT).unwrap().valid_bytes, mark as u64);
        // Sync marks are no records of the log.
        assert_eq!(scan_segment(&Bytes::from(full), true, LIMIT, RAFT).unwrap().records.len(), 2);
    }

    #[test]
    fn damage_no_sync_mark_proves_durable_is_a_torn_tail_with_valid_records_after_it() {
        // A torn write whose later sectors reached the disk and an earlier one did not.
        let (mut full, second) = segment_with_two_records();
        encode_hard_state(RAFT, &HardState::new(2, 1, 1), &mut full);
        let mut damaged = full.clone();
        damaged[second..second + RECORD_HEADER_BYTES].fill(0);
        assert_eq!(scan_segment(&Bytes::from(damaged.clone()), true, LIMIT, RAFT).unwrap().valid_bytes, second as u64);
        // In a segment before the last, it is corruption.
        let err = scan_segment(&Bytes::from(damaged), false, LIMIT, RAFT).unwrap_err();
        assert!(matches!(err, (offset, Corruption::HeaderChecksum { .. }) if offset == second as u64));
    }

    #[test]
    fn bad_magic_is_corruption() {
        let (mut full, _) = segment_with_two_records();
        full[0] ^= 1;
        assert_eq!(scan_segment(&Bytes::from(full), true, LIMIT, RAFT).unwrap_err(), (0, Corruption::BadSegmentHeader));
    }

    #[test]
    fn another_version_is_refused_naming_both_versions() {
        let (full, _) = segment_with_two_records();
        let mut old = full.clone();
        old[SEGMENT_MAGIC.len()..SEGMENT_HEADER_BYTES].copy_from_slice(&1u32.to_le_bytes());
        let expected = (0, Corruption::UnsupportedVersion { found: 1, expected: SEGMENT_VERSION });
        assert_eq!(scan_segment(&Bytes::from(old), true, LIMIT, RAFT).unwrap_err(), expected);
        let short = Bytes::copy_from_slice(&full[..SEGMENT_HEADER_BYTES - 1]);
        assert_eq!(scan_segment(&short, true, LIMIT, RAFT).unwrap_err(), (0, Corruption::BadSegmentHeader));
    }

    #[test]
    fn a_valid_record_of_another_protocol_is_corruption_even_at_the_tail() {
        let (mut full, second) = segment_with_two_records();
        full.truncate(second);
        let e = Entry { index: 1, term: 1, kind: EntryKind::Normal, data: Bytes::from_static(b"x") };
        encode_entry(ProtocolId::Paxos, &e, &mut full);
        let problem = Corruption::WrongProtocol { found: ProtocolId::Paxos, expected: RAFT };
        assert_eq!(scan_segment(&Bytes::from(full), true, LIMIT, RAFT).unwrap_err(), (second as u64, problem));
    }
}
