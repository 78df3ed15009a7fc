//! The checker's copy of one node's persisted log, reduced to fingerprints.
//!
//! Entry `i` carries the chain fingerprint of the whole prefix `[1, i]`, so two logs whose
//! entries at `i` have equal chains are identical up to `i`: Log Matching and prefix agreement
//! become one comparison instead of a walk.
//!
//! A shadow follows its node by [`ShadowLog::sync`] after every `Ready`. The node's API does not
//! say which indexes a `Ready` wrote (an `EncodedReady` has no entries), so `sync` finds the
//! changed suffix itself: it walks down from the top while the stored entry differs from the
//! shadow's (terms first, then content). That is exact for every change Raft makes (an append
//! truncates everything after its first index) and costs O(changed entries). A change that
//! leaves a later entry identical would hide below an unchanged top, so the checker also runs a
//! full audit (`full = true`) every few syncs and after every restart.

use crate::error::StorageError;
use crate::raft::message::{Entry, Index, Term};
use crate::raft::storage::{MemStorage, Storage};
use crate::sim::fingerprint::Fingerprint;

/// One entry of a shadow log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShadowEntry {
    pub term: Term,
    /// Fingerprint of this entry alone: term, kind and data.
    pub content: Fingerprint,
    /// Fingerprint of the prefix `[1, index]`: `chain_after(chain(index - 1), index, content)`.
    pub chain: Fingerprint,
}

/// The fingerprint of one entry's identity and payload.
pub fn entry_content(entry: &Entry) -> Fingerprint {
    Fingerprint::default().with_u64(entry.term).with_u64(entry.kind as u64).with_bytes(&entry.data)
}

/// The chain fingerprint of a prefix ending at `index` with an entry of `content`.
pub fn chain_after(previous: Fingerprint, index: Index, content: Fingerprint) -> Fingerprint {
    previous.with_u64(index).with_u64(content.value())
}

/// How a sync changed the shadow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogChange {
    /// The snapshot index moved up to this index (compaction or snapshot install).
    pub snapshot_moved_to: Option<Index>,
    /// Entries from this index on were removed or replaced; the chain the first of them had.
    pub truncated: Option<(Index, Fingerprint)>,
    /// New entries were fingerprinted from this index up to `last_index()`.
    pub appended_from: Option<Index>,
}

/// Why a shadow could not follow its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// The node's snapshot index went down (compaction never moves back).
    SnapshotRegressed {
        from: Index,
        to: Index,
    },
    /// The node's snapshot covers an entry no log was ever seen holding.
    UnknownSnapshot {
        index: Index,
        term: Term,
    },
    Storage(StorageError),
}

impl From<StorageError> for SyncError {
    fn from(error: StorageError) -> SyncError {
        SyncError::Storage(error)
    }
}

/// A node's log as fingerprints. Invariant: `entries[k]` describes index
/// `snapshot_index + 1 + k`, and its chain extends the chain of the entry before it.
#[derive(Clone, Debug, Default)]
pub struct ShadowLog {
    /// The index covered by the node's snapshot (0: no snapshot).
    snapshot_index: Index,
    snapshot_term: Term,
    /// Chain fingerprint of the prefix `[1, snapshot_index]`.
    snapshot_chain: Fingerprint,
    entries: Vec<ShadowEntry>,
}

impl ShadowLog {
    pub fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    pub fn last_index(&self) -> Index {
        self.snapshot_index + self.entries.len() as Index
    }

    /// The entry at `index`, for `index` in `(snapshot_index, last_index]`.
    pub fn entry(&self, index: Index) -> Option<&ShadowEntry> {
        let offset = index.checked_sub(self.snapshot_index + 1)?;
        self.entries.get(offset as usize)
    }

    /// The term at `index`, for `index` in `[snapshot_index, last_index]`.
    pub fn term(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The chain at `index`, for `index` in `[snapshot_index, last_index]`.
    pub fn chain(&self, index: Index) -> Option<Fingerprint> {
        if index == self.snapshot_index {
            return Some(self.snapshot_chain);
        }
        self.entry(index).map(|e| e.chain)
    }

    /// Brings the shadow up to date with `storage`. `snapshot_chain(index, term)` names the
    /// chain of a prefix ending at a snapshot the shadow cannot derive itself (a snapshot
    /// installed from a leader). `full` compares every entry instead of the changed suffix only.
    pub fn sync(
        &mut self,
        storage: &MemStorage,
        full: bool,
        snapshot_chain: impl Fn(Index, Term) -> Option<Fingerprint>,
    ) -> Result<LogChange, SyncError> {
        let mut change = LogChange::default();
        self.follow_snapshot(storage, &mut change, snapshot_chain)?;
        let last = storage.last_index();
        let common_last = last.min(self.last_index());
        let first_diff = if full {
            self.first_difference_full(storage, common_last)?
        } else {
            self.first_difference_from_top(storage, common_last)?
        };
        if first_diff <= self.last_index() && change.truncated.is_none() {
            let chain = self.chain(first_diff).unwrap_or_default();
            change.truncated = Some((first_diff, chain));
        }
        self.entries.truncate((first_diff - self.snapshot_index - 1) as usize);
        if first_diff <= last {
            for entry in storage.entries(first_diff, last + 1, usize::MAX)? {
                self.push(&entry);
            }
            change.appended_from = Some(first_diff);
        }
        Ok(change)
    }

    /// Moves the shadow's snapshot up to the storage's: keeps the chain when the shadow holds
    /// the snapshot's entry (compaction), else restarts from the snapshot (install).
    fn follow_snapshot(
        &mut self,
        storage: &MemStorage,
        change: &mut LogChange,
        snapshot_chain: impl Fn(Index, Term) -> Option<Fingerprint>,
    ) -> Result<(), SyncError> {
        let index = storage.first_index() - 1;
        if index == self.snapshot_index {
            return Ok(());
        }
        if index < self.snapshot_index {
            return Err(SyncError::SnapshotRegressed { from: self.snapshot_index, to: index });
        }
        let term = storage.term(index)?;
        change.snapshot_moved_to = Some(index);
        if self.term(index) == Some(term) {
            let chain = self.chain(index).unwrap_or_default();
            self.entries.drain(..(index - self.snapshot_index) as usize);
            self.snapshot_index = index;
            self.snapshot_term = term;
            self.snapshot_chain = chain;
            return Ok(());
        }
        let chain = snapshot_chain(index, term).ok_or(SyncError::UnknownSnapshot { index, term })?;
        if let Some(first_lost) = self.entry(index + 1) {
            change.truncated = Some((index + 1, first_lost.chain));
        }
        self.entries.clear();
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.snapshot_chain = chain;
        Ok(())
    }

    /// The lowest index in `(snapshot_index, common_last + 1]` from which the stored log and
    /// the shadow differ, found walking down from `common_last`.
    fn first_difference_from_top(&self, storage: &MemStorage, common_last: Index) -> Result<Index, SyncError> {
        let mut index = common_last;
        while index > self.snapshot_index {
            // `index` lies in (snapshot_index, common_last], which the shadow holds.
            let shadow = self.entries[(index - self.snapshot_index - 1) as usize];
            if storage.term(index)? == shadow.term {
                let stored = storage.entries(index, index + 1, usize::MAX)?;
                if stored.first().map(entry_content) == Some(shadow.content) {
                    break;
                }
            }
            index -= 1;
        }
        Ok(index + 1)
    }

    /// The lowest index in `(snapshot_index, common_last + 1]` from which the stored log and
    /// the shadow differ, comparing every entry.
    fn first_difference_full(&self, storage: &MemStorage, common_last: Index) -> Result<Index, SyncError> {
        let first = self.snapshot_index + 1;
        if common_last < first {
            return Ok(first);
        }
        let stored = storage.entries(first, common_last + 1, usize::MAX)?;
        let mismatch = stored
            .iter()
            .zip(&self.entries)
            .position(|(entry, shadow)| entry.term != shadow.term || entry_content(entry) != shadow.content);
        Ok(match mismatch {
            Some(offset) => first + offset as Index,
            None => common_last + 1,
        })
    }

    /// Appends `entry`, which must have index `last_index() + 1`.
    fn push(&mut self, entry: &Entry) {
        assert_eq!(entry.index, self.last_index() + 1, "shadow log: storage returned a non-contiguous entry");
        let previous = self.chain(self.last_index()).unwrap_or_default();
        let content = entry_content(entry);
        let chain = chain_after(previous, entry.index, content);
        self.entries.push(ShadowEntry { term: entry.term, content, chain });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::message::EntryKind;
    use bytes::Bytes;

    fn entry(index: Index, term: Term, data: &'static [u8]) -> Entry {
        Entry { index, term, kind: EntryKind::Normal, data: Bytes::from_static(data) }
    }

    fn no_snapshot(_: Index, _: Term) -> Option<Fingerprint> {
        None
    }

    #[test]
    fn follows_appends_truncations_and_compaction() {
        let mut storage = MemStorage::new(vec![1]);
        let mut shadow = ShadowLog::default();
        storage.append(&[entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 1, b"c")]);
        let change = shadow.sync(&storage, false, no_snapshot).unwrap();
        assert_eq!(change.appended_from, Some(1));
        assert_eq!(shadow.last_index(), 3);
        let chain_2 = shadow.chain(2).unwrap();

        storage.append(&[entry(3, 2, b"d"), entry(4, 2, b"e")]);
        let change = shadow.sync(&storage, false, no_snapshot).unwrap();
        assert_eq!(change.truncated.map(|t| t.0), Some(3));
        assert_eq!(change.appended_from, Some(3));
        assert_eq!(shadow.chain(2), Some(chain_2));

        storage.create_snapshot(2, Bytes::new()).unwrap();
        let change = shadow.sync(&storage, true, no_snapshot).unwrap();
        assert_eq!(change.snapshot_moved_to, Some(2));
        assert_eq!(change.truncated, None);
        assert_eq!(shadow.chain(2), Some(chain_2));
        assert_eq!(shadow.last_index(), 4);
    }

    #[test]
    fn same_term_different_data_is_a_difference() {
        let mut storage = MemStorage::new(vec![1]);
        let mut shadow = ShadowLog::default();
        storage.append(&[entry(1, 1, b"a"), entry(2, 1, b"b")]);
        shadow.sync(&storage, false, no_snapshot).unwrap();
        storage.append(&[entry(2, 1, b"X")]);
        let change = shadow.sync(&storage, false, no_snapshot).unwrap();
        assert_eq!(change.truncated.map(|t| t.0), Some(2));
    }
}
