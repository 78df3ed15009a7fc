//! [`SlotLog`]: an acceptor's slots in memory: what it accepted per slot (value and ballot),
//! which prefix is chosen, and which slots changed since the last write was handed out.
//!
//! The durable copy is a [`MemStorage`](crate::raft::storage::MemStorage) (and, beside it, the
//! shared WAL) holding the same entries: slot `s` accepted at ballot `b` with value `v` is
//! `Entry { index: s, term: b.to_u64(), kind, data: v }`. This log is the node's view, the
//! storage is what a crash leaves.
//!
//! Invariants:
//! - slots `[first_slot, last_slot]` are held, contiguous; `[1, snapshot_index]` are in the
//!   snapshot;
//! - `snapshot_index <= applying <= chosen <= run_to <= last_slot`, where slots
//!   `[1, chosen]` hold chosen values (never rewritten), and slots `(chosen, run_to]` were all
//!   accepted at `run_ballot` (the acceptor's "contiguous position" at its current ballot);
//! - every slot from `dirty_from` on differs from what was last handed out for writing.
//!
//! **Tail rewrite.** The WAL and `MemStorage` have Raft's append semantics: writing slot `s`
//! drops every stored slot above it. Per-slot Paxos must not lose an accepted value: an
//! acceptor may be the only member of a phase 2 quorum that a later phase 1 quorum meets, and
//! forgetting its accepted value at a higher slot could let a new leader choose another value
//! there. So a write always covers `[dirty_from, last_slot]`: the slots an accept overwrote
//! and, unchanged, every slot after them. That tail was accepted from earlier leaders' windows
//! and is bounded by them (`max_inflight_*`, `max_uncommitted_bytes`).

use crate::paxos::ballot::Ballot;
use crate::paxos::message::Slot;
use crate::raft::message::{Entry, SnapshotMeta};
use std::collections::VecDeque;

#[derive(Clone, Debug, Default)]
pub struct SlotLog {
    snapshot_index: Slot,
    /// The stored ballot of the slot at `snapshot_index` (0 without a snapshot).
    snapshot_ballot: u64,
    /// `entries[i]` holds slot `snapshot_index + 1 + i`.
    entries: VecDeque<Entry>,
    chosen: Slot,
    /// Highest slot handed to the application.
    applying: Slot,
    run_ballot: Ballot,
    run_to: Slot,
    dirty_from: Option<Slot>,
}

impl SlotLog {
    /// A log as recovered: `snapshot` meta, then `entries` (contiguous after it), the chosen
    /// index stored with the promise, and the slot the application applied.
    pub fn recovered(snapshot: &SnapshotMeta, entries: Vec<Entry>, chosen: Slot, applied: Slot) -> SlotLog {
        let mut log = SlotLog {
            snapshot_index: snapshot.index,
            snapshot_ballot: snapshot.term,
            entries: entries.into(),
            ..SlotLog::default()
        };
        // A chosen index or applied slot past what survived cannot be trusted beyond the log.
        log.chosen = chosen.max(applied).max(snapshot.index).min(log.last_slot());
        log.applying = applied.max(snapshot.index).min(log.chosen);
        log.run_to = log.chosen;
        log
    }

    pub fn first_slot(&self) -> Slot {
        self.snapshot_index + 1
    }

    pub fn last_slot(&self) -> Slot {
        self.snapshot_index + self.entries.len() as Slot
    }

    pub fn snapshot_index(&self) -> Slot {
        self.snapshot_index
    }

    pub fn chosen(&self) -> Slot {
        self.chosen
    }

    pub fn applying(&self) -> Slot {
        self.applying
    }

    pub fn run_ballot(&self) -> Ballot {
        self.run_ballot
    }

    /// The end of the run at `ballot`: the acceptor's contiguous position at that ballot (its
    /// chosen index when the run is at another ballot).
    pub fn position_at(&self, ballot: Ballot) -> Slot {
        if self.run_ballot == ballot {
            self.run_to
        } else {
            self.chosen
        }
    }

    pub fn get(&self, slot: Slot) -> Option<&Entry> {
        let offset = slot.checked_sub(self.first_slot())?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// The stored ballot of `slot`, for `slot` in `[snapshot_index, last_slot]`.
    pub fn stored_ballot(&self, slot: Slot) -> Option<u64> {
        if slot == self.snapshot_index {
            return Some(self.snapshot_ballot);
        }
        self.get(slot).map(|e| e.term)
    }

    /// The highest ballot any held slot was accepted at.
    pub fn max_accepted_ballot(&self) -> Ballot {
        Ballot::from_u64(self.entries.iter().map(|e| e.term).max().unwrap_or(0))
    }

    /// Slots `[lo, hi]` (clamped to the held ones), stopping once `max_entries` or
    /// `max_bytes` would be exceeded (at least one slot when the range holds one).
    pub fn slice(&self, lo: Slot, hi: Slot, max_entries: usize, max_bytes: usize) -> Vec<Entry> {
        let (lo, hi) = (lo.max(self.first_slot()), hi.min(self.last_slot()));
        let mut out = Vec::new();
        let mut bytes = 0;
        for slot in lo..=hi {
            let Some(entry) = self.get(slot) else { break };
            bytes += entry.size_bytes();
            if !out.is_empty() && (out.len() >= max_entries || bytes > max_bytes) {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Moves the run to `ballot` (the acceptor promised it): the run restarts at the chosen
    /// index and takes in the slots already held at that ballot.
    pub fn set_run_ballot(&mut self, ballot: Ballot) {
        if self.run_ballot != ballot {
            self.run_ballot = ballot;
            self.run_to = self.chosen;
            self.extend_run();
        }
    }

    fn extend_run(&mut self) {
        let stored = self.run_ballot.to_u64();
        while self.get(self.run_to + 1).is_some_and(|e| e.term == stored) {
            self.run_to += 1;
        }
    }

    /// Accepts `entries` (consecutive slots, each carrying its ballot in `term`), skipping
    /// slots that are chosen (they hold the chosen value already). The first slot written must
    /// be at most `last_slot + 1` (the caller checked it against the run). Slots after the
    /// last one written keep their values (the tail rewrite of the module docs).
    pub fn accept(&mut self, entries: Vec<Entry>) {
        let mut first_written = None;
        for entry in entries {
            let slot = entry.index;
            if slot <= self.chosen {
                continue;
            }
            if slot > self.last_slot() + 1 {
                // The acceptor checked the first slot against its run; consecutive slots
                // cannot leave a gap, so this is a caller bug. Writing nothing more keeps the
                // log contiguous.
                debug_assert!(false, "accept: gap at slot {slot} after {}", self.last_slot());
                break;
            }
            first_written.get_or_insert(slot);
            let offset = (slot - self.first_slot()) as usize;
            if offset < self.entries.len() {
                self.entries[offset] = entry;
            } else {
                self.entries.push_back(entry);
            }
        }
        if let Some(slot) = first_written {
            self.dirty_from = Some(self.dirty_from.map_or(slot, |d| d.min(slot)));
        }
        self.extend_run();
    }

    /// Marks slots up to `slot` chosen (clamped to the held slots).
    pub fn mark_chosen(&mut self, slot: Slot) {
        self.chosen = self.chosen.max(slot.min(self.last_slot()));
        self.run_to = self.run_to.max(self.chosen);
        self.extend_run();
    }

    /// Installs a snapshot of the chosen slots up to `meta.index` (above `chosen`): the slots
    /// it covers are dropped, the slots after it are kept (accepted values are never lost)
    /// and, because the stored log is replaced by the snapshot, written again after it.
    pub fn install_snapshot(&mut self, meta: &SnapshotMeta) {
        debug_assert!(meta.index > self.chosen, "a snapshot at or below the chosen index is ignored");
        let drop_count = (meta.index.min(self.last_slot()) - self.snapshot_index) as usize;
        self.entries.drain(..drop_count);
        self.snapshot_index = meta.index;
        self.snapshot_ballot = meta.term;
        self.chosen = meta.index;
        self.applying = meta.index;
        self.run_to = meta.index;
        self.extend_run();
        self.dirty_from = (!self.entries.is_empty()).then_some(meta.index + 1);
    }

    /// Drops slots up to `index` (at most `applying`: chosen, applied and durable), which a
    /// snapshot at `index` with `ballot` now covers.
    pub fn compact(&mut self, index: Slot, ballot: u64) {
        debug_assert!(index <= self.applying && index > self.snapshot_index, "compact: {index} out of range");
        let drop_count = (index - self.snapshot_index) as usize;
        self.entries.drain(..drop_count);
        self.snapshot_index = index;
        self.snapshot_ballot = ballot;
        if let Some(dirty) = self.dirty_from.filter(|&d| d <= index) {
            self.dirty_from = Some(dirty.max(index + 1)).filter(|_| !self.entries.is_empty());
        }
    }

    pub fn has_dirty(&self) -> bool {
        self.dirty_from.is_some()
    }

    /// The slots to write (`[dirty_from, last_slot]`), which count as handed out from now on.
    pub fn take_dirty(&mut self) -> Vec<Entry> {
        match self.dirty_from.take() {
            Some(from) => self.slice(from, self.last_slot(), usize::MAX, usize::MAX),
            None => Vec::new(),
        }
    }

    /// Chosen slots after `applying` that `durable` says are on disk as held here, in order,
    /// at most `max_entries` and `max_bytes` (at least one).
    pub fn next_chosen(&self, durable: impl Fn(&Entry) -> bool, max_entries: usize, max_bytes: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for slot in self.applying + 1..=self.chosen {
            let Some(entry) = self.get(slot).filter(|e| durable(e)) else { break };
            bytes += entry.size_bytes();
            if !out.is_empty() && (out.len() >= max_entries || bytes > max_bytes) {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    pub fn has_next_chosen(&self, durable: impl Fn(&Entry) -> bool) -> bool {
        self.applying < self.chosen && self.get(self.applying + 1).is_some_and(durable)
    }

    pub fn applying_to(&mut self, slot: Slot) {
        debug_assert!(slot <= self.chosen, "applying past the chosen index");
        self.applying = self.applying.max(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::message::EntryKind;
    use bytes::Bytes;

    fn ent(slot: Slot, ballot: Ballot, data: &'static [u8]) -> Entry {
        Entry { index: slot, term: ballot.to_u64(), kind: EntryKind::Normal, data: Bytes::from_static(data) }
    }

    #[test]
    fn an_overwrite_keeps_and_rewrites_the_tail() {
        let (old, new) = (Ballot::new(1, 1), Ballot::new(2, 2));
        let mut log = SlotLog::default();
        log.set_run_ballot(old);
        log.accept(vec![ent(1, old, b"a"), ent(2, old, b"b"), ent(3, old, b"c")]);
        assert_eq!(log.take_dirty().len(), 3);
        log.set_run_ballot(new);
        assert_eq!(log.position_at(new), 0);
        log.accept(vec![ent(1, new, b"x")]);
        assert_eq!(log.position_at(new), 1);
        let dirty = log.take_dirty();
        let slots: Vec<(Slot, &[u8])> = dirty.iter().map(|e| (e.index, e.data.as_ref())).collect();
        assert_eq!(slots, vec![(1, b"x" as &[u8]), (2, b"b"), (3, b"c")], "the tail is written again, unchanged");
        assert_eq!(log.get(3).map(|e| e.term), Some(old.to_u64()));
    }

    #[test]
    fn chosen_slots_are_never_rewritten_and_the_run_follows_the_chosen_index() {
        let (old, new) = (Ballot::new(1, 1), Ballot::new(2, 2));
        let mut log = SlotLog::default();
        log.set_run_ballot(old);
        log.accept(vec![ent(1, old, b"a"), ent(2, old, b"b")]);
        log.mark_chosen(1);
        log.set_run_ballot(new);
        assert_eq!(log.position_at(new), 1);
        log.accept(vec![ent(1, new, b"z"), ent(2, new, b"b")]);
        assert_eq!(log.get(1).map(|e| e.data.clone()), Some(Bytes::from_static(b"a")));
        assert_eq!(log.position_at(new), 2);
    }

    #[test]
    fn a_snapshot_keeps_the_slots_after_it() {
        let b = Ballot::new(1, 1);
        let mut log = SlotLog::default();
        log.set_run_ballot(b);
        log.accept((1..=5).map(|s| ent(s, b, b"v")).collect());
        log.take_dirty();
        log.install_snapshot(&SnapshotMeta { index: 3, term: b.to_u64(), ..SnapshotMeta::default() });
        assert_eq!((log.first_slot(), log.last_slot(), log.chosen(), log.applying()), (4, 5, 3, 3));
        assert_eq!(log.take_dirty().iter().map(|e| e.index).collect::<Vec<_>>(), vec![4, 5]);
        log.install_snapshot(&SnapshotMeta { index: 9, term: b.to_u64(), ..SnapshotMeta::default() });
        assert_eq!((log.first_slot(), log.last_slot(), log.has_dirty()), (10, 9, false));
    }
}
