//! What the driver asks its caller to do: the I/O it never does itself.

use crate::driver::apply_queue::ApplyBatch;
use crate::driver::options::Nanos;
use crate::driver::protocol::NodeRole;
use crate::raft::mem_node::PersistBatch;
use crate::raft::message::{ConfState, Index, NodeId, Snapshot};
use crate::raft::snapshot_send::SnapshotSend;
use std::sync::Arc;

/// Identifies one write handed out by [`Action::Write`]: 1, 2, 3, ... in the order they were
/// handed out. The caller makes writes durable in that order.
pub type WriteId = u64;

/// One duty for the caller, carried out in the order the driver hands them out.
#[derive(Clone, Debug)]
pub enum Action {
    /// The node's role, known leader or epoch changed.
    Role { role: NodeRole, leader: Option<NodeId>, epoch: u64 },
    /// Send these frames (one buffer of concatenated frames) to peer `to` now.
    Send { to: NodeId, frames: Vec<u8> },
    /// Stream this snapshot message to its peer out of band (`raft::snapshot_send`,
    /// `paxos::snapshot_send`): `head`, then `snapshot.data` in chunks; the peer steps both
    /// with `step_snapshot`. The core asks again (same index, same head) while the peer has not
    /// acknowledged it; a newer index, or another head for the same index (a Multi-Paxos
    /// promiser answering a candidate's next ballot), supersedes it. Sent by a leader, and,
    /// with Multi-Paxos, by a follower that promised a candidate lacking compacted slots.
    SendSnapshot { send: SnapshotSend },
    /// Make `batch` durable (write + fsync; writes queued behind one in progress may share its
    /// fsync), then report it with `Driver::writes_done(id)`.
    Write { id: WriteId, batch: Arc<PersistBatch> },
    /// A write became durable `elapsed_ns` after it was handed out; `slow` when that took an
    /// election timeout or more (a disk that would have cost the leadership).
    Durable { id: WriteId, elapsed_ns: Nanos, slow: bool },
    /// The configuration in force changed (or a Ready handed out membership changes to
    /// apply, which a restart replays): `conf_state` is the one in force now, `addresses` the
    /// member addresses the changes carried (`(id, "host:port")`, in log order). The caller
    /// connects to new members and drops removed ones. Comes before the `Apply` of the
    /// entries.
    ConfChanged { conf_state: ConfState, addresses: Vec<(NodeId, String)> },
    /// Apply these committed entries in order (an entry of empty `Entry::application_data`,
    /// a leader's no-op or a membership change, is counted and not applied), stopping once the clock passes `deadline_ns`, then report the
    /// last index applied with `Driver::applied_to` (always, even when all were applied).
    Apply { entries: ApplyBatch, deadline_ns: Nanos },
    /// Read batches (ids from `Driver::request_read`, each with the index its round was
    /// confirmed at) that may be served now: everything committed before they were requested
    /// is applied.
    ServeReads { reads: Vec<(u64, Index)> },
    /// Snapshot the application at the applied index `index`; report with
    /// `Driver::snapshot_started` at once (whether applies must wait for it), then
    /// `snapshot_taken` or `snapshot_failed` when done.
    TakeSnapshot { index: u64 },
    /// A snapshot was recorded in the core: compact the durable log with it.
    Compact { snapshot: Snapshot },
    /// The application snapshot at `index` could not be recorded (a newer one overtook it).
    SnapshotSkipped { index: u64, reason: String },
    /// Replace the application's state with this snapshot (from the leader); everything
    /// committed before it was applied first. A job, like `TakeSnapshot`: build the new state
    /// off the caller's loop, put it in place, then report `Driver::restore_done(index)` (or
    /// `restore_failed`). What waits meanwhile: `driver::restores`.
    Restore { snapshot: Snapshot },
}
