//! Committed entries waiting to be applied, oldest first, in the batches the core handed out
//! (at most `max_committed_bytes_per_ready` each).
//!
//! Every committed entry passes through here: the caller applies one batch per `Apply`
//! action under a deadline, and what it did not reach stays at the head. While a snapshot is
//! taken of an application that cannot capture its state, nothing is applied and the queue
//! grows, up to the driver's `max_apply_backlog_bytes`.
//!
//! A batch is handed out as an [`ApplyBatch`], a shared view of the queued batch: handing it
//! out allocates nothing and copies no entry.

use crate::raft::message::{Entry, Index};
use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::Arc;

/// Committed entries to apply, in index order (consecutive indexes): a view of one batch of
/// the queue from an offset. Dereferences to the entries.
#[derive(Clone, Debug)]
pub struct ApplyBatch {
    batch: Arc<Vec<Entry>>,
    /// The first entry of `batch` in view. Invariant: `< batch.len()`.
    start: usize,
}

impl Deref for ApplyBatch {
    type Target = [Entry];

    fn deref(&self) -> &[Entry] {
        &self.batch[self.start..]
    }
}

impl<'a> IntoIterator for &'a ApplyBatch {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for ApplyBatch {
    type Item = Entry;
    type IntoIter = std::vec::IntoIter<Entry>;

    /// The entries, cloned (each shares its data).
    fn into_iter(self) -> Self::IntoIter {
        self.iter().cloned().collect::<Vec<Entry>>().into_iter()
    }
}

#[derive(Debug, Default)]
pub struct ApplyQueue {
    /// Batches and the offset of their first entry not applied; never empty past the offset.
    batches: VecDeque<ApplyBatch>,
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
        self.batches.push_back(ApplyBatch { batch: Arc::new(entries), start: 0 });
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest batch to hand out, unless one handed out was not reported yet.
    pub fn hand_out(&mut self) -> Option<ApplyBatch> {
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
        while let Some(front) = self.batches.front_mut() {
            let reached = front.partition_point(|e| e.index <= index);
            freed += front[..reached].iter().map(|e| e.data.len()).sum::<usize>();
            if reached < front.len() {
                front.start += reached;
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
