//! A simulated durable log for one node: writes handed out by the driver complete later, in
//! order, after a latency drawn per write; a crash loses those not yet complete.
//!
//! The data itself needs no copy here: the node's `MemNode` (persistence by the caller)
//! copies a batch into the storage it reads from when the driver advances past it, which the
//! simulator does in the same step as the completion, so what the storage holds is exactly
//! what this disk made durable.

use crate::driver::WriteId;
use crate::sim::faults::chance;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// A write completes in the same step it was handed out with this chance (a fast disk)...
pub const SAME_STEP_WRITE_PER_MILLE: u32 = 600;
/// ...else within `[1, MAX_WRITE_TICKS]` ticks; on a slow node within
/// `[1, MAX_SLOW_WRITE_TICKS]`, past an election timeout at times (a stalled disk, which the
/// driver's stall rule must survive).
pub const MAX_WRITE_TICKS: u64 = 3;
pub const MAX_SLOW_WRITE_TICKS: u64 = 14;

#[derive(Debug, Default)]
pub struct SimDisk {
    /// Writes in flight, in the order handed out: (id, tick it completes at). Completion
    /// ticks never decrease along the queue (writes complete in order).
    pending: VecDeque<(WriteId, u64)>,
}

impl SimDisk {
    /// Takes write `id` handed out at `tick`.
    pub fn submit(&mut self, id: WriteId, tick: u64, slow: bool, rng: &mut ChaCha8Rng) {
        let latency = if !slow && chance(rng, SAME_STEP_WRITE_PER_MILLE) {
            0
        } else {
            rng.gen_range(1..=if slow { MAX_SLOW_WRITE_TICKS } else { MAX_WRITE_TICKS })
        };
        let after_previous = self.pending.back().map_or(0, |&(_, at)| at);
        self.pending.push_back((id, (tick + latency).max(after_previous)));
    }

    /// The last write complete by `tick`, if any completed since the last call.
    pub fn take_completed(&mut self, tick: u64) -> Option<WriteId> {
        let mut last = None;
        while let Some(&(id, at)) = self.pending.front() {
            if at > tick {
                break;
            }
            self.pending.pop_front();
            last = Some(id);
        }
        last
    }

    /// Completes every write in flight at once (the crash point after persisting).
    pub fn complete_all(&mut self) -> Option<WriteId> {
        let last = self.pending.back().map(|&(id, _)| id);
        self.pending.clear();
        last
    }

    /// A crash: writes in flight never complete.
    pub fn lose_pending(&mut self) {
        self.pending.clear();
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}
