//! The durable write-ahead log against real files in temporary directories, with real fsync:
//! round trips against an in-memory model, torn tails at every byte, bit flips, crashes around
//! a snapshot rename, segment rolling and deletion, and size limits.

use bytes::Bytes;
use proptest::prelude::*;
use senate_core::wal::{
    Corruption, SnapshotFile, ENTRY_FIELDS_BYTES, PREALLOCATE_STEP_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
    SYNC_MARK_RECORD_BYTES,
};
use senate_core::{
    ConfState, Entry, EntryKind, HardState, Index, MemStorage, ProtocolId, Recovered, Snapshot, SnapshotMeta, Storage,
    Term, Wal, WalError, WalOptions, WriteBatch,
};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

// ---- helpers ----

/// Small segments, so that a handful of entries rolls several times.
const SMALL_SEGMENT_BYTES: u64 = 512;

fn ent(index: Index, term: Term) -> Entry {
    // Payload length varies with the index so that records have different sizes.
    let data = Bytes::from(vec![index as u8; (index % 7) as usize * 5]);
    let kind = if index.is_multiple_of(11) { EntryKind::NoOp } else { EntryKind::Normal };
    let data = if kind == EntryKind::NoOp { Bytes::new() } else { data };
    Entry { index, term, kind, data }
}

fn ents(range: std::ops::RangeInclusive<Index>, term: Term) -> Vec<Entry> {
    range.map(|i| ent(i, term)).collect()
}

fn snap(index: Index, term: Term) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta { index, term, conf_state: ConfState::from_voters(vec![1, 2, 3]) },
        data: Bytes::from(format!("state at {index}")),
    }
}

fn hs(term: Term, vote: u64, commit: Index) -> HardState {
    HardState::new(term, vote, commit)
}

/// Options for tests that reopen a log while the "crashed" handle still exists. Segments
/// grow by appending, so that a file's length is its records' (the byte-layout tests cut and
/// flip bytes by file length); `preallocated` tests the default.
fn unlocked() -> WalOptions {
    WalOptions { lock_dir: false, preallocate: false, ..WalOptions::default() }
}

fn small_segments() -> WalOptions {
    WalOptions { max_segment_bytes: SMALL_SEGMENT_BYTES, ..unlocked() }
}

/// `unlocked` with segment files allocated ahead (the default of `WalOptions`).
fn preallocated(max_segment_bytes: u64) -> WalOptions {
    WalOptions { max_segment_bytes, preallocate: true, ..unlocked() }
}

fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Where the records of a preallocated segment end: the first all-zero record header (a
/// record's last bytes may be zeros, so the last non-zero byte does not tell).
fn records_end(file: &[u8]) -> usize {
    let mut start = SEGMENT_HEADER_BYTES;
    while start + RECORD_HEADER_BYTES <= file.len() && file[start..start + RECORD_HEADER_BYTES].iter().any(|&b| b != 0)
    {
        let payload_bytes = u64::from_le_bytes(file[start + 4..start + 12].try_into().unwrap()) as usize;
        start += RECORD_HEADER_BYTES + payload_bytes;
    }
    start
}

fn open(dir: &Path, options: &WalOptions) -> (Wal, Recovered) {
    Wal::open(dir, options.clone()).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

fn reopened(dir: &Path, options: &WalOptions) -> Recovered {
    open(dir, options).1
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "wal")
}

fn copy_dir(from: &Path) -> TempDir {
    let to = TempDir::new().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.path().join(path.file_name().unwrap())).unwrap();
    }
    to
}

/// The record offsets of a segment file, read with the documented layout:
/// `payload_bytes` is the u64 LE at offset 4 of each record header.
fn record_offsets(file: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut start = SEGMENT_HEADER_BYTES;
    while start < file.len() {
        offsets.push(start);
        let payload_bytes = u64::from_le_bytes(file[start + 4..start + 12].try_into().unwrap()) as usize;
        start += RECORD_HEADER_BYTES + payload_bytes;
    }
    assert_eq!(start, file.len(), "records fill the file");
    offsets
}

/// Whether the record at `offset` of a segment file is a sync mark (record type 4, at byte 17
/// of the header).
fn is_sync_mark(file: &[u8], offset: usize) -> bool {
    file[offset + 17] == 4
}

/// Where the records of a write start that follows a synced write: after its sync mark.
fn after_sync_mark(before_bytes: u64) -> u64 {
    before_bytes + SYNC_MARK_RECORD_BYTES as u64
}

fn entry_record_bytes(entry: &Entry) -> u64 {
    (RECORD_HEADER_BYTES + ENTRY_FIELDS_BYTES + entry.data.len()) as u64
}

/// The entries of `batch`, written from byte `start` on, whose records end at or before `cut`.
fn entries_wholly_before(batch: &[Entry], start: u64, cut: u64) -> Vec<Entry> {
    let mut end = start;
    batch
        .iter()
        .take_while(|e| {
            end += entry_record_bytes(e);
            end <= cut
        })
        .cloned()
        .collect()
}

/// Opens the crashed copy in `dir`, checks it recovered `expected`, then checks that a write
/// after the recovery is recovered too.
fn recovers_then_takes_a_write(dir: &Path, options: &WalOptions, mut expected: Model, what: &str) {
    let (mut wal, recovered) = open(dir, options);
    assert_eq!(recovered, expected.expected(), "{what}");
    let next = expected.last_index() + 1;
    wal.write(None, &[ent(next, 3)], Some(hs(3, 3, 1))).unwrap();
    expected.write(None, &[ent(next, 3)], Some(hs(3, 3, 1)));
    drop(wal);
    assert_eq!(reopened(dir, options), expected.expected(), "{what}, then a write");
}

/// A record header with a valid header checksum stating `payload_bytes`, per the documented
/// layout; the body checksum is arbitrary, the protocol Raft's and the type an entry's.
fn crafted_header(payload_bytes: u64) -> Vec<u8> {
    let mut fields = payload_bytes.to_le_bytes().to_vec();
    fields.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
    let mut header = crc32c::crc32c(&fields).to_le_bytes().to_vec();
    header.extend_from_slice(&fields);
    header.push(ProtocolId::Raft.tag());
    header.push(1);
    assert_eq!(header.len(), RECORD_HEADER_BYTES);
    header
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut contents = std::fs::read(path).unwrap();
    contents.extend_from_slice(bytes);
    std::fs::write(path, contents).unwrap();
}

fn expect_corrupt(dir: &Path, options: &WalOptions) -> (PathBuf, u64, Corruption) {
    match Wal::open(dir, options.clone()) {
        Err(WalError::Corrupt { path, offset, problem }) => (path, offset, problem),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok((_, recovered)) => panic!("expected Corrupt, opened with {} entries", recovered.entries.len()),
    }
}

// ---- the model ----

/// What a correct log holds: `MemStorage` for the entries (append, and the snapshot rule via
/// `create_snapshot` when the log holds the snapshot's entry, `apply_snapshot` otherwise).
#[derive(Clone, Debug)]
struct Model {
    storage: MemStorage,
    hard_state: HardState,
    snapshot: Option<Snapshot>,
}

impl Model {
    fn new() -> Model {
        Model { storage: MemStorage::new(vec![1, 2, 3]), hard_state: HardState::default(), snapshot: None }
    }

    fn write(&mut self, snapshot: Option<&Snapshot>, entries: &[Entry], hard_state: Option<HardState>) {
        if let Some(s) = snapshot {
            if self.storage.term(s.meta.index) == Ok(s.meta.term) {
                self.storage.create_snapshot(s.meta.index, s.data.clone()).unwrap();
            } else {
                self.storage.apply_snapshot(s.clone()).unwrap();
            }
            self.snapshot = Some(s.clone());
        }
        self.storage.append(entries);
        if let Some(h) = hard_state {
            self.hard_state = h;
        }
    }

    fn last_index(&self) -> Index {
        self.storage.last_index()
    }

    fn snapshot_index(&self) -> Index {
        self.storage.first_index() - 1
    }

    fn term(&self, index: Index) -> Option<Term> {
        self.storage.term(index).ok()
    }

    fn expected(&self) -> Recovered {
        let mut hard_state = self.hard_state;
        hard_state.commit = hard_state.commit.max(self.snapshot_index());
        let entries = self.storage.entries(self.storage.first_index(), self.last_index() + 1, usize::MAX).unwrap();
        Recovered { hard_state, snapshot: self.snapshot.clone(), entries }
    }
}

/// Writes through both the log and the model.
fn write_both(
    wal: &mut Wal,
    model: &mut Model,
    snapshot: Option<&Snapshot>,
    entries: &[Entry],
    hard_state: Option<HardState>,
) {
    wal.write(snapshot, entries, hard_state).unwrap();
    model.write(snapshot, entries, hard_state);
}

fn compact_both(wal: &mut Wal, model: &mut Model, snapshot: &Snapshot) {
    wal.compact(snapshot).unwrap();
    model.write(Some(snapshot), &[], None);
}

// ---- round trips ----

#[test]
fn a_new_log_recovers_empty() {
    let dir = TempDir::new().unwrap();
    let (wal, recovered) = open(dir.path(), &unlocked());
    assert_eq!(recovered, Recovered::default());
    let stats = wal.stats();
    assert_eq!((stats.segment_count, stats.first_index, stats.last_index), (1, 1, 0));
    drop(wal);
    assert_eq!(reopened(dir.path(), &unlocked()), Recovered::default());
}

#[test]
fn round_trip_of_batches_overwrites_hard_states_and_snapshots() {
    let dir = TempDir::new().unwrap();
    let options = unlocked();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=5, 1), Some(hs(1, 1, 0)));
    write_both(&mut wal, &mut model, None, &ents(6..=9, 1), Some(hs(1, 1, 4)));
    // A new leader replaces the suffix from 7 on.
    write_both(&mut wal, &mut model, None, &ents(7..=8, 2), Some(hs(2, 2, 6)));
    assert_eq!(reopened(dir.path(), &options), model.expected());
    // A local snapshot at 6 keeps 7..=8; a received snapshot at 10 drops the whole log.
    compact_both(&mut wal, &mut model, &snap(6, 1));
    assert_eq!(reopened(dir.path(), &options), model.expected());
    write_both(&mut wal, &mut model, Some(&snap(10, 3)), &ents(11..=12, 3), Some(hs(3, 0, 10)));
    let expected = model.expected();
    assert_eq!(expected.entries.first().map(|e| e.index), Some(11));
    assert_eq!(reopened(dir.path(), &options), expected);
    // A received snapshot matching an entry keeps the entries after it.
    write_both(&mut wal, &mut model, None, &ents(13..=15, 3), None);
    write_both(&mut wal, &mut model, Some(&snap(13, 3)), &[], Some(hs(3, 0, 13)));
    let expected = model.expected();
    assert_eq!(expected.entries.iter().map(|e| e.index).collect::<Vec<_>>(), [14, 15]);
    drop(wal);
    let (mut wal, recovered) = open(dir.path(), &options);
    assert_eq!(recovered, expected);
    // Writing goes on after a reopen.
    write_both(&mut wal, &mut model, None, &ents(16..=16, 3), None);
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn one_fsync_per_write() {
    let dir = TempDir::new().unwrap();
    let (mut wal, _) = open(dir.path(), &unlocked());
    let before = wal.stats().fsync_count;
    wal.write(None, &ents(1..=64, 1), Some(hs(1, 1, 0))).unwrap();
    assert_eq!(wal.stats().fsync_count, before + 1);
    wal.write(None, &[], None).unwrap();
    assert_eq!(wal.stats().fsync_count, before + 1, "an empty write syncs nothing");
}

#[test]
fn a_group_of_batches_is_one_fsync_and_recovers_as_the_batches_one_by_one() {
    for options in [unlocked(), small_segments(), preallocated(SMALL_SEGMENT_BYTES)] {
        let dir = TempDir::new().unwrap();
        let (mut wal, _) = open(dir.path(), &options);
        let (first, replaced, snapshot, after) = (ents(1..=9, 1), ents(7..=8, 2), snap(10, 3), ents(11..=12, 3));
        let group = [
            WriteBatch { snapshot: None, entries: &first, hard_state: Some(hs(1, 1, 0)), sync: true },
            // Only the commit index moved: this batch alone would skip the fsync.
            WriteBatch { snapshot: None, entries: &[], hard_state: Some(hs(1, 1, 4)), sync: false },
            // A new leader replaces the suffix from 7 on.
            WriteBatch { snapshot: None, entries: &replaced, hard_state: Some(hs(2, 2, 6)), sync: true },
        ];
        let before = wal.stats().fsync_count;
        wal.write_group(&group).unwrap();
        if options.max_segment_bytes > SMALL_SEGMENT_BYTES {
            assert_eq!(wal.stats().fsync_count, before + 1, "one fsync for the group");
        }
        let mut model = Model::new();
        for batch in &group {
            model.write(batch.snapshot, batch.entries, batch.hard_state);
        }
        assert_eq!(reopened(dir.path(), &options), model.expected());
        // A group holding a received snapshot drops the log below it.
        let group = [
            WriteBatch { snapshot: Some(&snapshot), entries: &[], hard_state: Some(hs(3, 0, 10)), sync: true },
            WriteBatch { snapshot: None, entries: &after, hard_state: None, sync: true },
        ];
        wal.write_group(&group).unwrap();
        for batch in &group {
            model.write(batch.snapshot, batch.entries, batch.hard_state);
        }
        let expected = model.expected();
        assert_eq!(expected.entries.iter().map(|e| e.index).collect::<Vec<_>>(), [11, 12]);
        assert_eq!(reopened(dir.path(), &options), expected);
        // A group of commit-only hard states is not synced (unless a segment rolls).
        let synced = wal.stats().fsync_count;
        let group = [WriteBatch { snapshot: None, entries: &[], hard_state: Some(hs(3, 0, 11)), sync: false }];
        wal.write_group(&group).unwrap();
        if options.max_segment_bytes > SMALL_SEGMENT_BYTES {
            assert_eq!(wal.stats().fsync_count, synced, "a group that promises nothing was fsynced");
        }
    }
}

#[test]
fn entries_at_or_below_the_snapshot_are_skipped() {
    let dir = TempDir::new().unwrap();
    let options = unlocked();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=4, 1), None);
    compact_both(&mut wal, &mut model, &snap(3, 1));
    write_both(&mut wal, &mut model, None, &ents(2..=6, 1), None);
    assert_eq!(reopened(dir.path(), &options), model.expected());
    assert!(matches!(wal.compact(&snap(3, 1)), Err(WalError::SnapshotOutOfDate { index: 3, current: 3 })));
}

#[derive(Clone, Debug)]
enum Op {
    /// Append `count` entries starting `back` entries before the end, in a new term if `new_term`.
    Append {
        back: u64,
        count: u64,
        new_term: bool,
    },
    HardState {
        vote: u64,
    },
    /// Compact at `back` entries before the end.
    Compact {
        back: u64,
    },
    /// Install a received snapshot `ahead` entries past the end (or at it), matching the log's
    /// term there when `matching`.
    Install {
        back: u64,
        ahead: u64,
        matching: bool,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4u64, 1..6u64, any::<bool>()).prop_map(|(back, count, new_term)| Op::Append { back, count, new_term }),
        1 => (0..4u64).prop_map(|vote| Op::HardState { vote }),
        1 => (0..4u64).prop_map(|back| Op::Compact { back }),
        1 => (0..3u64, 0..3u64, any::<bool>()).prop_map(|(back, ahead, matching)| Op::Install { back, ahead, matching }),
        1 => Just(Op::Reopen),
    ]
}

fn run_op(dir: &Path, options: &WalOptions, wal: &mut Wal, model: &mut Model, term: &mut Term, op: &Op) {
    let last = model.last_index();
    let first_allowed = model.snapshot_index() + 1;
    match *op {
        Op::Append { back, count, new_term } => {
            *term += u64::from(new_term);
            let from = last.saturating_sub(back).max(first_allowed);
            let batch: Vec<Entry> = (from..from + count).map(|i| ent(i, *term)).collect();
            write_both(wal, model, None, &batch, Some(hs(*term, 1, model.hard_state.commit)));
        }
        Op::HardState { vote } => write_both(wal, model, None, &[], Some(hs(*term, vote, last))),
        Op::Compact { back } => {
            let index = last.saturating_sub(back);
            if index >= first_allowed {
                compact_both(wal, model, &snap(index, model.term(index).unwrap()));
            }
        }
        Op::Install { back, ahead, matching } => {
            let index = (last + ahead).saturating_sub(back);
            if index >= first_allowed {
                let snapshot_term = match model.term(index) {
                    Some(t) if matching => t,
                    _ => {
                        *term += 1;
                        *term
                    }
                };
                let h = hs(*term, 0, index);
                write_both(wal, model, Some(&snap(index, snapshot_term)), &[], Some(h));
            }
        }
        Op::Reopen => {
            let (new_wal, recovered) = open(dir, options);
            *wal = new_wal;
            assert_eq!(recovered, model.expected());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    /// Under either protocol tag; a log of one protocol is refused by the other at its first
    /// record.
    #[test]
    fn random_operations_match_the_model(
        ops in proptest::collection::vec(op(), 1..30),
        preallocate in any::<bool>(),
        protocol in prop_oneof![Just(ProtocolId::Raft), Just(ProtocolId::Paxos)],
    ) {
        let dir = TempDir::new().unwrap();
        let options = WalOptions { preallocate, protocol, ..small_segments() };
        let (mut wal, _) = open(dir.path(), &options);
        let mut model = Model::new();
        let mut term = 1;
        for op in &ops {
            run_op(dir.path(), &options, &mut wal, &mut model, &mut term, op);
            let stats = wal.stats();
            prop_assert_eq!((stats.snapshot_index, stats.last_index), (model.snapshot_index(), model.last_index()));
            prop_assert_eq!(stats.segment_count, segment_files(dir.path()).len());
        }
        drop(wal);
        prop_assert_eq!(reopened(dir.path(), &options), model.expected());
        let other = if protocol == ProtocolId::Raft { ProtocolId::Paxos } else { ProtocolId::Raft };
        let (path, offset, problem) = expect_corrupt(dir.path(), &WalOptions { protocol: other, ..options.clone() });
        prop_assert_eq!(problem, Corruption::WrongProtocol { found: protocol, expected: other });
        prop_assert_eq!((path, offset), (segment_files(dir.path())[0].clone(), SEGMENT_HEADER_BYTES as u64));
        prop_assert_eq!(reopened(dir.path(), &options), model.expected(), "the refused open changed nothing");
    }
}

// ---- torn tails ----

#[test]
fn a_cut_at_every_byte_of_the_last_write_recovers_every_acknowledged_batch() {
    let dir = TempDir::new().unwrap();
    let options = unlocked();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=6, 1), Some(hs(1, 1, 2)));
    compact_both(&mut wal, &mut model, &snap(2, 1));
    write_both(&mut wal, &mut model, None, &ents(7..=8, 1), Some(hs(1, 1, 5)));
    let acknowledged = model.clone();
    let segment = segment_files(dir.path()).pop().unwrap();
    let before_bytes = std::fs::metadata(&segment).unwrap().len();
    // The last write overwrites from 6 on in a new term and moves the hard state.
    let last_batch = ents(6..=10, 2);
    let last_hard_state = hs(2, 2, 6);
    write_both(&mut wal, &mut model, None, &last_batch, Some(last_hard_state));
    drop(wal);
    let after_bytes = std::fs::metadata(&segment).unwrap().len();

    for cut in before_bytes..after_bytes {
        let copy = copy_dir(dir.path());
        let cut_segment = copy.path().join(segment.file_name().unwrap());
        std::fs::OpenOptions::new().write(true).open(&cut_segment).unwrap().set_len(cut).unwrap();
        // The entry records wholly before the cut survive; the hard state is the last record.
        let mut expected = acknowledged.clone();
        expected.write(None, &entries_wholly_before(&last_batch, after_sync_mark(before_bytes), cut), None);
        let (wal, recovered) = open(copy.path(), &options);
        drop(wal);
        assert_eq!(recovered, expected.expected(), "cut at {cut}");
        assert!(std::fs::metadata(&cut_segment).unwrap().len() <= cut, "torn tail truncated");
        recovers_then_takes_a_write(copy.path(), &options, expected, &format!("cut at {cut}"));
    }
}

#[test]
fn a_zero_filled_tail_is_cut() {
    let dir = TempDir::new().unwrap();
    let options = unlocked();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=3, 1), Some(hs(1, 1, 1)));
    drop(wal);
    let segment = segment_files(dir.path()).pop().unwrap();
    let good_bytes = std::fs::metadata(&segment).unwrap().len();
    append_bytes(&segment, &[0; 4096]);
    let (mut wal, recovered) = open(dir.path(), &options);
    assert_eq!(recovered, model.expected());
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), good_bytes);
    write_both(&mut wal, &mut model, None, &ents(4..=4, 1), None);
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn a_checksum_failure_of_the_final_record_is_a_torn_tail() {
    let dir = TempDir::new().unwrap();
    let options = unlocked();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=3, 1), None);
    let acknowledged = model.clone();
    write_both(&mut wal, &mut model, None, &ents(4..=4, 1), None);
    drop(wal);
    let segment = segment_files(dir.path()).pop().unwrap();
    let mut contents = std::fs::read(&segment).unwrap();
    *contents.last_mut().unwrap() ^= 0x01;
    std::fs::write(&segment, &contents).unwrap();
    assert_eq!(reopened(dir.path(), &options), acknowledged.expected());
}

// ---- preallocated segments ----

#[test]
fn a_preallocated_segment_is_allocated_whole_and_written_in_place() {
    let dir = TempDir::new().unwrap();
    let options = preallocated(1 << 20);
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=5, 1), Some(hs(1, 1, 3)));
    write_both(&mut wal, &mut model, None, &ents(6..=9, 1), Some(hs(1, 1, 7)));
    let segment = segment_files(dir.path()).pop().unwrap();
    assert_eq!(file_bytes(&segment), 1 << 20, "the segment is allocated to max_segment_bytes");
    drop(wal);
    let (mut wal, recovered) = open(dir.path(), &options);
    assert_eq!(recovered, model.expected());
    assert_eq!(file_bytes(&segment), 1 << 20, "recovery keeps a zero tail it allocated");
    write_both(&mut wal, &mut model, None, &ents(10..=12, 1), None);
    drop(wal);
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn a_large_segment_is_allocated_a_step_at_a_time() {
    let dir = TempDir::new().unwrap();
    let options = preallocated(64 << 20);
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=2, 1), None);
    let segment = segment_files(dir.path()).pop().unwrap();
    assert_eq!(file_bytes(&segment), PREALLOCATE_STEP_BYTES, "an idle log holds one step");
    let big = |index| Entry { index, term: 1, kind: EntryKind::Normal, data: Bytes::from(vec![7; 1 << 20]) };
    let batch: Vec<Entry> = (3..=7).map(big).collect();
    write_both(&mut wal, &mut model, None, &batch, Some(hs(1, 1, 7)));
    assert_eq!(file_bytes(&segment), 2 * PREALLOCATE_STEP_BYTES, "the next step is allocated when needed");
    drop(wal);
    assert_eq!(reopened(dir.path(), &options), model.expected());
    assert_eq!(file_bytes(&segment), 2 * PREALLOCATE_STEP_BYTES);
}

#[test]
fn a_crash_at_every_byte_of_the_last_write_into_a_preallocated_segment_loses_nothing_acknowledged() {
    // A crash during a write into allocated space leaves a prefix of the write and zeros
    // after it (the file's length does not change).
    let dir = TempDir::new().unwrap();
    let options = preallocated(1 << 16);
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=4, 1), Some(hs(1, 1, 2)));
    let acknowledged = model.clone();
    let segment = segment_files(dir.path()).pop().unwrap();
    let before = std::fs::read(&segment).unwrap();
    let before_bytes = records_end(&before);
    let last_batch = ents(3..=6, 2);
    write_both(&mut wal, &mut model, None, &last_batch, Some(hs(2, 2, 3)));
    drop(wal);
    let after = std::fs::read(&segment).unwrap();
    let after_bytes = records_end(&after);
    assert!(after_bytes > before_bytes);

    for cut in before_bytes..after_bytes {
        let copy = copy_dir(dir.path());
        let crashed = copy.path().join(segment.file_name().unwrap());
        let mut contents = after.clone();
        contents[cut..after_bytes].fill(0);
        std::fs::write(&crashed, &contents).unwrap();
        // A record whose own last bytes are zeros survives a crash inside them whole.
        let wholly_written = after[cut..after_bytes].iter().all(|&b| b == 0);
        let mut expected = if wholly_written { model.clone() } else { acknowledged.clone() };
        if !wholly_written {
            let start = after_sync_mark(before_bytes as u64);
            expected.write(None, &entries_wholly_before(&last_batch, start, cut as u64), None);
        }
        recovers_then_takes_a_write(copy.path(), &options, expected, &format!("crash at {cut}"));
    }
}

#[test]
fn a_torn_tail_in_a_preallocated_segment_is_zeroed_so_it_cannot_return() {
    let dir = TempDir::new().unwrap();
    let options = preallocated(1 << 16);
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=3, 1), None);
    drop(wal);
    let segment = segment_files(dir.path()).pop().unwrap();
    let mut contents = std::fs::read(&segment).unwrap();
    let end = records_end(&contents);
    // Half a record's worth of stale bytes after the last record: a torn write.
    contents[end..end + 9].fill(0xab);
    std::fs::write(&segment, &contents).unwrap();
    let (mut wal, recovered) = open(dir.path(), &options);
    assert_eq!(recovered, model.expected());
    let healed = std::fs::read(&segment).unwrap();
    assert_eq!(healed.len() as u64, 1 << 16, "allocated again after the cut");
    assert!(healed[end..].iter().all(|&b| b == 0), "the torn bytes are gone");
    // A short record written over where the torn bytes were recovers whole.
    write_both(&mut wal, &mut model, None, &[], Some(hs(1, 2, 3)));
    drop(wal);
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn rolled_preallocated_segments_are_trimmed_to_their_records() {
    let dir = TempDir::new().unwrap();
    let options = preallocated(SMALL_SEGMENT_BYTES);
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    for index in 1..=30 {
        write_both(&mut wal, &mut model, None, &[ent(index, 1)], Some(hs(1, 1, index)));
    }
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 3, "rolled into {} segments", segments.len());
    for old in &segments[..segments.len() - 1] {
        record_offsets(&std::fs::read(old).unwrap()); // asserts the records fill the file
    }
    assert_eq!(file_bytes(segments.last().unwrap()), SMALL_SEGMENT_BYTES);
    drop(wal);
    assert_eq!(reopened(dir.path(), &options), model.expected());
    // The same directory opened without preallocation: the zero tail is cut, nothing lost.
    assert_eq!(reopened(dir.path(), &small_segments()), model.expected());
    record_offsets(&std::fs::read(segments.last().unwrap()).unwrap());
}

#[test]
fn a_bit_flip_before_the_zero_tail_of_a_preallocated_segment_is_corruption() {
    let dir = TempDir::new().unwrap();
    let options = preallocated(1 << 16);
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=3, 1), None);
    write_both(&mut wal, &mut model, None, &ents(4..=6, 1), None);
    // Its sync mark proves the write before durable.
    write_both(&mut wal, &mut model, None, &ents(7..=7, 1), None);
    drop(wal);
    let segment = segment_files(dir.path()).pop().unwrap();
    let mut contents = std::fs::read(&segment).unwrap();
    let offsets = record_offsets(&contents[..records_end(&contents)]);
    let victim = offsets[offsets.len() - 5]; // entry 4: entries 5, 6, a mark and 7 follow it
    contents[victim + RECORD_HEADER_BYTES + 2] ^= 0x10;
    std::fs::write(&segment, &contents).unwrap();
    let (path, offset, _) = expect_corrupt(dir.path(), &options);
    assert_eq!((path, offset), (segment, victim as u64));
}

// ---- corruption ----

#[test]
fn a_bit_flip_in_any_record_but_the_tail_is_corruption_naming_file_and_offset() {
    let dir = TempDir::new().unwrap();
    let options = small_segments();
    let (mut wal, _) = open(dir.path(), &options);
    for index in 1..=12 {
        wal.write(None, &[ent(index, 1)], Some(hs(1, 1, index - 1))).unwrap();
    }
    drop(wal);
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 3, "the test needs several segments, got {}", segments.len());
    for (position, segment) in segments.iter().enumerate() {
        let original = std::fs::read(segment).unwrap();
        let offsets = record_offsets(&original);
        let is_last = position + 1 == segments.len();
        // Every byte, except those of the last segment's last write (a torn tail): from its
        // sync mark on (no mark: the segment holds one write after its starting records).
        let last_mark = offsets.iter().rev().find(|&&offset| is_sync_mark(&original, offset));
        let end = if is_last { last_mark.copied().unwrap_or(0) } else { original.len() };
        for byte in 0..end {
            let mut damaged = original.clone();
            damaged[byte] ^= 1 << (byte % 8);
            std::fs::write(segment, &damaged).unwrap();
            let (path, offset, problem) = expect_corrupt(dir.path(), &options);
            let record_start = offsets.iter().rev().find(|&&o| o <= byte).map_or(0, |&o| o as u64);
            assert_eq!((&path, offset), (segment, record_start), "flip in byte {byte}: {problem}");
        }
        std::fs::write(segment, &original).unwrap();
    }
    assert_eq!(reopened(dir.path(), &options).entries.len(), 12);
}

#[test]
fn a_missing_middle_segment_is_corruption() {
    let dir = TempDir::new().unwrap();
    let options = small_segments();
    let (mut wal, _) = open(dir.path(), &options);
    wal.write(None, &ents(1..=30, 1), None).unwrap();
    drop(wal);
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 3);
    std::fs::remove_file(&segments[1]).unwrap();
    let (path, _, problem) = expect_corrupt(dir.path(), &options);
    assert_eq!(path, segments[2]);
    assert!(matches!(problem, Corruption::MissingSegment { .. }), "{problem}");
}

#[test]
fn a_damaged_snapshot_file_the_log_needs_is_corruption() {
    let dir = TempDir::new().unwrap();
    let options = unlocked();
    let (mut wal, _) = open(dir.path(), &options);
    wal.write(None, &ents(1..=5, 1), None).unwrap();
    wal.compact(&snap(4, 1)).unwrap();
    drop(wal);
    let snapshot_file = files_with_extension(dir.path(), "snap").pop().unwrap();
    let mut contents = std::fs::read(&snapshot_file).unwrap();
    contents[20] ^= 0x40;
    std::fs::write(&snapshot_file, &contents).unwrap();
    let (path, _, problem) = expect_corrupt(dir.path(), &options);
    assert_eq!((path, problem), (snapshot_file, Corruption::MissingSnapshot { index: 4 }));
}

// ---- size limits ----

#[test]
fn a_record_above_the_limit_is_refused_and_nothing_is_written() {
    let dir = TempDir::new().unwrap();
    let options = WalOptions { max_record_bytes: 1024, ..unlocked() };
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=2, 1), None);
    let stats = wal.stats();
    let big = Entry { index: 4, term: 1, kind: EntryKind::Normal, data: Bytes::from(vec![7; 1024]) };
    let batch = [ent(3, 1), big];
    match wal.write(None, &batch, Some(hs(1, 1, 1))) {
        Err(WalError::RecordTooLarge { size_bytes, limit_bytes }) => {
            assert_eq!((size_bytes, limit_bytes), (1024 + ENTRY_FIELDS_BYTES, 1024));
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert_eq!(wal.stats(), stats, "nothing written");
    write_both(&mut wal, &mut model, None, &ents(3..=3, 1), None);
    assert_eq!(reopened(dir.path(), &options), model.expected());
    // In a group, a refused later batch fails the log (the ones before it were taken in);
    // nothing of the group reaches the disk.
    let big = Entry { index: 5, term: 1, kind: EntryKind::Normal, data: Bytes::from(vec![7; 1024]) };
    let (fine, too_large) = (ents(4..=4, 1), [big]);
    let group = [
        WriteBatch { snapshot: None, entries: &fine, hard_state: None, sync: true },
        WriteBatch { snapshot: None, entries: &too_large, hard_state: None, sync: true },
    ];
    assert!(matches!(wal.write_group(&group), Err(WalError::RecordTooLarge { .. })));
    assert!(matches!(wal.write(None, &fine, None), Err(WalError::Failed)));
    drop(wal);
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn a_header_claiming_two_to_the_forty_bytes_is_corruption_even_at_the_tail() {
    let dir = TempDir::new().unwrap();
    let options = unlocked();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=3, 1), None);
    drop(wal);
    let segment = segment_files(dir.path()).pop().unwrap();
    let good = std::fs::read(&segment).unwrap();
    let huge = crafted_header(1 << 40);

    // A valid header at the tail: a torn write cannot make it, so it is corruption.
    append_bytes(&segment, &huge);
    let (path, offset, problem) = expect_corrupt(dir.path(), &options);
    let limit_bytes = options.max_record_bytes;
    assert_eq!((&path, offset), (&segment, good.len() as u64));
    assert_eq!(problem, Corruption::RecordTooLarge { size_bytes: 1 << 40, limit_bytes });

    // The same header followed by more data.
    append_bytes(&segment, &[1; 100]);
    assert_eq!(expect_corrupt(dir.path(), &options).1, good.len() as u64);

    // A header with a bad checksum is never trusted for its length: a torn write, unless a
    // sync mark after it proves it durable.
    let mut bad_checksum = huge.clone();
    bad_checksum[0] ^= 1;
    std::fs::write(&segment, [&good[..], &bad_checksum[..], &[1; 100][..]].concat()).unwrap();
    assert_eq!(reopened(dir.path(), &options), model.expected());
    assert_eq!(std::fs::read(&segment).unwrap(), good);

    // An incomplete header at the tail is torn, whatever length it starts to state.
    std::fs::write(&segment, [&good[..], &huge[..12]].concat()).unwrap();
    assert_eq!(reopened(dir.path(), &options), model.expected());
    assert_eq!(std::fs::read(&segment).unwrap(), good);
}

// ---- snapshots, rolling and deletion ----

/// Builds a log with entries 1..=10, then takes a snapshot with `take`; returns the directory
/// as it was before, the snapshot file's bytes, and the model before.
fn before_and_after_snapshot(take: impl FnOnce(&mut Wal) -> Snapshot) -> (TempDir, Vec<u8>, Model, Snapshot) {
    let dir = TempDir::new().unwrap();
    let (mut wal, _) = open(dir.path(), &unlocked());
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=10, 1), Some(hs(1, 1, 8)));
    let before = copy_dir(dir.path());
    let snapshot = take(&mut wal);
    let snapshot_file = files_with_extension(dir.path(), "snap").pop().unwrap();
    (before, std::fs::read(snapshot_file).unwrap(), model, snapshot)
}

fn check_crash_around_rename(take: impl FnOnce(&mut Wal) -> Snapshot) {
    let options = unlocked();
    let (before, snapshot_bytes, model, snapshot) = before_and_after_snapshot(take);
    let name = format!("{:016x}.snap", snapshot.meta.index);

    // The rename was not persisted: only the temporary file exists.
    let not_renamed = copy_dir(before.path());
    std::fs::write(not_renamed.path().join(format!("{name}.tmp")), &snapshot_bytes).unwrap();
    let (mut wal, recovered) = open(not_renamed.path(), &options);
    assert_eq!(recovered, model.expected());
    assert!(files_with_extension(not_renamed.path(), "tmp").is_empty(), "leftover temp file deleted");
    wal.compact(&snapshot).unwrap();
    assert_eq!(reopened(not_renamed.path(), &options).snapshot, Some(snapshot.clone()));

    // The rename was persisted but the marker never written: the snapshot rule applies at
    // recovery, and no entry after a matching snapshot is lost.
    let renamed = copy_dir(before.path());
    std::fs::write(renamed.path().join(&name), &snapshot_bytes).unwrap();
    let mut expected = model.clone();
    expected.write(Some(&snapshot), &[], None);
    let recovered = reopened(renamed.path(), &options);
    assert_eq!(recovered, expected.expected());
    let (mut wal, _) = open(renamed.path(), &options);
    wal.write(None, &[ent(expected.last_index() + 1, 2)], None).unwrap();
    expected.write(None, &[ent(expected.last_index() + 1, 2)], None);
    assert_eq!(reopened(renamed.path(), &options), expected.expected());
}

#[test]
fn a_crash_around_the_rename_of_a_compaction_snapshot_loses_nothing() {
    check_crash_around_rename(|wal| {
        let snapshot = snap(6, 1);
        wal.compact(&snapshot).unwrap();
        snapshot
    });
}

#[test]
fn a_crash_around_the_rename_of_a_received_snapshot_is_consistent() {
    check_crash_around_rename(|wal| {
        let snapshot = snap(8, 1);
        wal.write(Some(&snapshot), &[], Some(hs(2, 2, 8))).unwrap();
        snapshot
    });
    check_crash_around_rename(|wal| {
        let snapshot = snap(15, 2);
        wal.write(Some(&snapshot), &[], Some(hs(2, 2, 15))).unwrap();
        snapshot
    });
}

/// A log of small segments holding entries 1..=100 (one per write, each with a hard state),
/// and its model.
fn hundred_entries_in_small_segments() -> (TempDir, WalOptions, Wal, Model) {
    let dir = TempDir::new().unwrap();
    let options = small_segments();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    for index in 1..=100 {
        write_both(&mut wal, &mut model, None, &[ent(index, 1)], Some(hs(1, 1, index - 1)));
    }
    (dir, options, wal, model)
}

#[test]
fn segments_roll_and_compaction_deletes_those_it_covers() {
    let (dir, options, mut wal, mut model) = hundred_entries_in_small_segments();
    // The last hard state is written in the same batch as an entry that starts a new segment:
    // it must survive deleting every older segment.
    let segments_before = segment_files(dir.path());
    assert!(segments_before.len() > 5, "rolled into {} segments", segments_before.len());
    assert!(segments_before.iter().all(|p| std::fs::metadata(p).unwrap().len() <= SMALL_SEGMENT_BYTES));
    assert_eq!(wal.stats().segment_count, segments_before.len());

    compact_both(&mut wal, &mut model, &snap(80, 1));
    let segments_after = segment_files(dir.path());
    assert!(segments_after.len() < segments_before.len());
    assert_eq!(wal.stats().segment_count, segments_after.len());
    // Every segment left but the last holds an entry above 80; every deleted one held none.
    for segment in &segments_before {
        let kept = segments_after.contains(segment);
        let first_after = segments_after.first().unwrap();
        assert_eq!(kept, segment >= first_after, "only the oldest segments are deleted");
    }
    drop(wal);
    let (mut wal, recovered) = open(dir.path(), &options);
    assert_eq!(recovered, model.expected());
    assert_eq!(recovered.hard_state, hs(1, 1, 99));
    assert_eq!(recovered.entries.first().map(|e| e.index), Some(81));

    // A second compaction deletes the older snapshot file.
    compact_both(&mut wal, &mut model, &snap(100, 1));
    assert_eq!(files_with_extension(dir.path(), "snap").len(), 1);
    assert_eq!(wal.stats().segment_count, 1);
    write_both(&mut wal, &mut model, None, &ents(101..=101, 1), Some(hs(2, 0, 100)));
    drop(wal);
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn released_files_are_deleted_outside_the_log_and_by_recovery() {
    let (dir, options, mut wal, mut model) = hundred_entries_in_small_segments();
    let segments_before = segment_files(dir.path());
    // In two steps, as the Python binding does: the files are only renamed while the log is
    // held, and deleted after.
    let snapshot = snap(80, 1);
    let file = SnapshotFile::write(dir.path(), &snapshot, true).unwrap();
    wal.compact_prepared(&file).unwrap();
    model.write(Some(&snapshot), &[], None);
    let released = wal.take_released();
    assert!(!released.is_empty());
    assert!(wal.take_released().is_empty(), "taken once");
    assert_eq!(segment_files(dir.path()).len() + released.len(), segments_before.len());
    assert_eq!(files_with_extension(dir.path(), "released").len(), released.len());
    // A crash before they are deleted: recovery deletes them.
    drop(wal);
    let (wal, recovered) = open(dir.path(), &options);
    assert_eq!(recovered, model.expected());
    assert!(files_with_extension(dir.path(), "released").is_empty());
    drop(wal);
    // Deleting one gone already is fine; a large one goes a step at a time, then whole.
    senate_core::wal::delete_gradually(&released[0]).unwrap();
    let big = dir.path().join("big.released");
    std::fs::write(&big, vec![7u8; 9 << 20]).unwrap();
    senate_core::wal::delete_gradually(&big).unwrap();
    assert!(!big.exists());
}

#[test]
fn compaction_between_rolls_with_an_overwrite_recovers() {
    // A snapshot marker written while older segments still hold the entries it covers, then
    // an overwrite of entries that live in an older segment, then deletion of that segment.
    let dir = TempDir::new().unwrap();
    let options = small_segments();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=20, 1), Some(hs(1, 1, 5)));
    compact_both(&mut wal, &mut model, &snap(5, 1));
    write_both(&mut wal, &mut model, None, &ents(12..=25, 2), Some(hs(2, 2, 12)));
    assert_eq!(reopened(dir.path(), &options), model.expected());
    compact_both(&mut wal, &mut model, &snap(18, 2));
    drop(wal);
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn invalid_options_are_refused() {
    let dir = TempDir::new().unwrap();
    let tiny = WalOptions { max_segment_bytes: 10, ..unlocked() };
    assert!(matches!(Wal::open(dir.path(), tiny), Err(WalError::InvalidOptions { field: "max_segment_bytes", .. })));
    let huge = WalOptions { max_record_bytes: usize::MAX, ..unlocked() };
    assert!(matches!(Wal::open(dir.path(), huge), Err(WalError::InvalidOptions { field: "max_record_bytes", .. })));
}

#[test]
fn a_crash_during_a_write_that_rolls_keeps_a_prefix_of_whole_records() {
    let dir = TempDir::new().unwrap();
    let options = small_segments();
    let (mut wal, _) = open(dir.path(), &options);
    let mut model = Model::new();
    write_both(&mut wal, &mut model, None, &ents(1..=3, 1), Some(hs(1, 1, 1)));
    let acknowledged = model.clone();
    let old_segment = segment_files(dir.path()).pop().unwrap();
    let old_bytes = std::fs::metadata(&old_segment).unwrap().len() as usize;
    let last_batch = ents(4..=11, 1);
    write_both(&mut wal, &mut model, None, &last_batch, Some(hs(1, 1, 3)));
    drop(wal);
    let segments = segment_files(dir.path());
    assert_eq!(segments.len(), 2, "the last write rolled once");
    let old_contents = std::fs::read(&old_segment).unwrap();
    let in_old_segment = record_offsets(&old_contents)
        .into_iter()
        .filter(|&offset| offset >= old_bytes && !is_sync_mark(&old_contents, offset))
        .count();
    assert!(in_old_segment > 0 && in_old_segment < last_batch.len(), "the batch spans both segments");
    let new_segment = std::fs::read(&segments[1]).unwrap();
    let new_offsets = record_offsets(&new_segment);
    let start_bytes = new_offsets[2];

    // A crash before the new segment was renamed into place: the synced old part survives.
    let copy = copy_dir(dir.path());
    std::fs::remove_file(copy.path().join(segments[1].file_name().unwrap())).unwrap();
    let mut expected = acknowledged.clone();
    expected.write(None, &last_batch[..in_old_segment], None);
    assert_eq!(reopened(copy.path(), &options), expected.expected());

    // Cuts at every byte of the new segment's batch records.
    for cut in start_bytes..new_segment.len() {
        let copy = copy_dir(dir.path());
        std::fs::write(copy.path().join(segments[1].file_name().unwrap()), &new_segment[..cut]).unwrap();
        let record_ends = new_offsets[3..].iter().copied().chain([new_segment.len()]);
        let whole_entries = in_old_segment + record_ends.filter(|&end| end <= cut).count();
        let mut expected = acknowledged.clone();
        expected.write(None, &last_batch[..whole_entries.min(last_batch.len())], None);
        assert_eq!(reopened(copy.path(), &options), expected.expected(), "cut at {cut}");
    }
    assert_eq!(reopened(dir.path(), &options), model.expected());
}

#[test]
fn a_log_directory_is_opened_by_one_handle_at_a_time() {
    let dir = TempDir::new().unwrap();
    let (mut wal, _) = open(dir.path(), &WalOptions::default());
    wal.write(None, &ents(1..=3, 1), Some(hs(1, 1, 0))).unwrap();
    let second = Wal::open(dir.path(), WalOptions::default());
    assert!(matches!(second, Err(WalError::Locked { .. })), "a second handle opened a locked log");
    drop(wal);
    // The lock goes with the handle (and with the process, on a crash).
    assert_eq!(reopened(dir.path(), &WalOptions::default()).entries.len(), 3);
}

#[test]
fn a_commit_only_hard_state_skips_the_fsync_and_is_made_durable_by_the_next_sync() {
    let dir = TempDir::new().unwrap();
    let (mut wal, _) = open(dir.path(), &unlocked());
    wal.write(None, &ents(1..=2, 1), Some(hs(1, 1, 0))).unwrap();
    let synced = wal.stats().fsync_count;
    wal.write_synced(None, &[], Some(hs(1, 1, 2)), false).unwrap();
    assert_eq!(wal.stats().fsync_count, synced, "a commit-only write was fsynced");
    drop(wal);
    assert_eq!(reopened(dir.path(), &unlocked()).hard_state, hs(1, 1, 2));
}

#[test]
fn a_snapshot_file_written_beside_the_open_log_compacts_it_after_later_writes() {
    let dir = TempDir::new().unwrap();
    let (mut wal, _) = open(dir.path(), &small_segments());
    wal.write(None, &ents(1..=40, 1), Some(hs(1, 1, 30))).unwrap();
    // Phase one runs without the log (in the runtime: another thread, while writes go on).
    let file = SnapshotFile::write(dir.path(), &snap(30, 1), true).unwrap();
    wal.write(None, &ents(41..=50, 1), Some(hs(1, 1, 45))).unwrap();
    wal.compact_prepared(&file).unwrap();
    assert_eq!(wal.stats().snapshot_index, 30);
    drop(wal);
    let recovered = reopened(dir.path(), &small_segments());
    assert_eq!(recovered.snapshot.map(|s| s.meta.index), Some(30));
    assert_eq!(recovered.entries, ents(31..=50, 1));
}

#[test]
fn a_prepared_snapshot_overtaken_by_a_newer_one_is_refused_and_harmless() {
    let dir = TempDir::new().unwrap();
    let (mut wal, _) = open(dir.path(), &unlocked());
    wal.write(None, &ents(1..=20, 1), Some(hs(1, 1, 20))).unwrap();
    let old = SnapshotFile::write(dir.path(), &snap(10, 1), true).unwrap();
    wal.compact(&snap(15, 1)).unwrap();
    assert!(matches!(wal.compact_prepared(&old), Err(WalError::SnapshotOutOfDate { index: 10, current: 15 })));
    // The log is still usable, and recovers the newer snapshot.
    wal.write(None, &ents(21..=22, 1), None).unwrap();
    drop(wal);
    let recovered = reopened(dir.path(), &unlocked());
    assert_eq!(recovered.snapshot.map(|s| s.meta.index), Some(15));
    assert_eq!(recovered.entries, ents(16..=22, 1));
}

// ---- format version and protocol ----

/// A record in the version 1 layout (no protocol byte): header checksum, payload length, body
/// checksum of type and payload, type, payload.
fn v1_record(record_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![record_type];
    body.extend_from_slice(payload);
    let mut fields = (payload.len() as u64).to_le_bytes().to_vec();
    fields.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    let mut record = crc32c::crc32c(&fields).to_le_bytes().to_vec();
    record.extend_from_slice(&fields);
    record.extend_from_slice(&body);
    record
}

#[test]
fn a_log_in_the_version_1_format_is_refused_naming_both_versions() {
    let dir = TempDir::new().unwrap();
    // What a version 1 build wrote for a new log: header, hard state, marker, one entry.
    let mut segment = b"senatwal".to_vec();
    segment.extend_from_slice(&1u32.to_le_bytes());
    segment.extend_from_slice(&v1_record(2, &[0; 24]));
    segment.extend_from_slice(&v1_record(3, &[0; 24]));
    let mut entry_payload = [1u64.to_le_bytes(), 1u64.to_le_bytes()].concat();
    entry_payload.extend_from_slice(&[EntryKind::Normal as u8, b'x']);
    segment.extend_from_slice(&v1_record(1, &entry_payload));
    let path = dir.path().join("0000000000000001.wal");
    std::fs::write(&path, &segment).unwrap();
    let err = Wal::open(dir.path(), unlocked()).unwrap_err();
    let message = err.to_string();
    let WalError::Corrupt {
        path: found_path,
        offset: 0,
        problem: Corruption::UnsupportedVersion { found: 1, expected },
    } = err
    else {
        panic!("expected an unsupported version, got {message}");
    };
    assert_eq!(found_path, path);
    assert!(expected > 1, "the current version is newer: {expected}");
    assert!(message.contains("version 1") && message.contains(&format!("version {expected}")), "{message}");
    assert!(message.contains("0000000000000001.wal"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), segment, "the refused log is left as it was");
}

#[test]
fn a_record_of_another_protocol_in_a_raft_log_is_corruption_naming_file_and_offset() {
    let dir = TempDir::new().unwrap();
    let paxos = WalOptions { protocol: ProtocolId::Paxos, ..unlocked() };
    let (mut wal, _) = open(dir.path(), &unlocked());
    wal.write(None, &ents(1..=3, 1), Some(hs(1, 1, 0))).unwrap();
    drop(wal);
    let segment = segment_files(dir.path()).pop().unwrap();
    let raft_bytes = std::fs::read(&segment).unwrap();
    // Records of the Paxos log appended to the Raft log's segment, as a mix-up would.
    let other_dir = TempDir::new().unwrap();
    let (mut other, _) = open(other_dir.path(), &paxos);
    other.write(None, &ents(1..=4, 1), None).unwrap();
    drop(other);
    let other_bytes = std::fs::read(segment_files(other_dir.path()).pop().unwrap()).unwrap();
    let paxos_entry = &other_bytes[*record_offsets(&other_bytes).last().unwrap()..];
    append_bytes(&segment, paxos_entry);
    let (path, offset, problem) = expect_corrupt(dir.path(), &unlocked());
    assert_eq!((path, offset), (segment, raft_bytes.len() as u64));
    assert_eq!(problem, Corruption::WrongProtocol { found: ProtocolId::Paxos, expected: ProtocolId::Raft });
    assert_eq!(
        problem.to_string(),
        "record of protocol Multi-Paxos (tag 2) in a log opened for Raft (tag 1)",
        "the message names both protocols"
    );
}

/// A node back with an empty disk abstains across restarts (`raft::empty_disk`): the flag is
/// in the hard state record, read back, and cleared by a later record.
#[test]
fn an_abstaining_hard_state_survives_a_reopen_until_a_later_one_clears_it() {
    let dir = TempDir::new().unwrap();
    let abstaining = HardState { abstaining: true, ..hs(3, 0, 0) };
    let (mut wal, _) = open(dir.path(), &unlocked());
    wal.write(None, &[], Some(abstaining)).unwrap();
    wal.write(None, &ents(1..=2, 3), Some(HardState { commit: 1, ..abstaining })).unwrap();
    drop(wal);
    let recovered = reopened(dir.path(), &unlocked());
    assert_eq!(recovered.hard_state, HardState { commit: 1, ..abstaining });
    assert_eq!(recovered.entries.len(), 2);
    let (mut wal, _) = open(dir.path(), &unlocked());
    wal.write(None, &[], Some(hs(3, 2, 2))).unwrap();
    drop(wal);
    assert_eq!(reopened(dir.path(), &unlocked()).hard_state, hs(3, 2, 2));
}
