//! One driver for every protocol: the policy that carries out a consensus core's Readies,
//! sans-IO, so that the simulator runs exactly what production runs.
//!
//! A [`Driver`] owns a core (anything implementing [`Consensus`]: Raft's [`MemNode`] today)
//! and decides when to take a Ready, how many writes may be in flight, what to do while a
//! write is stalled, how much to apply before the caller's loop runs again, when to snapshot
//! and when a snapshot freezes the application, when to restore the leader's snapshot, and
//! when a read may be served. It reads no clock: the caller passes `now_ns` (a monotonic
//! clock in nanoseconds; the simulator passes simulated time). It does no I/O: its output is
//! a list of [`Action`]s (send these frames, write this batch, apply these entries until this
//! deadline, serve these reads, take a snapshot, compact, restore), which the caller carries
//! out in order and reports back (`writes_done`, `applied_to`, `snapshot_taken`, `restore_done`,
//! ...).
//!
//! ## The caller's loop
//!
//! ```text
//! loop {
//!     wait for input (unless the last poll said Continue or Yield)
//!     feed it: step_stream(frames), propose_batch(..) while may_propose(), request_read(),
//!              writes_done(id) as writes complete, on_timer(now) when the tick timer fires
//!     match driver.poll(now, &mut actions)? {
//!         carry out the actions in order; report an Apply with applied_to(index)
//!         Idle => wait, Continue => poll again, Yield => let the loop run, then poll again
//!     }
//! }
//! ```
//!
//! Its knobs ([`DriverOptions`]) are derived from the core's [`Timing`] and the tick period,
//! each with the invariant it protects.
//!
//! [`MemNode`]: crate::MemNode

mod action;
mod apply_queue;
mod options;
mod protocol;
mod reads;
mod ready_loop;
mod restores;
mod snapshot_jobs;
mod snapshots;
mod wal_driver;
mod writes;

pub use action::{Action, WriteId};
pub use apply_queue::ApplyBatch;
pub use options::{
    DriverOptions, Nanos, DEFAULT_MAX_APPLY_BACKLOG_BYTES, DEFAULT_MAX_BATCH_PROPOSALS, DEFAULT_MAX_WRITES_IN_FLIGHT,
    DEFAULT_SNAPSHOT_BYTES, DEFAULT_SNAPSHOT_ENTRIES, MAX_TICKS_PER_POLL, SNAPSHOT_ENTRIES_CAP_FACTOR,
    SNAPSHOT_STAGGER,
};
pub use protocol::{Consensus, NodeRole, Timing};
pub use reads::MAX_READ_BATCHES;
pub use ready_loop::{Driver, DriverError, DriverStats, Next};
pub use wal_driver::WalDriver;
