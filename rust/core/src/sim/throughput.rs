//! The fault-free throughput run: how many entries a cluster commits per second when the only
//! costs are the core's own (protocol, codec, in-memory persistence).
//!
//! Delivery is instant and in order: a FIFO of encoded frame buffers, drained to empty after
//! every proposal. The leader proposes `batch` entries at a time; each round replicates them,
//! commits them, and carries the previous round's commit index to the followers. Logs are
//! compacted every [`COMPACT_EVERY_ENTRIES`] so memory stays flat however long the run.

use crate::raft::config::Config;
use crate::raft::mem_node::MemNode;
use crate::raft::message::{EntryKind, Index, NodeId};
use crate::raft::ready::Role;
use crate::sim::{ThroughputOptions, ThroughputReport};
use bytes::Bytes;
use std::collections::VecDeque;

/// Each node compacts its log once it applied this many entries past its last snapshot.
pub const COMPACT_EVERY_ENTRIES: Index = 1 << 15;
/// Rounds allowed to elect the first leader.
pub const MAX_ELECTION_ROUNDS: usize = 1000;
/// Rounds allowed without any entry applied anywhere before the run is declared stalled.
pub const MAX_IDLE_ROUNDS: usize = 1000;

/// Runs a fault-free cluster until `options.entries` payloads are applied on every node.
pub fn run_throughput(options: &ThroughputOptions) -> ThroughputReport {
    let mut cluster = match ThroughputCluster::new(options.nodes) {
        Ok(cluster) => cluster,
        Err(error) => return ThroughputReport { error: Some(error), ..ThroughputReport::default() },
    };
    let outcome = cluster.run(options);
    let mut report = cluster.report;
    report.committed_entries = cluster.applied_payloads.iter().copied().min().unwrap_or(0);
    report.error = outcome.err();
    report
}

struct ThroughputCluster {
    nodes: Vec<MemNode>,
    /// Payload entries applied by each node.
    applied_payloads: Vec<u64>,
    /// Index each node has applied up to.
    applied_index: Vec<Index>,
    /// Index each node last compacted its log at.
    compacted_index: Vec<Index>,
    /// Frame buffers on their way: (destination position, frames), delivered in order.
    wire: VecDeque<(usize, Bytes)>,
    report: ThroughputReport,
}

impl ThroughputCluster {
    fn new(nodes: usize) -> Result<ThroughputCluster, String> {
        if nodes == 0 {
            return Err("a cluster needs at least one node".to_string());
        }
        let voters: Vec<NodeId> = (1..=nodes as NodeId).collect();
        let mut members = Vec::with_capacity(nodes);
        for &id in &voters {
            let config = Config::new(id, voters.clone());
            members.push(MemNode::new(&config).map_err(|e| format!("node {id} failed to start: {e}"))?);
        }
        Ok(ThroughputCluster {
            nodes: members,
            applied_payloads: vec![0; nodes],
            applied_index: vec![0; nodes],
            compacted_index: vec![0; nodes],
            wire: VecDeque::new(),
            report: ThroughputReport::default(),
        })
    }

    fn run(&mut self, options: &ThroughputOptions) -> Result<(), String> {
        let leader = self.elect()?;
        let payload = Bytes::from(vec![0x5a; options.payload_bytes]);
        let batch = options.batch.max(1) as u64;
        let mut proposed = 0u64;
        let mut idle_rounds = 0;
        while self.min_applied_payloads() < options.entries {
            let applied_before = self.total_applied_payloads();
            if proposed < options.entries {
                let count = batch.min(options.entries - proposed) as usize;
                match self.nodes[leader].raw.propose_batch(vec![payload.clone(); count]) {
                    Ok(()) => proposed += count as u64,
                    Err(error) => return Err(format!("the leader refused a batch: {error}")),
                }
            } else {
                // Everything is proposed: heartbeats carry the last commit index to followers.
                self.nodes[leader].raw.tick();
            }
            self.drain(leader)?;
            self.deliver_all()?;
            self.compact_logs()?;
            idle_rounds = if self.total_applied_payloads() > applied_before { 0 } else { idle_rounds + 1 };
            if idle_rounds > MAX_IDLE_ROUNDS {
                return Err(format!(
                    "stalled: {} of {} entries applied everywhere",
                    self.min_applied_payloads(),
                    options.entries
                ));
            }
        }
        Ok(())
    }

    /// Node 1 campaigns; nodes tick until one of them leads. Returns the leader's position.
    fn elect(&mut self) -> Result<usize, String> {
        self.nodes[0].raw.campaign();
        for _ in 0..MAX_ELECTION_ROUNDS {
            self.drain_all()?;
            self.deliver_all()?;
            if let Some(leader) = self.nodes.iter().position(|n| n.status().role == Role::Leader) {
                return Ok(leader);
            }
            self.nodes.iter_mut().for_each(|n| n.raw.tick());
        }
        Err(format!("no leader after {MAX_ELECTION_ROUNDS} rounds"))
    }

    fn drain_all(&mut self) -> Result<(), String> {
        (0..self.nodes.len()).try_for_each(|position| self.drain(position))
    }

    /// Handles every `Ready` of node `position`: counts what it applies, queues what it sends.
    fn drain(&mut self, position: usize) -> Result<(), String> {
        while let Some(ready) = self.nodes[position].ready() {
            if let Some(snapshot) = ready.snapshot.as_ref().filter(|s| !s.is_empty()) {
                self.applied_index[position] = snapshot.meta.index;
                self.applied_payloads[position] = decode_count(&snapshot.data);
            }
            if let Some(last) = ready.committed_entries.last() {
                self.applied_index[position] = last.index;
                let payloads = ready.committed_entries.iter().filter(|e| e.kind == EntryKind::Normal).count();
                self.applied_payloads[position] += payloads as u64;
            }
            for (to, frames) in ready.messages {
                let destination = (to as usize).checked_sub(1).filter(|&d| d < self.nodes.len());
                let destination =
                    destination.ok_or_else(|| format!("node {} sent to unknown node {to}", position + 1))?;
                self.report.bytes += frames.len() as u64;
                self.wire.push_back((destination, Bytes::from(frames)));
            }
            self.nodes[position].advance();
        }
        Ok(())
    }

    /// Delivers every queued buffer, and what the deliveries produce, until the wire is empty.
    fn deliver_all(&mut self) -> Result<(), String> {
        while let Some((position, frames)) = self.wire.pop_front() {
            match self.nodes[position].step_frames(&frames) {
                Ok(count) => self.report.messages += count as u64,
                Err(error) => return Err(format!("node {} failed to step frames: {error}", position + 1)),
            }
            self.drain(position)?;
        }
        Ok(())
    }

    /// Compacts each node's log at its applied index once it grew past the threshold; the
    /// snapshot holds the payload count, which is all this application's state.
    fn compact_logs(&mut self) -> Result<(), String> {
        for position in 0..self.nodes.len() {
            let applied = self.applied_index[position];
            if applied < self.compacted_index[position] + COMPACT_EVERY_ENTRIES {
                continue;
            }
            let data = Bytes::copy_from_slice(&self.applied_payloads[position].to_le_bytes());
            self.nodes[position]
                .compact(applied, data)
                .map_err(|e| format!("node {} failed to compact at {applied}: {e}", position + 1))?;
            self.compacted_index[position] = applied;
        }
        Ok(())
    }

    fn total_applied_payloads(&self) -> u64 {
        self.applied_payloads.iter().sum()
    }

    fn min_applied_payloads(&self) -> u64 {
        self.applied_payloads.iter().copied().min().unwrap_or(0)
    }
}

fn decode_count(data: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let len = data.len().min(8);
    word[..len].copy_from_slice(&data[..len]);
    u64::from_le_bytes(word)
}
