//! Tuning of the write-ahead log, with its named limits.

use super::error::WalError;
use crate::protocol_id::ProtocolId;

/// Default size past which the log rolls to a new segment file (64 MiB).
pub const DEFAULT_MAX_SEGMENT_BYTES: u64 = 64 << 20;
/// Default payload limit of one record: a 64 MiB entry plus room for its fields.
pub const DEFAULT_MAX_RECORD_BYTES: usize = (64 << 20) + 4096;
/// The smallest `max_segment_bytes` accepted (tests use small segments to exercise rolling).
pub const MIN_SEGMENT_BYTES: u64 = 512;
/// The smallest `max_record_bytes` accepted: hard state and snapshot marker records must fit.
pub const MIN_RECORD_BYTES: usize = 64;
/// The largest `max_record_bytes` accepted (1 GiB): a record is built in memory whole.
pub const MAX_RECORD_BYTES: usize = 1 << 30;
/// With `preallocate`, a segment file is allocated this far ahead at a time (or to
/// `max_segment_bytes`, if smaller): one slow sync per step instead of per write, and an idle
/// log holds 4 MiB of disk, not a whole segment.
pub const PREALLOCATE_STEP_BYTES: u64 = 4 << 20;

/// How a [`Wal`](super::Wal) writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Make every `write` and `compact` durable before it returns (fdatasync on the segment,
    /// fsync on the directory after a rename). `false` only for benchmarks: nothing is durable.
    pub fsync: bool,
    /// Roll to a new segment before a record would take the current one past this size, unless
    /// the segment holds only its starting records. In `[MIN_SEGMENT_BYTES, u64::MAX]`.
    pub max_segment_bytes: u64,
    /// The largest record payload written or read. Checked on write before anything is written,
    /// and on read before a record's bytes are touched. In `[MIN_RECORD_BYTES, MAX_RECORD_BYTES]`.
    pub max_record_bytes: usize,
    /// Hold an advisory lock on the directory while the log is open, so that a second handle
    /// (another process, or a mistake in this one) cannot interleave records. `false` only for
    /// tests that reopen a log while the "crashed" handle still exists.
    pub lock_dir: bool,
    /// Allocate the last segment file's space on disk ahead of its records (`fallocate`, in
    /// steps of `PREALLOCATE_STEP_BYTES`) and write records into it in place. An fdatasync
    /// then need not commit a new file size and new blocks with the data: about 1.4x faster
    /// per sync alone and 1.5x with three logs syncing at once, measured on this project's
    /// ext4 machines. The unused tail reads as zeros (recovery's zero-filled tail); a segment
    /// is trimmed to its records when the log rolls past it. Best effort: where the file
    /// system cannot allocate ahead, segments grow by appending.
    pub preallocate: bool,
    /// The protocol whose log this is: every record written is tagged with it, and recovery
    /// refuses a record of another protocol ([`Corruption::WrongProtocol`](super::Corruption)).
    pub protocol: ProtocolId,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            fsync: true,
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            lock_dir: true,
            preallocate: true,
            protocol: ProtocolId::Raft,
        }
    }
}

impl WalOptions {
    /// The file length to allocate so that `[0, end)` lies within it: `end` rounded up to a
    /// whole step, or 0 when not preallocating.
    pub(crate) fn allocation_for(&self, end: u64) -> u64 {
        if !self.preallocate {
            return 0;
        }
        let step = self.max_segment_bytes.min(PREALLOCATE_STEP_BYTES);
        end.div_ceil(step).saturating_mul(step)
    }

    /// Checks every field against its range.
    pub fn validate(&self) -> Result<(), WalError> {
        if self.max_segment_bytes < MIN_SEGMENT_BYTES {
            return Err(WalError::InvalidOptions { field: "max_segment_bytes", problem: "below MIN_SEGMENT_BYTES" });
        }
        if !(MIN_RECORD_BYTES..=MAX_RECORD_BYTES).contains(&self.max_record_bytes) {
            return Err(WalError::InvalidOptions {
                field: "max_record_bytes",
                problem: "outside [MIN_RECORD_BYTES, MAX_RECORD_BYTES]",
            });
        }
        Ok(())
    }
}
