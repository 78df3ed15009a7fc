//! How a leader tracks one follower: match and next index, and the flow-control state.

use crate::raft::inflights::Inflights;
use crate::raft::message::Index;

/// The replication state of one follower at the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// One AppendEntries per heartbeat until the follower's match is found.
    Probe,
    /// Streaming AppendEntries optimistically, bounded by the in-flight window.
    Replicate,
    /// Waiting for a snapshot to be installed at the follower.
    Snapshot,
}

impl ProgressState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressState::Probe => "probe",
            ProgressState::Replicate => "replicate",
            ProgressState::Snapshot => "snapshot",
        }
    }
}

/// Invariant: `match_index < next_index`.
#[derive(Clone, Debug)]
pub struct Progress {
    pub match_index: Index,
    pub next_index: Index,
    pub state: ProgressState,
    /// In `Snapshot` state: the index of the snapshot sent.
    pub pending_snapshot: Index,
    /// Ticks spent in `Snapshot` state; past an election timeout the leader probes again (the
    /// snapshot or its answer may have been lost).
    pub snapshot_elapsed_ticks: u32,
    /// Heard from within the current check-quorum window.
    pub recent_active: bool,
    /// In `Probe` state: a message went out since the last heartbeat response.
    pub probe_sent: bool,
    /// The highest commit index sent to this follower (it may not have arrived: heartbeats
    /// repair that). Lets the leader skip empty appends that would tell nothing new.
    pub sent_commit: Index,
    /// The highest index this follower waits to see committed: the last entry of a proposal
    /// it forwarded, or the index of a read it was answered. Its callers wait for its own
    /// apply, so a commit at or below this index is sent to it at once; any other commit
    /// index travels with the next append, or at the next tick.
    pub commit_wanted: Index,
    pub inflights: Inflights,
    /// The match index this follower had when it was found to have lost entries it
    /// acknowledged (an empty disk: `raft::empty_disk`), until it matches that again; 0: none.
    pub lost_log_at: Index,
}

impl Progress {
    pub fn new(next_index: Index, max_inflight_msgs: usize, max_inflight_bytes: usize) -> Progress {
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            pending_snapshot: 0,
            lost_log_at: 0,
            snapshot_elapsed_ticks: 0,
            recent_active: false,
            probe_sent: false,
            sent_commit: 0,
            commit_wanted: 0,
            inflights: Inflights::new(max_inflight_msgs, max_inflight_bytes),
        }
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.probe_sent = false;
        self.pending_snapshot = 0;
        self.snapshot_elapsed_ticks = 0;
        self.state = state;
        self.inflights.reset();
    }

    pub fn become_probe(&mut self) {
        if self.state == ProgressState::Snapshot {
            // The snapshot covers the log up to `pending_snapshot`: probe right after it.
            let pending = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next_index = (self.match_index + 1).max(pending + 1);
        } else {
            self.reset_state(ProgressState::Probe);
            self.next_index = self.match_index + 1;
        }
    }

    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next_index = self.match_index + 1;
    }

    pub fn become_snapshot(&mut self, snapshot_index: Index) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
    }

    /// The follower acknowledged `index`. Returns false for a stale acknowledgement.
    pub fn maybe_update(&mut self, index: Index) -> bool {
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
            self.probe_sent = false;
            if self.match_index >= self.lost_log_at {
                self.lost_log_at = 0;
            }
        }
        self.next_index = self.next_index.max(index + 1);
        updated
    }

    /// Entries up to `last_index` were sent in replicate state (optimistically).
    pub fn optimistic_update(&mut self, last_index: Index) {
        self.next_index = last_index + 1;
    }

    /// The follower rejected an append at `rejected`, hinting it may match at `match_hint`.
    /// Returns false when the rejection is stale.
    pub fn maybe_decr_to(&mut self, rejected: Index, match_hint: Index) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.match_index {
                return false;
            }
            self.next_index = self.match_index + 1;
            return true;
        }
        if self.next_index == 0 || self.next_index - 1 != rejected {
            return false;
        }
        self.next_index = rejected.min(match_hint + 1).max(self.match_index + 1);
        self.probe_sent = false;
        true
    }

    /// The follower holds only `[.., last_index]` of what it acknowledged (`match_index`): it
    /// lost its log. Replication restarts from what it holds; the loss is recorded until it
    /// matches again. The one place a match index goes down: commits already made stand.
    pub fn lost_log(&mut self, last_index: Index) {
        debug_assert!(last_index < self.match_index, "lost_log: nothing was lost");
        self.lost_log_at = self.lost_log_at.max(self.match_index);
        self.match_index = last_index;
        self.next_index = last_index + 1;
        self.become_probe();
    }

    /// No AppendEntries may be sent now.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot => true,
        }
    }
}
