//! When the application is snapshotted, and the snapshot being taken.
//!
//! A snapshot is taken at the applied index, by the caller (in a worker thread), while the
//! node goes on. If the application could capture its state at once (copy-on-write), applies
//! go on meanwhile; otherwise it is frozen at the snapshot's index and committed entries wait
//! in the apply queue. Once taken, the snapshot is recorded in the core between Readies and
//! the durable log is compacted with it.

use crate::driver::options::{DriverOptions, SNAPSHOT_ENTRIES_CAP_FACTOR};
use crate::raft::message::Index;
use bytes::Bytes;

/// A snapshot being taken by the caller.
#[derive(Debug)]
pub struct SnapshotJob {
    pub index: Index,
    /// Applies wait until it is taken.
    pub frozen: bool,
    /// `Some(Ok(data))` once taken, `Some(Err(()))` once failed (the caller logs why).
    pub outcome: Option<Result<Bytes, ()>>,
}

#[derive(Debug, Default)]
pub struct Snapshots {
    /// The index of the last snapshot taken or restored.
    pub snapshot_index: Index,
    /// Payload bytes applied since that snapshot.
    pub bytes_since: u64,
    /// Bytes of that snapshot: the next waits until at least as many bytes were applied, so
    /// snapshotting a large state costs at most what writing its log does (a 100 MB state is
    /// not rewritten after every 64 MB of commands).
    pub last_bytes: u64,
    /// After a failed snapshot the next automatic one waits for this applied index, so an
    /// application whose snapshot keeps failing is not retried after every Ready.
    pub next_allowed_index: Index,
    pub job: Option<SnapshotJob>,
    /// The durable log is being compacted (the caller reports when done).
    pub compacting: bool,
    /// The caller asked for a snapshot now.
    pub requested: bool,
}

impl Snapshots {
    /// Whether applies must wait (a frozen snapshot is being taken).
    pub fn holds_applies(&self) -> bool {
        self.job.as_ref().is_some_and(|job| job.frozen && job.outcome.is_none())
    }

    /// Whether a snapshot should start at `applied`.
    pub fn due(&self, options: &DriverOptions, applied: Index) -> bool {
        if self.job.is_some() || self.compacting || applied <= self.snapshot_index {
            return false;
        }
        if self.requested {
            return true;
        }
        if options.snapshot_entries == 0 || applied < self.next_allowed_index {
            return false;
        }
        let entries = applied - self.snapshot_index;
        let scale = options.snapshot_scale;
        let over_threshold = entries as f64 >= options.snapshot_entries as f64 * scale
            || (options.snapshot_bytes > 0 && self.bytes_since as f64 >= options.snapshot_bytes as f64 * scale);
        // Tiny commands on a large state: the log's entry count is bounded too.
        over_threshold
            && (self.bytes_since >= self.last_bytes
                || entries >= SNAPSHOT_ENTRIES_CAP_FACTOR * options.snapshot_entries)
    }

    /// A restored snapshot (from the leader) replaces the state.
    pub fn restored(&mut self, index: Index, bytes: u64) {
        self.snapshot_index = index;
        self.bytes_since = 0;
        self.last_bytes = bytes;
    }
}
