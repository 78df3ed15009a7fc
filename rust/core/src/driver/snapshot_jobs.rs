//! The driver's side of the snapshot jobs the caller carries out: taking a snapshot of the
//! application (`Action::TakeSnapshot`, reported with `snapshot_started`, `snapshot_taken` or
//! `snapshot_failed`, then recorded and `Action::Compact`) and restoring the leader's
//! (`Action::Restore`, reported with `restore_done` or `restore_failed`). When each is due is
//! `driver::snapshots`' and `driver::restores`' policy; what waits meanwhile is
//! `driver::restores`' doc.

use crate::driver::action::Action;
use crate::driver::protocol::Consensus;
use crate::driver::ready_loop::{Driver, DriverError};
use crate::driver::restores::RestoreJob;
use crate::driver::snapshots::SnapshotJob;
use crate::raft::message::Index;
use bytes::Bytes;

impl<C: Consensus> Driver<C> {
    /// The application was restored at start from a snapshot of `bytes` bytes (at the
    /// `applied_index` the driver was made with): the next snapshot waits until as many bytes
    /// were applied.
    pub fn recovered_snapshot(&mut self, bytes: u64) {
        self.snapshots.last_bytes = bytes;
    }

    /// Asks for a snapshot at the applied index on the next poll (if none is being taken).
    pub fn snapshot_now(&mut self) {
        self.snapshots.requested = true;
    }

    /// Answers `TakeSnapshot`: `frozen` when the application could not capture its state, so
    /// nothing may be applied until the snapshot is taken.
    pub fn snapshot_started(&mut self, index: Index, frozen: bool) {
        if let Some(job) = self.snapshots.job.as_mut().filter(|job| job.index == index) {
            job.frozen = frozen;
        }
    }

    /// The snapshot at `index` was taken; it is recorded on the next poll.
    pub fn snapshot_taken(&mut self, index: Index, data: Bytes) {
        if let Some(job) = self.snapshots.job.as_mut().filter(|job| job.index == index) {
            job.outcome = Some(Ok(data));
        }
    }

    pub fn snapshot_failed(&mut self, index: Index) {
        if let Some(job) = self.snapshots.job.as_mut().filter(|job| job.index == index) {
            job.outcome = Some(Err(()));
        }
    }

    /// The caller restored the snapshot of the last `Restore` (at `index`): the application
    /// holds its state; applies and reads go on from it on the next poll.
    pub fn restore_done(&mut self, index: Index) {
        if let Some(job) = self.restores.job.as_mut().filter(|job| job.index == index) {
            job.done = true;
        }
    }

    /// The caller could not restore the snapshot at `index`: the next poll fails
    /// ([`DriverError::RestoreFailed`]).
    pub fn restore_failed(&mut self, index: Index, message: String) {
        if self.restores.restoring() == Some(index) {
            self.error.get_or_insert(DriverError::RestoreFailed { index, message });
        }
    }

    /// The index of the snapshot the caller is restoring, if any.
    pub fn restoring(&self) -> Option<Index> {
        self.restores.restoring()
    }

    /// The durable log was compacted with the last `Compact` (or failed to: either way, the
    /// next snapshot may start).
    pub fn compaction_done(&mut self) {
        self.snapshots.compacting = false;
    }

    // --- the loop's steps ---------------------------------------------------------------

    pub(super) fn start_snapshot(&mut self, out: &mut Vec<Action>) {
        let index = self.applied_index;
        self.snapshots.requested = false;
        // Frozen until the caller says it captured its state (`snapshot_started`).
        self.snapshots.job = Some(SnapshotJob { index, frozen: true, outcome: None });
        out.push(Action::TakeSnapshot { index });
    }

    /// Records a snapshot that was taken (between Readies), or gives up one that failed.
    pub(super) fn settle_snapshot(&mut self, out: &mut Vec<Action>) {
        let Some(job) = self.snapshots.job.take_if(|job| job.outcome.is_some()) else { return };
        match job.outcome.expect("settled") {
            Err(()) => {
                self.snapshots.next_allowed_index = job.index + self.options.snapshot_entries.max(1);
            }
            Ok(data) if job.index > self.snapshots.snapshot_index && !self.restores.busy() => {
                let bytes = data.len() as u64;
                match self.core.compact(job.index, data) {
                    Ok(snapshot) => {
                        self.snapshots.snapshot_index = snapshot.meta.index;
                        self.snapshots.bytes_since = 0;
                        self.snapshots.last_bytes = bytes;
                        self.snapshots.compacting = true;
                        self.stats.snapshots_taken += 1;
                        out.push(Action::Compact { snapshot });
                    }
                    Err(error) => out.push(Action::SnapshotSkipped { index: job.index, reason: error.to_string() }),
                }
            }
            // Overtaken by a snapshot restored meanwhile, or one is waiting to be restored.
            Ok(_) => out.push(Action::SnapshotSkipped {
                index: job.index,
                reason: "a snapshot from the leader replaced the state".to_string(),
            }),
        }
    }

    /// Hands out the leader's snapshot to restore once everything before it is durable and
    /// applied, no snapshot of the old state is being taken and no restore is in progress.
    /// Returns whether it did.
    pub(super) fn try_restore(&mut self, out: &mut Vec<Action>) -> bool {
        if self.writes.unadvanced() > 0
            || self.snapshots.job.is_some()
            || !self.apply.is_empty()
            || self.restores.job.is_some()
        {
            return false;
        }
        let snapshot = self.restores.pending.take().expect("a restore is pending");
        let (index, data_bytes) = (snapshot.meta.index, snapshot.data.len() as u64);
        // The applied index stays the old state's until the caller reports the new one in
        // place: reads at most that old index may still be served from the old state.
        self.restores.job = Some(RestoreJob { index, data_bytes, done: false });
        out.push(Action::Restore { snapshot });
        true
    }

    /// Records a restore the caller reported done: the application is at its index.
    pub(super) fn settle_restore(&mut self) {
        let Some(job) = self.restores.job.take_if(|job| job.done) else { return };
        self.snapshots.restored(job.index, job.data_bytes);
        self.applied_index = self.applied_index.max(job.index);
        self.stats.snapshots_restored += 1;
    }
}
