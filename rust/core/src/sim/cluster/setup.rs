//! What a seed sets up besides faults and load: the nodes' configurations.

use super::{ELECTION_TIMEOUT_TICKS, HEARTBEAT_INTERVAL_TICKS, SIM_TICK_NS, TYPICAL_ENTRY_BYTES};
use crate::driver::{Consensus, DriverOptions};
use crate::raft::config::{Config, ReadOnlyOption};
use crate::raft::message::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The configurations of one run: the defaults of the brief (election timeout 10 ticks,
/// heartbeat 1) with pre-vote, check-quorum, lease reads and the flow-control limits varied
/// by seed.
pub(super) fn draw_configs(nodes: usize, rng: &mut ChaCha8Rng) -> Vec<Config> {
    let voters: Vec<NodeId> = (1..=nodes as NodeId).collect();
    let pre_vote = rng.gen_ratio(3, 4);
    let check_quorum = rng.gen_ratio(3, 4);
    // Lease reads need check-quorum, and bounded clock drift: runs that use them have no slow
    // nodes (a slow node is a slow clock; see `SimCluster::new`).
    let lease_reads = check_quorum && rng.gen_ratio(1, 3);
    let small_limits = rng.gen_ratio(1, 2);
    // One entry per message most often: it splits a new leader's no-op from the older entries
    // before it, the window in which commit-rule bugs (Raft paper, figure 8) show.
    const ENTRIES_PER_MSG: [usize; 6] = [1, 1, 1, 2, 4, 8];
    let max_entries_per_msg = ENTRIES_PER_MSG[rng.gen_range(0..ENTRIES_PER_MSG.len())];
    let max_inflight_msgs = rng.gen_range(1..=4);
    let max_committed_entries_per_ready = rng.gen_range(1..=8);
    // From half an entry's bytes (the bytes bind: one entry per Ready) to four entries' (the
    // count binds), with no draw of its own, so that the seeds' other draws stay as they were.
    let max_committed_bytes_per_ready = (9 - max_committed_entries_per_ready) * TYPICAL_ENTRY_BYTES / 2;
    // With tiny messages and windows, replication moves a few entries per round trip; the
    // leader's backlog is capped at a few round trips' worth so that, once faults heal,
    // everything pending can commit within the liveness bound.
    let max_uncommitted_bytes = 8 * max_entries_per_msg * max_inflight_msgs * TYPICAL_ENTRY_BYTES;
    voters
        .iter()
        .map(|&id| {
            let mut config = Config::new(id, voters.clone());
            config.election_timeout_ticks = ELECTION_TIMEOUT_TICKS as u32;
            config.heartbeat_interval_ticks = HEARTBEAT_INTERVAL_TICKS as u32;
            config.pre_vote = pre_vote;
            config.check_quorum = check_quorum;
            if lease_reads {
                config.read_only = ReadOnlyOption::LeaseBased;
            }
            if small_limits {
                config.max_entries_per_msg = max_entries_per_msg;
                config.max_inflight_msgs = max_inflight_msgs;
                config.max_committed_entries_per_ready = max_committed_entries_per_ready;
                config.max_committed_bytes_per_ready = max_committed_bytes_per_ready;
                config.max_uncommitted_bytes = max_uncommitted_bytes;
            }
            config.seed = rng.gen();
            config
        })
        .collect()
}

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
