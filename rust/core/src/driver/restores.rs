//! The leader's snapshot: waiting to be restored, then restored by the caller as a job.
//!
//! A snapshot from the leader is handed out (`Action::Restore`) once every Ready before it is
//! durable, every entry committed before it is applied and no snapshot of the old state is
//! being taken. The caller then builds the new state in a worker thread (seconds for a large
//! state) and reports it with `restore_done` or `restore_failed`. Meanwhile the node goes on
//! (ticks, messages, log writes, answers to peers); what depends on the restored state waits:
//! committed entries stay in the apply queue (no Ready is taken past
//! `max_apply_backlog_bytes` of them, as while a frozen snapshot is taken) and reads wait for
//! the applied index, which moves to the snapshot's only when the restore is done.

use crate::raft::message::{Index, Snapshot};

/// A restore handed out to the caller and not yet reported done.
#[derive(Debug)]
pub struct RestoreJob {
    pub index: Index,
    /// Bytes of the snapshot: the next snapshot waits until as many were applied.
    pub data_bytes: u64,
    /// Reported done by the caller; recorded on the next poll.
    pub done: bool,
}

#[derive(Debug, Default)]
pub struct Restores {
    /// A snapshot from the leader waiting for the conditions to restore it; no Ready is taken
    /// meanwhile (its conditions are about the Readies before it).
    pub pending: Option<Snapshot>,
    /// The snapshot being restored by the caller.
    pub job: Option<RestoreJob>,
}

impl Restores {
    /// Whether a restore was handed out and is not done: applies wait.
    pub fn holds_applies(&self) -> bool {
        self.job.is_some()
    }

    /// Whether a snapshot from the leader waits to be restored or is being restored.
    pub fn busy(&self) -> bool {
        self.pending.is_some() || self.job.is_some()
    }

    /// The index of the snapshot being restored, if any.
    pub fn restoring(&self) -> Option<Index> {
        self.job.as_ref().map(|job| job.index)
    }
}
