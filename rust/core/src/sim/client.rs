//! The simulated clients: what they ask of which node at each tick.
//!
//! Clients do not know the leader: they propose to random nodes (followers forward or refuse,
//! both fine), ask for linearizable reads, now and then request a leadership transfer or an
//! election, and the application compacts its log at the index it has applied.

use crate::raft::message::NodeId;
use crate::sim::faults::chance;
use bytes::Bytes;
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

/// Most entries a client proposes in one batch.
pub const MAX_PROPOSAL_BATCH: usize = 8;
/// Most random bytes in a payload, after its 8-byte serial number.
pub const MAX_PAYLOAD_EXTRA_BYTES: usize = 56;

/// One client request (or application action), aimed at the node at `position` (id - 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    Propose {
        position: usize,
        payloads: Vec<Bytes>,
    },
    ReadIndex {
        position: usize,
        request_id: u64,
    },
    TransferLeader {
        position: usize,
        to: NodeId,
    },
    Campaign {
        position: usize,
    },
    /// The application at `position` snapshots its state and compacts the log up to it.
    Compact {
        position: usize,
    },
}

/// Request rates of one run (per mille per tick) and the serial numbers handed out so far.
#[derive(Clone, Debug)]
pub struct Workload {
    nodes: usize,
    propose_per_mille: u32,
    read_per_mille: u32,
    transfer_per_mille: u32,
    campaign_per_mille: u32,
    compact_per_mille: u32,
    /// Serial number of the next payload: every payload is unique.
    next_payload_serial: u64,
    /// Request id of the next read (ids start at 1).
    next_read_id: u64,
}

impl Workload {
    /// Rates drawn for one run of a cluster of `nodes`.
    pub fn draw(nodes: usize, rng: &mut ChaCha8Rng) -> Workload {
        Workload {
            nodes,
            propose_per_mille: rng.gen_range(200..=900),
            read_per_mille: rng.gen_range(0..=100),
            transfer_per_mille: rng.gen_range(0..=10),
            campaign_per_mille: rng.gen_range(0..=5),
            compact_per_mille: rng.gen_range(0..=60),
            next_payload_serial: 0,
            next_read_id: 1,
        }
    }

    /// The requests clients make at this tick. Half of the proposals go to `leader` (the node
    /// last seen leading, which a real client would have been redirected to), when known.
    pub fn plan_tick(&mut self, leader: Option<usize>, rng: &mut ChaCha8Rng, out: &mut Vec<ClientAction>) {
        if chance(rng, self.propose_per_mille) {
            let random = rng.gen_range(0..self.nodes);
            let position = match leader {
                Some(leader) if rng.gen_bool(0.5) => leader,
                _ => random,
            };
            let count = if rng.gen_bool(0.5) { 1 } else { rng.gen_range(1..=MAX_PROPOSAL_BATCH) };
            let payloads = (0..count).map(|_| self.payload(rng)).collect();
            out.push(ClientAction::Propose { position, payloads });
        }
        if chance(rng, self.read_per_mille) {
            let request_id = self.next_read_id;
            self.next_read_id += 1;
            out.push(ClientAction::ReadIndex { position: rng.gen_range(0..self.nodes), request_id });
        }
        if chance(rng, self.transfer_per_mille) {
            let to = rng.gen_range(1..=self.nodes as NodeId);
            out.push(ClientAction::TransferLeader { position: rng.gen_range(0..self.nodes), to });
        }
        if chance(rng, self.campaign_per_mille) {
            out.push(ClientAction::Campaign { position: rng.gen_range(0..self.nodes) });
        }
        if chance(rng, self.compact_per_mille) {
            out.push(ClientAction::Compact { position: rng.gen_range(0..self.nodes) });
        }
    }

    /// A fresh payload: its serial number, then 0 to `MAX_PAYLOAD_EXTRA_BYTES` random bytes.
    pub fn payload(&mut self, rng: &mut ChaCha8Rng) -> Bytes {
        let extra = rng.gen_range(0..=MAX_PAYLOAD_EXTRA_BYTES);
        let mut data = vec![0u8; 8 + extra];
        data[..8].copy_from_slice(&self.next_payload_serial.to_le_bytes());
        rng.fill_bytes(&mut data[8..]);
        self.next_payload_serial += 1;
        Bytes::from(data)
    }
}
