//! What a seed sets up besides the nodes' configurations (the protocol's, see
//! `sim::protocol`), faults and load: how the drivers work.

use super::SIM_TICK_NS;
use crate::driver::{Consensus, DriverOptions};
use crate::raft::message::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How a run's drivers work, drawn per run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Driving {
    /// Writes in flight per node, in `[1, 4]`: 1 serializes writes, more pipelines them.
    max_writes_in_flight: usize,
    /// Automatic snapshots every so many applied entries (0: only those clients ask for).
    snapshot_entries: u64,
}

impl Driving {
    /// The options of node `id`'s driver: the production knobs derived from its timing.
    pub(super) fn options(&self, node: &impl Consensus, id: NodeId) -> DriverOptions {
        let mut options = DriverOptions::derive(node.timing(), SIM_TICK_NS, id);
        options.durable = true;
        options.max_writes_in_flight = self.max_writes_in_flight;
        options.snapshot_entries = self.snapshot_entries;
        options
    }
}

pub(super) fn draw_driving(rng: &mut ChaCha8Rng) -> Driving {
    let max_writes_in_flight = rng.gen_range(1..=4);
    let snapshot_entries = if rng.gen_ratio(1, 2) { 0 } else { rng.gen_range(10..=100) };
    Driving { max_writes_in_flight, snapshot_entries }
}
