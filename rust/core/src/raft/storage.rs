//! The stable part of the log, as the core reads it, and an in-memory implementation.
//!
//! The core never writes to storage: the application writes what a `Ready` hands it (duty 1
//! in the crate docs) and the core reads back through this trait. The durable segmented log
//! implements the same trait.

use crate::codec::decode_conf_change;
use crate::error::StorageError;
use crate::raft::conf_change::apply_conf_change;
use crate::raft::message::{ConfState, Entry, EntryKind, HardState, Index, Snapshot, SnapshotMeta, Term};
use bytes::Bytes;

/// Read access to persisted Raft state.
///
/// Invariant: the log holds the entries `[first_index, last_index]`; the entry at
/// `first_index - 1` is covered by the snapshot, whose term `term(first_index - 1)` returns.
pub trait Storage {
    /// The persisted hard state and voter set at start-up.
    fn initial_state(&self) -> (HardState, ConfState);
    /// Entries in `[lo, hi)`, stopping early once `max_bytes` is exceeded (at least one entry
    /// is always returned when the range is non-empty).
    fn entries(&self, lo: Index, hi: Index, max_bytes: usize) -> Result<Vec<Entry>, StorageError>;
    /// The term of the entry at `index`, for `index` in `[first_index - 1, last_index]`.
    fn term(&self, index: Index) -> Result<Term, StorageError>;
    /// The index of the first entry still in the log (snapshot index + 1).
    fn first_index(&self) -> Index;
    /// The index of the last entry in the log (the snapshot index if the log is empty).
    fn last_index(&self) -> Index;
    /// The most recent snapshot.
    fn snapshot(&self) -> Snapshot;
}

/// Log storage held in memory: the simulator's disk and the default of the Python node until
/// the durable log lands.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    hard_state: HardState,
    snapshot: Snapshot,
    /// Entries `[snapshot.meta.index + 1, ..]`, contiguous.
    entries: Vec<Entry>,
}

impl MemStorage {
    /// Empty storage for a node of a cluster with `voters`.
    pub fn new(voters: Vec<u64>) -> MemStorage {
        let mut s = MemStorage::default();
        s.snapshot.meta.conf_state = ConfState::from_voters(voters);
        s
    }

    /// Storage holding what a durable log recovered: `snapshot` (if any), then `entries`
    /// (contiguous, starting right after the snapshot), then `hard_state`. `voters` is the voter
    /// set when there is no snapshot to take it from.
    pub fn recovered(
        voters: Vec<u64>,
        hard_state: HardState,
        snapshot: Option<Snapshot>,
        entries: Vec<Entry>,
    ) -> Result<MemStorage, StorageError> {
        let mut s = MemStorage::new(voters);
        s.persist(snapshot.as_ref(), entries, Some(hard_state))?;
        Ok(s)
    }

    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    fn offset(&self) -> Index {
        self.snapshot.meta.index
    }

    /// Appends `entries`, first truncating any conflicting suffix: an entry at index `i`
    /// replaces the log from `i` on. Entries at or below the snapshot index are ignored.
    ///
    /// Panics if `entries` would leave a gap after the last index (a caller bug).
    pub fn append(&mut self, entries: &[Entry]) {
        if let Some(skip) = self.prepare_append(entries) {
            self.entries.extend_from_slice(&entries[skip..]);
        }
    }

    /// `append` taking ownership, which saves a copy of every entry.
    pub fn append_owned(&mut self, mut entries: Vec<Entry>) {
        if let Some(skip) = self.prepare_append(&entries) {
            if skip == 0 {
                self.entries.append(&mut entries);
            } else {
                self.entries.extend(entries.drain(skip..));
            }
        }
    }

    /// Truncates the conflicting suffix for an append of `entries`; returns how many leading
    /// entries to skip (already covered by the snapshot), or `None` when nothing is to be added.
    fn prepare_append(&mut self, entries: &[Entry]) -> Option<usize> {
        let first = entries.first()?;
        let offset = self.offset();
        let last = offset + self.entries.len() as Index;
        assert!(first.index <= last + 1, "append: gap in log: last {last}, appending from {}", first.index);
        let skip = offset.saturating_sub(first.index - 1) as usize;
        if skip >= entries.len() {
            return None;
        }
        let keep = (entries[skip].index - offset - 1) as usize;
        self.entries.truncate(keep);
        Some(skip)
    }

    /// Duty 1 of a `Ready`, in its order: install `snapshot`, append `entries`, write
    /// `hard_state`. (In memory, so durable at once.)
    pub fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: Vec<Entry>,
        hard_state: Option<HardState>,
    ) -> Result<(), StorageError> {
        if let Some(snapshot) = snapshot {
            self.apply_snapshot(snapshot.clone())?;
        }
        self.append_owned(entries);
        if let Some(hs) = hard_state {
            self.set_hard_state(hs);
        }
        Ok(())
    }

    /// Installs `snapshot`, dropping the whole log (the snapshot supersedes it).
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        if snapshot.meta.index < self.snapshot.meta.index {
            return Err(StorageError::SnapshotOutOfDate {
                index: snapshot.meta.index,
                current: self.snapshot.meta.index,
            });
        }
        self.hard_state.commit = self.hard_state.commit.max(snapshot.meta.index);
        self.hard_state.term = self.hard_state.term.max(snapshot.meta.term);
        self.entries.clear();
        self.snapshot = snapshot;
        Ok(())
    }

    /// Records a snapshot of the application at `index` (which must be in the log) with `data`,
    /// and drops the log up to and including `index`. The snapshot's configuration is the one
    /// at `index` (the changes it covers applied as every node applies them).
    pub fn create_snapshot(&mut self, index: Index, data: Bytes) -> Result<(), StorageError> {
        if index <= self.snapshot.meta.index {
            return Err(StorageError::SnapshotOutOfDate { index, current: self.snapshot.meta.index });
        }
        let term = self.term(index)?;
        let drop_count = (index - self.offset()) as usize;
        // The configuration at `index`: the snapshot's, moved on by the changes it now covers.
        let mut conf_state = self.snapshot.meta.conf_state.clone();
        for entry in self.entries[..drop_count].iter().filter(|entry| entry.kind == EntryKind::ConfChange) {
            if let Some(next) =
                decode_conf_change(&entry.data).ok().and_then(|change| apply_conf_change(&conf_state, &change).ok())
            {
                conf_state = next;
            }
        }
        self.entries.drain(..drop_count);
        self.snapshot = Snapshot { meta: SnapshotMeta { index, term, conf_state }, data };
        Ok(())
    }

    /// Replaces the configuration recorded in the snapshot (a protocol whose configurations
    /// take effect otherwise than Raft's, Multi-Paxos's window, records its own).
    pub fn set_snapshot_conf_state(&mut self, conf_state: ConfState) {
        self.snapshot.meta.conf_state = conf_state;
    }

    /// Number of entries held (not counting those covered by the snapshot).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> (HardState, ConfState) {
        (self.hard_state, self.snapshot.meta.conf_state.clone())
    }

    fn entries(&self, lo: Index, hi: Index, max_bytes: usize) -> Result<Vec<Entry>, StorageError> {
        let offset = self.offset();
        if lo <= offset {
            return Err(StorageError::Compacted { index: lo, first_index: offset + 1 });
        }
        let last = self.last_index();
        if hi > last + 1 {
            return Err(StorageError::Unavailable { index: hi - 1, last_index: last });
        }
        let mut out = Vec::with_capacity((hi.saturating_sub(lo)) as usize);
        let mut size_bytes = 0usize;
        for e in &self.entries[(lo - offset - 1) as usize..(hi - offset - 1) as usize] {
            size_bytes += e.size_bytes();
            if !out.is_empty() && size_bytes > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, index: Index) -> Result<Term, StorageError> {
        let offset = self.offset();
        if index == offset {
            return Ok(self.snapshot.meta.term);
        }
        if index < offset {
            return Err(StorageError::Compacted { index, first_index: offset + 1 });
        }
        match self.entries.get((index - offset - 1) as usize) {
            Some(e) => Ok(e.term),
            None => Err(StorageError::Unavailable { index, last_index: self.last_index() }),
        }
    }

    fn first_index(&self) -> Index {
        self.offset() + 1
    }

    fn last_index(&self) -> Index {
        self.offset() + self.entries.len() as Index
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(index: Index, term: Term) -> Entry {
        Entry { index, term, kind: EntryKind::Normal, data: Bytes::from_static(b"x") }
    }

    #[test]
    fn append_truncates_conflicting_suffix() {
        let mut s = MemStorage::new(vec![1]);
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 1)]);
        s.append(&[ent(2, 2)]);
        assert_eq!(s.last_index(), 2);
        assert_eq!(s.term(2), Ok(2));
        assert_eq!(s.term(1), Ok(1));
    }

    #[test]
    fn append_owned_matches_append() {
        let mut a = MemStorage::new(vec![1]);
        let mut b = MemStorage::new(vec![1]);
        let batches = [vec![ent(1, 1), ent(2, 1), ent(3, 1)], vec![ent(2, 2), ent(3, 2)], vec![ent(4, 2)]];
        for batch in batches {
            a.append(&batch);
            b.append_owned(batch);
        }
        assert_eq!(a.entries(1, 5, usize::MAX), b.entries(1, 5, usize::MAX));
        a.create_snapshot(3, Bytes::new()).unwrap();
        b.create_snapshot(3, Bytes::new()).unwrap();
        a.append(&[ent(3, 2), ent(4, 2), ent(5, 3)]);
        b.append_owned(vec![ent(3, 2), ent(4, 2), ent(5, 3)]);
        assert_eq!(a.entries(4, 6, usize::MAX), b.entries(4, 6, usize::MAX));
        assert_eq!(b.last_index(), 5);
    }

    #[test]
    fn compaction_keeps_terms_and_reports_compacted() {
        let mut s = MemStorage::new(vec![1]);
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 2)]);
        s.create_snapshot(2, Bytes::from_static(b"snap")).unwrap();
        assert_eq!(s.first_index(), 3);
        assert_eq!(s.term(2), Ok(1));
        assert!(matches!(s.term(1), Err(StorageError::Compacted { .. })));
        assert!(matches!(s.entries(2, 4, usize::MAX), Err(StorageError::Compacted { .. })));
        assert_eq!(s.entries(3, 4, usize::MAX).unwrap().len(), 1);
        // Appending entries that overlap the snapshot ignores the covered part.
        s.append(&[ent(2, 1), ent(3, 2), ent(4, 2)]);
        assert_eq!(s.last_index(), 4);
    }

    #[test]
    fn entries_respects_max_bytes_but_returns_one() {
        let mut s = MemStorage::new(vec![1]);
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 1)]);
        assert_eq!(s.entries(1, 4, 0).unwrap().len(), 1);
        assert_eq!(s.entries(1, 4, 2 * ent(1, 1).size_bytes()).unwrap().len(), 2);
    }
}
