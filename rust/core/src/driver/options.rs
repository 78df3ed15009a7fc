//! The driver's knobs. Each is derived from the core's timing (ticks) and the tick period,
//! with the invariant it protects stated beside it, rather than set in absolute milliseconds.

use crate::driver::protocol::Timing;
use crate::error::RaftError;

/// Nanoseconds: the unit of the time the caller hands the driver (a monotonic clock).
pub type Nanos = u64;

/// Ticks handed to the core per poll, at most: a loop stalled for a second must not make this
/// node's timers (and its followers', through its heartbeats) all fire at once when it comes
/// back.
pub const MAX_TICKS_PER_POLL: u64 = 2;
/// Bytes of committed commands that may wait while the application is frozen for a snapshot;
/// past it the driver takes no more Readies until the snapshot is taken.
pub const DEFAULT_MAX_APPLY_BACKLOG_BYTES: usize = 64 << 20;
/// However large the state, a snapshot is taken once this many times `snapshot_entries`
/// entries were applied since the last one.
pub const SNAPSHOT_ENTRIES_CAP_FACTOR: u64 = 10;
/// Each node's snapshot thresholds are scaled by a factor in `[1, 1 + SNAPSHOT_STAGGER)` drawn
/// from its id: nodes apply the same log, so with the same thresholds they would all snapshot
/// at the same index at the same moment, and nodes sharing a disk and CPUs (a local cluster)
/// would slow each other down all at once.
pub const SNAPSHOT_STAGGER: f64 = 0.25;
/// Commands proposed to the core in one call, at most (one entry batch; the rest go in the
/// next).
pub const DEFAULT_MAX_BATCH_PROPOSALS: usize = 4096;
/// Readies whose log writes may be in flight at once by default: with more than one, the
/// node takes the next Ready while the disk works (the writer writes the ones that queued up
/// with one fsync) and a leader counts acknowledgements that arrive meanwhile; with 1, each
/// Ready waits for its write and input arriving meanwhile is batched instead.
pub const DEFAULT_MAX_WRITES_IN_FLIGHT: usize = 1;
/// A snapshot is due after this many entries, or `DEFAULT_SNAPSHOT_BYTES` of commands, were
/// applied since the last one (each scaled by the node's stagger).
pub const DEFAULT_SNAPSHOT_ENTRIES: u64 = 100_000;
pub const DEFAULT_SNAPSHOT_BYTES: u64 = 64 << 20;

/// How a driver runs its core.
#[derive(Clone, Debug, PartialEq)]
pub struct DriverOptions {
    /// The period of a tick, in `[1 µs, 60 s]`.
    pub tick_ns: Nanos,
    /// Readies whose writes may be in flight at once (pipelined writes), in `[1, the core's
    /// max_readies_in_flight]`.
    pub max_writes_in_flight: usize,
    /// A durable log sits beside the core: Readies that must sync are handed out as writes and
    /// complete later (`Driver::writes_done`). Without one (an in-memory node) nothing is
    /// written.
    pub durable: bool,
    /// Work (Readies taken, commands applied) per poll before the driver yields to the caller's
    /// loop: half a tick, so the loop runs (sockets read, the tick timer fires) at least twice
    /// per tick and a heartbeat is never missed because the driver held the loop.
    pub drive_slice_ns: Nanos,
    /// How long one `Apply` may run before the caller stops and reports how far it got: half a
    /// tick, for the same reason (one Ready of 1 MiB of commands took 13-44 ms to apply on a
    /// busy 2-core machine, past an election timeout when applied whole after a snapshot).
    pub apply_slice_ns: Nanos,
    /// A write in flight for this long is stalled (a slow disk): from then on one more Ready
    /// is taken per heartbeat interval past `max_writes_in_flight`, so heartbeats and their
    /// answers go on. One tick.
    pub write_stall_ns: Nanos,
    /// A write slower than an election timeout is reported as slow (it would have cost the
    /// leadership without the stall rule).
    pub slow_write_ns: Nanos,
    /// Ticks after which a read round with no answer is re-issued: an election timeout (a
    /// round lost with a leader change produces nothing).
    pub read_retry_ticks: u64,
    /// Ticks between two Readies taken past the write limit while a write is stalled: the
    /// heartbeat interval.
    pub past_limit_interval_ticks: u64,
    pub max_apply_backlog_bytes: usize,
    pub max_batch_proposals: usize,
    /// Snapshot when this many entries were applied since the last snapshot (times the
    /// node's stagger), or `snapshot_bytes` of commands; 0 turns automatic snapshots off.
    pub snapshot_entries: u64,
    pub snapshot_bytes: u64,
    /// `[1, 1 + SNAPSHOT_STAGGER)`, from the node id.
    pub snapshot_scale: f64,
    /// The id of the first read batch, at least 1. A process that restarts a node must not
    /// reuse ids of its last run (draw it at random): a leader's answer to an old round would
    /// confirm a new batch of the same id too early.
    pub first_read_id: u64,
}

impl DriverOptions {
    /// The knobs derived from `timing`, a tick of `tick_ns` and node `id`; the rest at their
    /// defaults (those of the runtime's `NodeConfig`, which takes them from here).
    pub fn derive(timing: Timing, tick_ns: Nanos, id: u64) -> DriverOptions {
        let election_ns = tick_ns.saturating_mul(timing.election_timeout_ticks as u64);
        DriverOptions {
            tick_ns,
            max_writes_in_flight: DEFAULT_MAX_WRITES_IN_FLIGHT,
            durable: false,
            drive_slice_ns: tick_ns / 2,
            apply_slice_ns: tick_ns / 2,
            write_stall_ns: tick_ns,
            slow_write_ns: election_ns,
            read_retry_ticks: timing.election_timeout_ticks as u64,
            past_limit_interval_ticks: timing.heartbeat_interval_ticks.max(1) as u64,
            max_apply_backlog_bytes: DEFAULT_MAX_APPLY_BACKLOG_BYTES,
            max_batch_proposals: DEFAULT_MAX_BATCH_PROPOSALS,
            snapshot_entries: DEFAULT_SNAPSHOT_ENTRIES,
            snapshot_bytes: DEFAULT_SNAPSHOT_BYTES,
            // The golden ratio spreads consecutive ids evenly over the range.
            snapshot_scale: 1.0 + SNAPSHOT_STAGGER * ((id as f64 * 0.618_033_988_7) % 1.0),
            first_read_id: 1,
        }
    }

    /// Checks every field against its range; the error names the field.
    pub fn validate(&self, max_readies_in_flight: usize) -> Result<(), RaftError> {
        let invalid = |field: &'static str, problem: String| Err(RaftError::InvalidConfig { field, problem });
        if !(1_000..=60_000_000_000).contains(&self.tick_ns) {
            return invalid("tick_ns", format!("must be in [1 µs, 60 s], got {} ns", self.tick_ns));
        }
        if !(1..=max_readies_in_flight).contains(&self.max_writes_in_flight) {
            return invalid(
                "max_writes_in_flight",
                format!("must be in [1, {max_readies_in_flight}], got {}", self.max_writes_in_flight),
            );
        }
        if self.max_batch_proposals == 0 {
            return invalid("max_batch_proposals", "must be at least 1".to_string());
        }
        if !(1.0..1.0 + SNAPSHOT_STAGGER).contains(&self.snapshot_scale) {
            return invalid("snapshot_scale", format!("must be in [1, 1.25), got {}", self.snapshot_scale));
        }
        Ok(())
    }
}
