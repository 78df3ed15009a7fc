//! The durable write-ahead log: Raft's entries, hard state and snapshots on local disk.
//!
//! [`Wal::write`] carries out duty 1 of a `Ready` (persist snapshot, entries, hard state, then
//! one fsync for all of it); [`Wal::compact`] records a snapshot the application took and frees
//! the log it covers; [`Wal::open`] recovers exactly what was acknowledged as durable.
//!
//! # Files
//!
//! A log directory holds
//!
//! * segment files `{seq:016x}.wal`, consecutive sequence numbers, each at most about
//!   `max_segment_bytes`: a 12-byte header (magic `senatwal`, version `u32` LE, now 3) and
//!   records; the last one may end in zeros, space allocated ahead of its records
//!   (`preallocate`). A segment of another version is [`Corruption::UnsupportedVersion`]: the
//!   log refuses to open (older logs are not migrated: no user holds one);
//! * snapshot files `{index:016x}.snap`: magic `senasnap`, version, index, term, the configuration
//!   (voters, outgoing voters, learners, auto-leave; version 1 files, voters alone, are still
//!   read), data, and a CRC32C of all of it;
//! * transient `*.tmp` files: a segment or snapshot file being written. Every such file is
//!   written whole, synced, renamed into place and the directory synced, so a name without
//!   `.tmp` always refers to a complete file. Recovery deletes leftover `.tmp` files.
//!
//! # Records
//!
//! ```text
//! offset 0   header_crc32c  u32 LE   CRC32C of bytes [4, 16)
//! offset 4   payload_bytes  u64 LE   length of the payload, <= max_record_bytes
//! offset 12  body_crc32c    u32 LE   CRC32C of bytes [16, 18 + payload_bytes): protocol, type
//!                                    and payload
//! offset 16  protocol       u8       ProtocolId tag (`WalOptions::protocol`): 1 Raft
//! offset 17  record_type    u8
//! offset 18  payload:
//!            1 entry           index u64, term u64, kind u8, data (the rest)
//!            2 hard state      term u64, vote u64, commit u64
//!            3 snapshot marker index u64, term u64, last_index u64
//!            4 sync mark       synced_bytes u64: [0, synced_bytes) of this file was durable
//!                              before this record was written
//! ```
//!
//! All integers are little-endian. Every record names its protocol (why per record and not per
//! segment: `record.rs`); a log is opened for one protocol, and a whole record of another one is
//! [`WalError::Corrupt`] naming file and offset, so a directory given to the wrong protocol is
//! never misread. Snapshot files carry no protocol byte: a snapshot takes effect only through
//! its marker record, which carries it.
//!
//! A snapshot marker says: the snapshot at `(index, term)`
//! took effect and the log now holds `(index, last_index]` — the outcome of the snapshot rule
//! below, so replay needs no terms of deleted entries. Every segment starts with the hard state
//! and the marker current when it was created, so deleting older segments never loses them.
//!
//! # The snapshot rule
//!
//! One rule, Raft's InstallSnapshot rule, for a snapshot received from the leader (`write`),
//! taken locally (`compact`) or found at recovery: entries at or below the snapshot index are
//! dropped; if the log holds the entry at the snapshot index with the snapshot's term, the
//! entries after it are kept, otherwise the whole log is dropped.
//!
//! # Ordering (what makes a crash safe)
//!
//! 1. A snapshot file is durable (synced, renamed, directory synced) before its marker is
//!    written, and the marker is durable before any segment or older snapshot file is deleted.
//! 2. A segment is deleted only when every entry it holds is at or below a durable snapshot,
//!    only from the oldest end, and never the last segment.
//! 3. Before rolling, the current segment is synced (also under a batch that syncs nothing:
//!    earlier unsynced hard states may be in it) and trimmed to its records (the trim synced
//!    too: only the last segment may end in zeros or be torn); the new one is created whole
//!    (header, hard state, marker) under a temporary name and renamed.
//! 4. `write` builds its batch in one buffer, issues one `write_all` and one fdatasync; it
//!    returns `Ok` only after that. An error leaves the handle failed: reopen to continue.
//!    A batch written after a sync starts with a sync mark stating what that sync made
//!    durable (26 bytes per synced batch).
//!
//! # Recovery
//!
//! Segments are replayed oldest first (see `replay.rs`), then the newest snapshot file with a
//! valid checksum is applied with the snapshot rule; the hard state's commit is raised to the
//! snapshot index. The log must come out contiguous from the snapshot: a gap in indexes,
//! entries lost with deleted segments, or a marker newer than every valid snapshot file is
//! [`WalError::Corrupt`].
//!
//! Only the tail of the last segment may be torn by a crash; it is truncated before its first
//! bad record and writing continues there. A power cut may keep any sectors of the writes
//! since the last sync and lose others (torn and reordered writes), so valid records may
//! follow the first bad one; the sync marks tell them apart from damage to durable records
//! (`segment.rs`): a bad record (incomplete, or failing a checksum) of the last segment is a
//! torn tail unless a sync mark after it states it durable. Every other failure — a bad
//! record a sync mark proves durable, any bad record in an earlier segment, an unknown record
//! type or protocol — is [`WalError::Corrupt`] naming the file and the record's byte offset,
//! and the log refuses to open. Damage to the records of the last write (and of unsynced
//! writes just before it) cannot be told from a torn write and is cut as one.
//!
//! `rust/core/tests/wal_power_loss.rs` checks this at every step of random workloads on a
//! [`CrashDisk`], a file system in memory that loses power the way disks do.
//!
//! A record header whose checksum is valid but whose length exceeds `max_record_bytes` (say
//! 2^40) is `Corrupt` even at the tail: a torn write cannot produce a valid header we never
//! wrote. The length is checked right after the header checksum, before the body is touched;
//! a header failing its checksum is never trusted for a length at all.

mod crash_disk;
mod error;
mod file_system;
mod fs;
mod group_writer;
mod options;
mod record;
mod recovery;
mod replay;
mod segment;
mod shape;
mod snapshot_file;
mod writer;

pub use crash_disk::{CrashDisk, CrashDiskStats, CrashFile, CrashLock, PowerCut, SECTOR_BYTES};
pub use error::{Corruption, WalError};
pub use file_system::{FileSystem, OsFileSystem, WalFile};
pub use fs::{delete_gradually, delete_gradually_in};
pub use group_writer::{GroupWriter, SharedWal, WriteId, WriteOutcome, MAX_WRITES_IN_FLIGHT};
pub use options::{
    WalOptions, DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_SEGMENT_BYTES, MAX_RECORD_BYTES, MIN_RECORD_BYTES,
    MIN_SEGMENT_BYTES, PREALLOCATE_STEP_BYTES,
};
pub use recovery::Recovered;
pub use writer::{SnapshotFile, Wal, WalStats, WriteBatch};

/// Bytes of a record before its payload (for sizing and for tests that craft records).
pub const RECORD_HEADER_BYTES: usize = record::RECORD_HEADER_BYTES;
/// Bytes of an entry record's payload before the entry data: index, term, kind.
pub const ENTRY_FIELDS_BYTES: usize = record::ENTRY_FIELDS_BYTES;
/// Bytes of a whole sync mark record (see `segment.rs`): a write after a sync starts with one.
pub const SYNC_MARK_RECORD_BYTES: usize = record::SYNC_MARK_RECORD_BYTES;
/// Bytes of a segment file header.
pub const SEGMENT_HEADER_BYTES: usize = segment::SEGMENT_HEADER_BYTES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Wal>();
    }

    #[test]
    fn group_writer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GroupWriter>();
    }
}
