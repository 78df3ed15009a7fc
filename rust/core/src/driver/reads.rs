//! Linearizable reads: requested in batches, issued to the core as read-index rounds,
//! confirmed at an index, served once that index is applied, re-issued when lost.

use crate::driver::protocol::Consensus;
use crate::raft::message::Index;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Read batches in every state, at most; `request_read` past it joins the newest batch
/// anyway (a batch holds any number of readers), so this bounds rounds, not readers.
pub const MAX_READ_BATCHES: usize = 65_536;

#[derive(Debug, Default)]
pub struct Reads {
    /// The id the next request joins; a batch is open until it is issued.
    next_id: u64,
    /// Batches to issue (a new one, or one whose round was lost), ascending.
    to_issue: BTreeSet<u64>,
    /// Issued batches: id -> tick issued.
    in_flight: BTreeMap<u64, u64>,
    /// Confirmed batches: (index to reach, id), smallest index first.
    confirmed: BinaryHeap<Reverse<(Index, u64)>>,
}

impl Reads {
    /// Batches numbered from `first_id` (at least 1). Ids must not repeat across restarts of
    /// a node: a leader's answer to a round issued before a restart would confirm the new
    /// batch of the same id at an index older than its reads.
    pub fn starting_at(first_id: u64) -> Reads {
        Reads { next_id: first_id.max(1), ..Reads::default() }
    }

    /// The id the next batch will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The batch a new read joins: every read requested until the batch is issued shares it.
    pub fn request(&mut self) -> u64 {
        if !self.to_issue.contains(&self.next_id) && self.len() < MAX_READ_BATCHES {
            self.to_issue.insert(self.next_id);
        }
        self.next_id
    }

    /// Forgets a batch nobody waits for any more (its readers timed out).
    pub fn cancel(&mut self, id: u64) {
        self.to_issue.remove(&id);
        self.in_flight.remove(&id);
        // A confirmed batch is served soon; serving it with no reader is harmless.
    }

    fn len(&self) -> usize {
        self.to_issue.len() + self.in_flight.len() + self.confirmed.len()
    }

    pub fn has_to_issue(&self) -> bool {
        !self.to_issue.is_empty()
    }

    /// Issues the batches waiting; those the core refuses (no leader known, too many rounds
    /// pending) wait for the next call.
    pub fn issue<C: Consensus>(&mut self, core: &mut C, now_ticks: u64) {
        while let Some(&id) = self.to_issue.first() {
            if core.read_index(id).is_err() {
                return;
            }
            self.to_issue.remove(&id);
            self.in_flight.insert(id, now_ticks);
            if id == self.next_id {
                self.next_id += 1;
            }
        }
    }

    /// Rounds issued before `horizon_tick` got no answer (lost with a leader change): issue
    /// them again under the same ids.
    pub fn retry_older_than(&mut self, horizon_tick: u64) {
        let stale: Vec<u64> =
            self.in_flight.iter().filter(|(_, &issued)| issued < horizon_tick).map(|(&id, _)| id).collect();
        for id in stale {
            self.in_flight.remove(&id);
            self.to_issue.insert(id);
        }
    }

    /// A round came back: batch `id` may be served once `index` is applied.
    pub fn confirm(&mut self, id: u64, index: Index) {
        if self.in_flight.remove(&id).is_some() {
            self.confirmed.push(Reverse((index, id)));
        }
    }

    /// The batches servable at `applied`, in index order.
    pub fn take_servable(&mut self, applied: Index, out: &mut Vec<(u64, Index)>) {
        while let Some(&Reverse((index, id))) = self.confirmed.peek() {
            if index > applied {
                return;
            }
            self.confirmed.pop();
            out.push((id, index));
        }
    }

    /// Every batch not yet served (when the node stops: their readers fail).
    pub fn clear(&mut self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.to_issue.iter().chain(self.in_flight.keys()).copied().collect();
        ids.extend(self.confirmed.drain().map(|Reverse((_, id))| id));
        self.to_issue.clear();
        self.in_flight.clear();
        ids
    }
}
