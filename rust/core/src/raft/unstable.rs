//! The part of the log not yet known to be durable: entries (and possibly a snapshot) that were
//! appended in memory and are being, or will be, written by the caller.

use crate::raft::message::{Entry, Index, Snapshot, Term};

/// Invariants:
/// - `entries[i].index == offset + i`.
/// - `offset_in_progress` is in `[offset, offset + entries.len()]`: entries in
///   `[offset, offset_in_progress)` were handed out in a `Ready` and await `stable_to`.
/// - When `snapshot` is set, `offset == snapshot.meta.index + 1`.
#[derive(Debug)]
pub struct Unstable {
    pub snapshot: Option<Snapshot>,
    /// The snapshot was handed out in a `Ready` and awaits `stable_snap_to`.
    pub snapshot_in_progress: bool,
    pub entries: Vec<Entry>,
    pub offset: Index,
    pub offset_in_progress: Index,
}

impl Unstable {
    /// An empty unstable log whose first entry will be `offset`.
    pub fn new(offset: Index) -> Unstable {
        Unstable {
            snapshot: None,
            snapshot_in_progress: false,
            entries: Vec::new(),
            offset,
            offset_in_progress: offset,
        }
    }

    /// The index of the first entry this part could hold, if it holds a snapshot.
    pub fn maybe_first_index(&self) -> Option<Index> {
        self.snapshot.as_ref().map(|s| s.meta.index + 1)
    }

    pub fn maybe_last_index(&self) -> Option<Index> {
        match self.entries.last() {
            Some(e) => Some(e.index),
            None => self.snapshot.as_ref().map(|s| s.meta.index),
        }
    }

    pub fn maybe_term(&self, index: Index) -> Option<Term> {
        if index < self.offset {
            let snap = self.snapshot.as_ref()?;
            return (snap.meta.index == index).then_some(snap.meta.term);
        }
        self.entries.get((index - self.offset) as usize).map(|e| e.term)
    }

    /// Entries not yet handed out for persisting.
    pub fn next_entries(&self) -> &[Entry] {
        &self.entries[(self.offset_in_progress - self.offset) as usize..]
    }

    pub fn next_snapshot(&self) -> Option<&Snapshot> {
        if self.snapshot_in_progress {
            None
        } else {
            self.snapshot.as_ref()
        }
    }

    /// Marks everything currently held as handed out for persisting.
    pub fn accept_in_progress(&mut self) {
        self.offset_in_progress = self.offset + self.entries.len() as Index;
        if self.snapshot.is_some() {
            self.snapshot_in_progress = true;
        }
    }

    /// The entries up to `index` (whose term was `term` when handed out) are durable. Ignored when
    /// the entry was since replaced by one of another term (a newer write will cover it).
    /// Returns whether anything became stable.
    pub fn stable_to(&mut self, index: Index, term: Term) -> bool {
        if self.maybe_term(index) != Some(term) || index < self.offset {
            return false;
        }
        let count = (index + 1 - self.offset) as usize;
        self.entries.drain(..count);
        self.offset = index + 1;
        self.offset_in_progress = self.offset_in_progress.max(self.offset);
        if self.entries.capacity() > 4096 && self.entries.len() * 4 < self.entries.capacity() {
            self.entries.shrink_to_fit();
        }
        true
    }

    pub fn stable_snap_to(&mut self, index: Index) {
        if self.snapshot.as_ref().is_some_and(|s| s.meta.index == index) {
            self.snapshot = None;
            self.snapshot_in_progress = false;
        }
    }

    /// Replaces everything with `snapshot` (a follower installing the leader's snapshot).
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.offset = snapshot.meta.index + 1;
        self.offset_in_progress = self.offset;
        self.entries.clear();
        self.snapshot = Some(snapshot);
        self.snapshot_in_progress = false;
    }

    /// Appends `entries`, truncating any suffix they conflict with. `entries` must start at or
    /// below `offset + entries.len()` (no gap) and at or above `offset` unless the caller has
    /// already copied the stable prefix in (see `RaftLog::append`).
    pub fn truncate_and_append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        let after = first.index;
        let end = self.offset + self.entries.len() as Index;
        if after == end {
            self.entries.extend_from_slice(entries);
        } else if after <= self.offset {
            // Replaces everything unstable; the caller persists from `after` on.
            self.offset = after;
            self.offset_in_progress = after;
            self.entries.clear();
            self.entries.extend_from_slice(entries);
        } else {
            assert!(after < end, "truncate_and_append: gap: end {end}, appending from {after}");
            self.entries.truncate((after - self.offset) as usize);
            self.entries.extend_from_slice(entries);
            self.offset_in_progress = self.offset_in_progress.min(after);
        }
    }

    /// Entries in `[lo, hi)`; the caller guarantees `offset <= lo <= hi <= last + 1`.
    pub fn slice(&self, lo: Index, hi: Index) -> &[Entry] {
        &self.entries[(lo - self.offset) as usize..(hi - self.offset) as usize]
    }
}
