//! [`FlowLimits`]: the flow-control limits a seed draws for every node of a run, whatever its
//! protocol (both cores take the same limits).

use crate::sim::cluster::TYPICAL_ENTRY_BYTES;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Small limits in half the seeds; the values are drawn in every seed, so that the draws after
/// them stay where they are whether or not they are used.
pub(crate) struct FlowLimits {
    /// Whether the run uses the limits below (otherwise the cores' defaults).
    pub small: bool,
    pub max_entries_per_msg: usize,
    pub max_inflight_msgs: usize,
    pub max_committed_entries_per_ready: usize,
    pub max_committed_bytes_per_ready: usize,
    pub max_uncommitted_bytes: usize,
}

impl FlowLimits {
    pub(crate) fn draw(rng: &mut ChaCha8Rng) -> FlowLimits {
        let small = rng.gen_ratio(1, 2);
        // One entry per message most often: it splits a new leader's no-op (or adopted slots)
        // from the older entries before it, the window in which commit-rule bugs (Raft paper,
        // figure 8) show.
        const ENTRIES_PER_MSG: [usize; 6] = [1, 1, 1, 2, 4, 8];
        let max_entries_per_msg = ENTRIES_PER_MSG[rng.gen_range(0..ENTRIES_PER_MSG.len())];
        let max_inflight_msgs = rng.gen_range(1..=4);
        let max_committed_entries_per_ready = rng.gen_range(1..=8);
        // From half an entry's bytes (the bytes bind: one entry per Ready) to four entries' (the
        // count binds), with no draw of its own, so that the seeds' other draws stay as they were.
        let max_committed_bytes_per_ready = (9 - max_committed_entries_per_ready) * TYPICAL_ENTRY_BYTES / 2;
        // With tiny messages and windows, replication moves a few entries per round trip; the
        // leader's backlog is capped at a few round trips' worth so that, once faults heal,
        // everything pending can commit within the liveness bound. (For Multi-Paxos it also
        // bounds the tail an acceptor rewrites after an accept.)
        let max_uncommitted_bytes = 8 * max_entries_per_msg * max_inflight_msgs * TYPICAL_ENTRY_BYTES;
        FlowLimits {
            small,
            max_entries_per_msg,
            max_inflight_msgs,
            max_committed_entries_per_ready,
            max_committed_bytes_per_ready,
            max_uncommitted_bytes,
        }
    }
}
