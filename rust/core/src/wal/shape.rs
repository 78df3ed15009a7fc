//! The shape of the durable log as the writer tracks it: the snapshot position, the last
//! index and the terms in between, without the entries themselves.

use super::record::Marker;
use crate::raft::message::{Index, Term};

/// Positions and terms of the log `(snapshot_index, last_index]`, enough to apply the
/// snapshot rule and to start a new segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogShape {
    /// The index and term of the snapshot the log starts after; `(0, 0)` when there is none.
    snapshot_index: Index,
    snapshot_term: Term,
    /// Invariant: `last_index >= snapshot_index`.
    last_index: Index,
    /// `(first_index, term)` runs covering `(snapshot_index, last_index]`: ascending first
    /// indexes, the first run starting at `snapshot_index + 1`, neighbouring terms different.
    /// Empty exactly when `last_index == snapshot_index`.
    term_runs: Vec<(Index, Term)>,
}

impl LogShape {
    /// An empty log after the snapshot at `snapshot_index` with `snapshot_term`.
    pub(crate) fn new(snapshot_index: Index, snapshot_term: Term) -> LogShape {
        LogShape { snapshot_index, snapshot_term, last_index: snapshot_index, term_runs: Vec::new() }
    }

    pub(crate) fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    pub(crate) fn last_index(&self) -> Index {
        self.last_index
    }

    /// The marker describing the current state: it starts every new segment.
    pub(crate) fn current_marker(&self) -> Marker {
        Marker { index: self.snapshot_index, term: self.snapshot_term, last_index: self.last_index }
    }

    /// The term of the entry at `index`, for `index` in `[snapshot_index, last_index]`.
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        if index < self.snapshot_index || index > self.last_index {
            return None;
        }
        let run = self.term_runs.partition_point(|&(first, _)| first <= index) - 1;
        Some(self.term_runs[run].1)
    }

    /// Records an entry at `index` with `term`, replacing the log from `index` on.
    ///
    /// # Panics
    /// If `index` is at or below the snapshot or leaves a gap after `last_index` (caller bugs).
    pub(crate) fn append(&mut self, index: Index, term: Term) {
        assert!(
            index > self.snapshot_index && index <= self.last_index + 1,
            "append at {index} to a log of ({}, {}]",
            self.snapshot_index,
            self.last_index
        );
        self.truncate(index - 1);
        if self.term_runs.last().is_none_or(|&(_, last_term)| last_term != term) {
            self.term_runs.push((index, term));
        }
        self.last_index = index;
    }

    /// Drops the entries after `last_index` (`>= snapshot_index`).
    fn truncate(&mut self, last_index: Index) {
        debug_assert!(last_index >= self.snapshot_index);
        if last_index >= self.last_index {
            return;
        }
        let keep = self.term_runs.partition_point(|&(first, _)| first <= last_index);
        self.term_runs.truncate(keep);
        self.last_index = last_index;
    }

    /// The snapshot rule (Raft's InstallSnapshot): for a snapshot at `index` with `term`, the
    /// log after `index` is kept when the log holds `index` with `term`, else the whole log is
    /// dropped. Returns the marker stating the outcome; `apply_marker` carries it out.
    pub(crate) fn marker_for(&self, index: Index, term: Term) -> Marker {
        let keeps_suffix = self.term(index) == Some(term);
        Marker { index, term, last_index: if keeps_suffix { self.last_index } else { index } }
    }

    /// Moves the log start to `marker.index`, keeping `(marker.index, marker.last_index]`.
    ///
    /// # Panics
    /// If the marker does not come from `marker_for` on this shape.
    pub(crate) fn apply_marker(&mut self, marker: Marker) {
        assert!(marker.index > self.snapshot_index, "snapshot {marker:?} not after {}", self.snapshot_index);
        assert!(marker.last_index == marker.index || marker.last_index == self.last_index, "marker {marker:?}");
        if marker.last_index == marker.index {
            self.term_runs.clear();
        } else {
            let first_kept_run = self.term_runs.partition_point(|&(first, _)| first <= marker.index) - 1;
            self.term_runs.drain(..first_kept_run);
            self.term_runs[0].0 = marker.index + 1;
        }
        self.snapshot_index = marker.index;
        self.snapshot_term = marker.term;
        self.last_index = marker.last_index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(terms: &[Term]) -> LogShape {
        let mut s = LogShape::new(0, 0);
        for (offset, &term) in terms.iter().enumerate() {
            s.append(offset as Index + 1, term);
        }
        s
    }

    #[test]
    fn terms_and_overwrites() {
        let mut s = shape(&[1, 1, 2, 2, 3]);
        assert_eq!((1..=5).map(|i| s.term(i).unwrap()).collect::<Vec<_>>(), [1, 1, 2, 2, 3]);
        assert_eq!(s.term(0), Some(0));
        assert_eq!(s.term(6), None);
        s.append(3, 4);
        assert_eq!(s.last_index(), 3);
        assert_eq!(s.term(2), Some(1));
        assert_eq!(s.term(3), Some(4));
    }

    #[test]
    fn snapshot_rule_keeps_a_matching_suffix_else_drops_all() {
        let mut s = shape(&[1, 1, 2, 2, 3]);
        let keep = s.marker_for(3, 2);
        assert_eq!(keep, Marker { index: 3, term: 2, last_index: 5 });
        s.apply_marker(keep);
        assert_eq!((s.term(3), s.term(4), s.term(5), s.term(2)), (Some(2), Some(2), Some(3), None));
        let drop = s.marker_for(4, 9);
        assert_eq!(drop.last_index, 4);
        s.apply_marker(drop);
        assert_eq!((s.snapshot_index(), s.last_index(), s.term(4)), (4, 4, Some(9)));
        let beyond = s.marker_for(10, 9);
        s.apply_marker(beyond);
        assert_eq!(s.current_marker(), Marker { index: 10, term: 9, last_index: 10 });
        s.append(11, 9);
        assert_eq!(s.term(11), Some(9));
    }
}
