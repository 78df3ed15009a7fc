//! How a leader tracks one follower. (Skeleton.)

/// The replication state of one follower at the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// Sending one AppendEntries per heartbeat until the follower's match is found.
    Probe,
    /// Streaming AppendEntries optimistically, bounded by the in-flight window.
    Replicate,
    /// Waiting for a snapshot to be installed at the follower.
    Snapshot,
}
