//! Rebuilding the log from its records and the newest valid snapshot file.
//!
//! Records are applied in order, segment after segment:
//!
//! * an entry at index `i` replaces the log from `i` on (entries at or below the snapshot are
//!   skipped; an index past `last_index + 1` is a gap, hence corruption);
//! * a hard state record replaces the hard state;
//! * a snapshot marker `(index, term, last_index)` moves the log start to `index` and keeps
//!   `(index, last_index]`: the writer applied the snapshot rule and recorded its outcome.
//!
//! The first segment still present may follow deleted ones. Its starting marker says the log
//! held `(index, last_index]` then; those entries were in the deleted segments, so they form a
//! *hole* of unknown entries that a later marker must cover (segments are only deleted once a
//! snapshot covers all their entries). Every later segment's starting records must equal the
//! state replayed so far. Finally the chosen snapshot file is applied with the snapshot rule:
//! recovery writes its marker when the records lack it, so records and files agree again.

use super::error::Corruption;
use super::record::{Marker, Record};
use super::segment::LocatedRecord;
use crate::raft::message::{Entry, HardState, Index, Snapshot, Term};

/// Records at the start of every segment: the hard state and the snapshot marker.
pub(crate) const SEGMENT_START_RECORDS: usize = 2;

/// The log as replayed so far.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    hard_state: HardState,
    snapshot_index: Index,
    snapshot_term: Term,
    /// Entries `(snapshot_index, hole_end]` were in deleted segments and are unknown.
    /// Invariant: `hole_end >= snapshot_index`.
    hole_end: Index,
    /// The entries `(hole_end, last_index]`, contiguous.
    entries: Vec<Entry>,
}

/// The outcome of a whole replay.
#[derive(Debug)]
pub(crate) struct Replayed {
    /// The last hard state record, as written (its commit not raised to the snapshot).
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    pub snapshot_index: Index,
    pub snapshot_term: Term,
    /// Contiguous, starting at `snapshot_index + 1`.
    pub entries: Vec<Entry>,
    /// The marker still to write for `snapshot`, when the records do not cover it yet.
    pub pending_marker: Option<Marker>,
}

impl Replay {
    fn last_index(&self) -> Index {
        self.hole_end + self.entries.len() as Index
    }

    fn current_marker(&self) -> Marker {
        Marker { index: self.snapshot_index, term: self.snapshot_term, last_index: self.last_index() }
    }

    /// Applies the records of one segment; `is_first` for the oldest segment present. Returns
    /// the largest entry index the segment holds (0 if none). Errors carry the record offset.
    pub(crate) fn replay_segment(
        &mut self,
        records: &[LocatedRecord],
        is_first: bool,
    ) -> Result<Index, (u64, Corruption)> {
        let (start_offset, start) = match records {
            [(offset, Record::HardState(hs)), (_, Record::Marker(marker)), ..] => (*offset, (*hs, *marker)),
            _ => return Err((records.first().map_or(0, |r| r.0), Corruption::MissingSegmentStart)),
        };
        if is_first {
            let (hard_state, marker) = start;
            self.hard_state = hard_state;
            (self.snapshot_index, self.snapshot_term, self.hole_end) = (marker.index, marker.term, marker.last_index);
        } else if start != (self.hard_state, self.current_marker()) {
            return Err((start_offset, Corruption::SegmentStartMismatch));
        }
        let mut max_entry_index = 0;
        for (offset, record) in &records[SEGMENT_START_RECORDS..] {
            let applied = match record {
                Record::Entry(entry) => {
                    max_entry_index = max_entry_index.max(entry.index);
                    self.apply_entry(entry)
                }
                Record::HardState(hs) => {
                    self.hard_state = *hs;
                    Ok(())
                }
                Record::Marker(marker) => self.apply_marker(marker),
                // `scan_segment` keeps sync marks out of the records it returns.
                Record::SyncMark { .. } => Ok(()),
            };
            applied.map_err(|problem| (*offset, problem))?;
        }
        Ok(max_entry_index)
    }

    fn apply_entry(&mut self, entry: &Entry) -> Result<(), Corruption> {
        if entry.index <= self.snapshot_index {
            return Ok(());
        }
        let last_index = self.last_index();
        if entry.index > last_index + 1 {
            return Err(Corruption::IndexGap { expected: last_index + 1, found: entry.index });
        }
        self.truncate(entry.index - 1);
        self.entries.push(entry.clone());
        Ok(())
    }

    fn apply_marker(&mut self, marker: &Marker) -> Result<(), Corruption> {
        if marker.index <= self.snapshot_index {
            return Err(Corruption::MarkerOutOfOrder { index: marker.index, snapshot_index: self.snapshot_index });
        }
        if marker.last_index == marker.index {
            // The whole log was dropped; the snapshot may lie beyond it.
            self.entries.clear();
            self.hole_end = marker.index;
        } else {
            let last_index = self.last_index();
            if marker.last_index > last_index {
                return Err(Corruption::MarkerBeyondLog { kept_last_index: marker.last_index, last_index });
            }
            self.truncate(marker.last_index);
        }
        self.drop_through(marker.index, marker.term);
        Ok(())
    }

    /// Drops the log up to and including `index` (`<= last_index`), which becomes the snapshot.
    fn drop_through(&mut self, index: Index, term: Term) {
        if index >= self.hole_end {
            self.entries.drain(..(index - self.hole_end) as usize);
            self.hole_end = index;
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Drops the entries after `last_index` (`>= snapshot_index`).
    fn truncate(&mut self, last_index: Index) {
        if last_index < self.hole_end {
            self.entries.clear();
            self.hole_end = last_index;
        } else {
            self.entries.truncate((last_index - self.hole_end) as usize);
        }
    }

    fn term(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        let position = index.checked_sub(self.hole_end + 1)?;
        self.entries.get(usize::try_from(position).ok()?).map(|e| e.term)
    }

    /// Ends the replay with `snapshot`, the newest valid snapshot file. Fails when deleted
    /// entries are not covered, or when the log refers to a snapshot newer than any valid file.
    /// A file newer than the log's last marker (a crash came before its marker was durable)
    /// is returned with the marker the snapshot rule gives it, to be written before use.
    pub(crate) fn finish(self, snapshot: Option<Snapshot>) -> Result<Replayed, Corruption> {
        if self.hole_end > self.snapshot_index {
            return Err(Corruption::MissingEntries { first: self.snapshot_index + 1, last: self.hole_end });
        }
        let file_index = snapshot.as_ref().map_or(0, |s| s.meta.index);
        if file_index < self.snapshot_index {
            return Err(Corruption::MissingSnapshot { index: self.snapshot_index });
        }
        let mut pending_marker = None;
        if let Some(snapshot) = &snapshot {
            let (index, term) = (snapshot.meta.index, snapshot.meta.term);
            if index == self.snapshot_index && term != self.snapshot_term {
                return Err(Corruption::SnapshotTermMismatch { file_term: term, marker_term: self.snapshot_term });
            }
            if index > self.snapshot_index {
                let keeps_suffix = self.term(index) == Some(term);
                pending_marker =
                    Some(Marker { index, term, last_index: if keeps_suffix { self.last_index() } else { index } });
            }
        }
        Ok(Replayed {
            hard_state: self.hard_state,
            snapshot,
            snapshot_index: self.snapshot_index,
            snapshot_term: self.snapshot_term,
            entries: self.entries,
            pending_marker,
        })
    }
}
