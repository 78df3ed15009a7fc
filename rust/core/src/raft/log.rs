//! The Raft log as the state machine sees it: the stable part in `Storage` followed by the
//! unstable part in memory, plus the commit and apply cursors.

use crate::error::StorageError;
use crate::raft::message::{Entry, Index, Snapshot, Term};
use crate::raft::storage::Storage;
use crate::raft::unstable::Unstable;

/// Invariants: `applied <= applying <= committed <= last_index()`;
/// `persisted <= last_index()`; entries `[first_index(), last_index()]` are readable.
pub struct RaftLog<S: Storage> {
    pub storage: S,
    pub unstable: Unstable,
    /// Highest index known committed on a quorum.
    pub committed: Index,
    /// Highest index handed to the application in a `Ready` (being applied).
    pub applying: Index,
    /// Highest index the application reported applied (through `advance`).
    pub applied: Index,
    /// Highest index known durable locally; a leader counts itself at this index.
    pub persisted: Index,
    /// Hand out committed entries only up to `persisted` (pipelined Readies), instead of up
    /// to what was handed out for persisting.
    pub apply_durable_only: bool,
}

impl<S: Storage> RaftLog<S> {
    /// A log over `storage`, which the application has applied up to `applied`.
    pub fn new(storage: S, committed: Index, applied: Index) -> RaftLog<S> {
        let first_index = storage.first_index();
        let last_index = storage.last_index();
        let snapshot_index = first_index - 1;
        // The application applied only committed entries, so `applied` vouches for a commit
        // index too: the one persisted lags (a commit index alone is never written, it is
        // volatile state).
        let committed = committed.max(snapshot_index).max(applied).min(last_index);
        let applied = applied.max(snapshot_index).min(committed);
        RaftLog {
            storage,
            unstable: Unstable::new(last_index + 1),
            committed,
            applying: applied,
            applied,
            persisted: last_index,
            apply_durable_only: false,
        }
    }

    pub fn first_index(&self) -> Index {
        self.unstable.maybe_first_index().unwrap_or_else(|| self.storage.first_index())
    }

    pub fn last_index(&self) -> Index {
        self.unstable.maybe_last_index().unwrap_or_else(|| self.storage.last_index())
    }

    /// The term at `index`, for `index` in `[first_index - 1, last_index]`.
    pub fn term(&self, index: Index) -> Result<Term, StorageError> {
        if let Some(t) = self.unstable.maybe_term(index) {
            return Ok(t);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable { index, last_index: self.last_index() });
        }
        if index < self.first_index() - 1 {
            return Err(StorageError::Compacted { index, first_index: self.first_index() });
        }
        self.storage.term(index)
    }

    /// Term at `index`, or 0 when it is compacted or beyond the log (for hints and checks).
    pub fn term_or_zero(&self, index: Index) -> Term {
        self.term(index).unwrap_or(0)
    }

    pub fn last_term(&self) -> Term {
        self.term_or_zero(self.last_index())
    }

    pub fn match_term(&self, index: Index, term: Term) -> bool {
        self.term(index).is_ok_and(|t| t == term)
    }

    /// A candidate's log at (`last_index`, `last_term`) is at least as up to date as ours
    /// (Raft paper, section 5.4.1).
    pub fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        let our_term = self.last_term();
        last_term > our_term || (last_term == our_term && last_index >= self.last_index())
    }

    /// Appends entries after (`prev_index`, `prev_term`) from a leader with commit `leader_commit`.
    /// `Ok(Some(last new index))`, or `Ok(None)` when the log does not match there.
    /// `Err(index)` when entry `index` would replace a committed entry: no correct leader
    /// sends that, and nothing was changed.
    pub fn maybe_append(
        &mut self,
        prev_index: Index,
        prev_term: Term,
        leader_commit: Index,
        entries: &[Entry],
    ) -> Result<Option<Index>, Index> {
        if !self.match_term(prev_index, prev_term) {
            return Ok(None);
        }
        let last_new = prev_index + entries.len() as Index;
        let conflict = self.find_conflict(entries);
        if conflict != 0 {
            if conflict <= self.committed {
                return Err(conflict);
            }
            let start = (conflict - (prev_index + 1)) as usize;
            self.append(&entries[start..]);
        }
        self.commit_to(leader_commit.min(last_new));
        Ok(Some(last_new))
    }

    /// The index of the first entry of `entries` that is new or conflicts with the log, or 0
    /// when all are already present with the same terms.
    fn find_conflict(&self, entries: &[Entry]) -> Index {
        let last = self.last_index();
        for e in entries {
            if e.index > last || !self.match_term(e.index, e.term) {
                return e.index;
            }
        }
        0
    }

    /// Appends `entries` (contiguous), replacing any suffix from `entries[0].index` on.
    /// Returns the new last index.
    pub fn append(&mut self, entries: &[Entry]) -> Index {
        let Some(first) = entries.first() else { return self.last_index() };
        assert!(first.index > self.committed, "append: {} would overwrite committed {}", first.index, self.committed);
        self.persisted = self.persisted.min(first.index - 1);
        self.unstable.truncate_and_append(entries);
        self.last_index()
    }

    /// Walks back from `index` to the last index whose term is at most `term`: the leader's
    /// and the follower's side of fast backtracking (etcd's findConflictByTerm).
    pub fn find_conflict_by_term(&self, index: Index, term: Term) -> Index {
        let mut i = index.min(self.last_index());
        loop {
            match self.term(i) {
                Ok(t) if t > term && i > 0 => i -= 1,
                _ => return i,
            }
        }
    }

    pub fn commit_to(&mut self, index: Index) {
        if index > self.committed {
            assert!(index <= self.last_index(), "commit_to: {index} beyond last index {}", self.last_index());
            self.committed = index;
        }
    }

    /// Commits `index` if it is of `term` (only entries of the leader's own term are committed
    /// by counting replicas: Raft paper, section 5.4.2).
    pub fn maybe_commit(&mut self, index: Index, term: Term) -> bool {
        if index > self.committed && self.term_or_zero(index) == term {
            self.commit_to(index);
            return true;
        }
        false
    }

    /// Up to `max_count` entries in `[lo, last]`, at most `max_bytes` (at least one entry).
    pub fn entries(&self, lo: Index, max_count: usize, max_bytes: usize) -> Result<Vec<Entry>, StorageError> {
        let last = self.last_index();
        if lo > last {
            return Ok(Vec::new());
        }
        let hi = (last + 1).min(lo.saturating_add(max_count as Index));
        self.slice(lo, hi, max_bytes)
    }

    /// Entries in `[lo, hi)`, at most `max_bytes` (at least one entry when non-empty).
    pub fn slice(&self, lo: Index, hi: Index, max_bytes: usize) -> Result<Vec<Entry>, StorageError> {
        if lo >= hi {
            return Ok(Vec::new());
        }
        if lo < self.first_index() {
            return Err(StorageError::Compacted { index: lo, first_index: self.first_index() });
        }
        let offset = self.unstable.offset;
        let mut out = if lo < offset {
            self.storage.entries(lo, hi.min(offset), max_bytes)?
        } else {
            Vec::with_capacity((hi - lo) as usize)
        };
        if hi > offset && (out.is_empty() || out.last().is_some_and(|e| e.index + 1 == offset)) {
            let mut size_bytes: usize = out.iter().map(Entry::size_bytes).sum();
            for e in self.unstable.slice(lo.max(offset), hi) {
                size_bytes += e.size_bytes();
                if !out.is_empty() && size_bytes > max_bytes {
                    break;
                }
                out.push(e.clone());
            }
        }
        Ok(out)
    }

    /// The latest snapshot: the unstable one being installed, else storage's.
    pub fn snapshot(&self) -> Snapshot {
        match &self.unstable.snapshot {
            Some(s) => s.clone(),
            None => self.storage.snapshot(),
        }
    }

    /// Replaces the log with `snapshot` (a follower installing the leader's snapshot).
    pub fn restore(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        // The snapshot replaces the whole log: of what is durable here, only the committed
        // prefix is known to agree with it (a restored snapshot does not match the local
        // entry at its index, and entries below it may be uncommitted ones of other terms).
        self.persisted = self.persisted.min(self.committed);
        self.committed = index;
        self.unstable.restore(snapshot);
    }

    /// Committed entries not yet handed out, limited to those already handed out for
    /// persisting (so that the caller persists before it applies): at most `max_count`
    /// entries and `max_bytes` (`Entry::size_bytes`), at least one when any is due.
    pub fn next_committed_entries(&self, max_count: usize, max_bytes: usize) -> Vec<Entry> {
        let hi = self.max_appliable_index() + 1;
        let lo = self.applying + 1;
        if lo >= hi || self.unstable.snapshot.is_some() {
            return Vec::new();
        }
        let hi = hi.min(lo + max_count as Index);
        self.slice(lo, hi, max_bytes).unwrap_or_else(|e| panic!("next_committed_entries: [{lo}, {hi}) unreadable: {e}"))
    }

    pub fn has_next_committed_entries(&self) -> bool {
        self.unstable.snapshot.is_none() && self.applying < self.max_appliable_index()
    }

    /// Highest index that may be handed out to apply: committed, and durable or (unless
    /// `apply_durable_only`) handed out for persisting already.
    fn max_appliable_index(&self) -> Index {
        let written = if self.apply_durable_only { self.persisted } else { self.unstable.offset_in_progress - 1 };
        self.committed.min(written)
    }

    pub fn applying_to(&mut self, index: Index) {
        assert!(index <= self.committed, "applying_to: {index} beyond committed {}", self.committed);
        self.applying = self.applying.max(index);
    }

    pub fn applied_to(&mut self, index: Index) {
        self.applied = self.applied.max(index);
        self.applying = self.applying.max(index);
    }

    /// Entries up to (`index`, `term`) are durable.
    pub fn stable_to(&mut self, index: Index, term: Term) {
        if self.unstable.stable_to(index, term) {
            self.persisted = self.persisted.max(index);
        }
    }

    pub fn stable_snap_to(&mut self, index: Index) {
        self.unstable.stable_snap_to(index);
        self.persisted = self.persisted.max(index);
    }
}
