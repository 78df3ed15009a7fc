//! Committed entries waiting to be applied, oldest first, in the batches the core handed out
//! (at most `max_committed_bytes_per_ready` each).
//!
//! Every committed entry passes through here: the caller applies one batch per `Apply`
//! action under a deadline, and what it did not reach stays at the head. While a snapshot is
//! taken of an application that cannot capture its state, nothing is applied and the queue
//! grows, up to the driver's `max_apply_backlog_bytes`.

use crate::raft::message::{Entry, Index};
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct ApplyQueue {
    batches: VecDeque<Vec<Entry>>,
    /// Payload bytes of every entry queued.
    bytes: usize,
    /// The last index handed out in an `Apply` not yet reported (`applied_to`), if any.
    outstanding: Option<Index>,
}

impl ApplyQueue {
    pub fn push(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        self.bytes += entries.iter().map(|e| e.data.len()).sum::<usize>();
        self.batches.push_back(entries);
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest batch to hand out (a copy sharing the entries' data), unless one handed out
    /// was not reported yet.
    pub fn hand_out(&mut self) -> Option<Vec<Entry>> {
        if self.outstanding.is_some() {
            return None;
        }
        let batch = self.batches.front()?;
        self.outstanding = batch.last().map(|e| e.index);
        Some(batch.clone())
    }

    /// The caller applied the batch handed out up to `index` (inclusive): drops those entries
    /// and returns their payload bytes. Entries past `index` stay at the head.
    pub fn applied_to(&mut self, index: Index) -> usize {
        self.outstanding = None;
        let mut freed = 0;
        while let Some(batch) = self.batches.front_mut() {
            let reached = batch.partition_point(|e| e.index <= index);
            freed += batch[..reached].iter().map(|e| e.data.len()).sum::<usize>();
            if reached < batch.len() {
                batch.drain(..reached);
                break;
            }
            self.batches.pop_front();
        }
        self.bytes -= freed;
        freed
    }

    pub fn clear(&mut self) {
        self.batches.clear();
        self.bytes = 0;
        self.outstanding = None;
    }
}
