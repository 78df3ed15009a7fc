//! Typed errors of the write-ahead log.

use crate::protocol_id::ProtocolId;
use crate::raft::message::Index;
use std::path::PathBuf;
use thiserror::Error;

/// Errors of [`Wal`](super::Wal).
///
/// `Io` and `Corrupt` name the file involved. After any error from `write` or `compact` the
/// log is [`WalError::Failed`] for every later call: what reached the disk is unknown (a failed
/// fsync may have dropped dirty pages), so the only way on is to reopen and recover.
#[derive(Debug, Error)]
pub enum WalError {
    /// An operating-system call on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// `path` holds data that no correct run of this log writes, at byte `offset`. The log
    /// refuses to open: serving a damaged log could lose acknowledged entries or votes.
    #[error("corrupt write-ahead log {path} at byte {offset}: {problem}")]
    Corrupt { path: PathBuf, offset: u64, problem: Corruption },
    /// A record to write has a payload of `size_bytes`, above `WalOptions::max_record_bytes`.
    /// Nothing of the call was written.
    #[error("record of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    RecordTooLarge { size_bytes: usize, limit_bytes: usize },
    /// A snapshot at `index` was given, but the log already holds one at `current >= index`.
    #[error("snapshot at {index} is not newer than the current one at {current}")]
    SnapshotOutOfDate { index: Index, current: Index },
    /// An option is out of its range; `field` names it.
    #[error("invalid WAL option {field}: {problem}")]
    InvalidOptions { field: &'static str, problem: &'static str },
    /// Another open `Wal` (in this process or another) holds the directory's lock file `path`.
    #[error("the log directory is in use: {path} is locked by another process or handle")]
    Locked { path: PathBuf },
    /// An earlier `write` or `compact` failed; reopen the log to go on.
    #[error("the log failed earlier and must be reopened")]
    Failed,
    /// The log's owner closed it before a [`GroupWriter`](super::GroupWriter) wrote to it.
    #[error("the log is closed")]
    Closed,
    /// The group writer's pipe or thread could not be made.
    #[error("starting the writer thread: {0}")]
    WriterStart(std::io::Error),
    /// A submit to a [`GroupWriter`](super::GroupWriter) after `close` (or after its thread
    /// stopped).
    #[error("the writer is closed")]
    WriterClosed,
    /// A submit while `limit` writes are submitted and not yet drained: the caller has more
    /// Readies in flight than the core hands out (a caller bug), refused instead of queued.
    #[error("more than {limit} writes in flight")]
    TooManyWritesInFlight { limit: usize },
}

/// What is wrong with the bytes named by [`WalError::Corrupt`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Corruption {
    /// The segment file does not start with the segment magic (or is shorter than a header).
    #[error("bad segment header")]
    BadSegmentHeader,
    /// The segment file starts with the segment magic but states on-disk format version
    /// `found`; this build reads `expected` only. Not migrated (no user holds a log of an
    /// older version), so the log refuses to open instead of misreading it. The header has
    /// no checksum: a bit flip in the version reads the same.
    #[error("segment format version {found} is not readable: this build reads version {expected} only, and older logs are not migrated")]
    UnsupportedVersion { found: u32, expected: u32 },
    /// The record header (length and body checksum) fails its checksum.
    #[error("record header checksum mismatch (stated {stated:#010x}, computed {computed:#010x})")]
    HeaderChecksum { stated: u32, computed: u32 },
    /// The record body (type and payload) fails its checksum.
    #[error("record body checksum mismatch (stated {stated:#010x}, computed {computed:#010x})")]
    BodyChecksum { stated: u32, computed: u32 },
    /// A record states a payload longer than `max_record_bytes` (checked before anything is
    /// read or allocated for it).
    #[error("record states {size_bytes} payload bytes, above the limit of {limit_bytes}")]
    RecordTooLarge { size_bytes: u64, limit_bytes: usize },
    /// A record in the middle of a file, or in a file other than the last, is incomplete.
    #[error("record runs past the end of a file that is not the log's tail")]
    Truncated,
    /// A record type this build does not know.
    #[error("unknown record type {tag}")]
    UnknownRecordType { tag: u8 },
    /// A whole, checksummed record names a protocol this build does not know.
    #[error("record of unknown protocol tag {tag}")]
    UnknownProtocol { tag: u8 },
    /// A whole, checksummed record of another protocol than the log was opened for: the
    /// directory belongs to another protocol (or was mixed up with one).
    #[error("record of protocol {found} in a log opened for {expected}")]
    WrongProtocol { found: ProtocolId, expected: ProtocolId },
    /// A record's payload has the wrong length for its type.
    #[error("payload of {payload_bytes} bytes does not fit record type {tag}")]
    BadPayloadLength { tag: u8, payload_bytes: u64 },
    /// An entry of unknown kind.
    #[error("unknown entry kind {tag}")]
    UnknownEntryKind { tag: u8 },
    /// A hard state record with flags this version does not define (or none set).
    #[error("unknown hard state flags {flags:#04x}")]
    UnknownHardStateFlags { flags: u8 },
    /// An entry does not follow the log before it.
    #[error("gap in the log: expected an index up to {expected}, found {found}")]
    IndexGap { expected: Index, found: Index },
    /// A snapshot marker keeps entries the log does not hold.
    #[error("snapshot marker keeps the log up to {kept_last_index}, but it ends at {last_index}")]
    MarkerBeyondLog { kept_last_index: Index, last_index: Index },
    /// A snapshot marker does not move the snapshot forward.
    #[error("snapshot marker at {index} does not follow the snapshot at {snapshot_index}")]
    MarkerOutOfOrder { index: Index, snapshot_index: Index },
    /// A segment does not start with its hard state and snapshot marker records.
    #[error("segment does not start with a hard state and a snapshot marker")]
    MissingSegmentStart,
    /// A segment's starting records disagree with the log replayed before it.
    #[error("segment start disagrees with the preceding segments")]
    SegmentStartMismatch,
    /// The segment with sequence number `seq` is missing between two others.
    #[error("segment {seq:#x} is missing")]
    MissingSegment { seq: u64 },
    /// No segment file exists although snapshot files do.
    #[error("no segment files")]
    NoSegments,
    /// Entries `[first, last]` were in deleted segments but no snapshot covers them.
    #[error("entries [{first}, {last}] are neither in the log nor in a snapshot")]
    MissingEntries { first: Index, last: Index },
    /// The log refers to a snapshot at `index`, but no valid snapshot file at or above it exists.
    #[error("no valid snapshot file at or after index {index}")]
    MissingSnapshot { index: Index },
    /// The snapshot file at the marker's index has another term than the marker.
    #[error("snapshot file term {file_term} differs from the marker term {marker_term}")]
    SnapshotTermMismatch { file_term: u64, marker_term: u64 },
}
