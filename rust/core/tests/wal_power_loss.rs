//! Power loss at every step of random workloads: the log on a `CrashDisk`, which at a power
//! cut keeps what was synced and, of the rest, any sector-by-sector prefix of each file's
//! writes (torn and reordered writes), a prefix of its length changes and a prefix of the
//! directory's changes.
//!
//! Each workload (appends, overwrites of the log's tail, hard states with and without fsync,
//! group writes, received snapshots, compaction with segment and snapshot file deletion,
//! clean reopens) runs once while the disk records a frozen copy of itself before every
//! operation; every copy is a crash point. For each, a post-crash disk is drawn and the log
//! reopened on it. It must open every time (the node boots), and what it recovers must be the
//! state after some prefix of the records the workload issued, no shorter than what was
//! acknowledged as durable: nothing synced is lost, nothing half-written or invented appears.
//! Then one more write must be durable across a second power cut.
//!
//! `WAL_POWER_LOSS_WORKLOADS` sets the number of workloads (default below), for longer runs.

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use senate_core::wal::{Corruption, CrashDisk, PowerCut, SEGMENT_HEADER_BYTES};
use senate_core::{
    ConfState, Entry, EntryKind, HardState, Index, ProtocolId, Recovered, Snapshot, SnapshotMeta, Term, Wal, WalError,
    WalOptions, WriteBatch,
};
use std::path::Path;

/// Workloads in a default run; each yields one crash point per disk operation (about 150).
const DEFAULT_WORKLOADS: u64 = 120;
/// Calls to the log per workload.
const CALLS_PER_WORKLOAD: usize = 14;
/// The least number of crash points a default run checks (the bar).
const MIN_CRASH_POINTS: u64 = 10_000;

const DIR: &str = "/wal";

// ---- what the workload writes ----

fn entry(index: Index, term: Term, rng: &mut ChaCha8Rng) -> Entry {
    // Mostly small records, some spanning several 512-byte sectors.
    let data_bytes = if rng.gen_ratio(1, 4) { rng.gen_range(300..1600) } else { rng.gen_range(0..80) };
    let fill = (index as u8).wrapping_mul(31).wrapping_add(term as u8) | 1;
    let kind = if rng.gen_ratio(1, 10) { EntryKind::NoOp } else { EntryKind::Normal };
    let data = if kind == EntryKind::NoOp { Bytes::new() } else { Bytes::from(vec![fill; data_bytes]) };
    Entry { index, term, kind, data }
}

fn snapshot(index: Index, term: Term, rng: &mut ChaCha8Rng) -> Snapshot {
    let data_bytes = rng.gen_range(0..1200);
    Snapshot {
        meta: SnapshotMeta { index, term, conf_state: ConfState::from_voters(vec![1, 2, 3]) },
        data: Bytes::from(vec![(index as u8) ^ 0x5a; data_bytes]),
    }
}

/// One record's worth of change, in the order the log writes them.
#[derive(Clone, Debug)]
enum Step {
    Snapshot(Snapshot),
    Entry(Entry),
    HardState(HardState),
}

/// The log a correct implementation holds after a sequence of steps.
#[derive(Clone, Debug, Default)]
struct Model {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    /// Contiguous, starting after the snapshot.
    entries: Vec<Entry>,
}

impl Model {
    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }

    fn last_index(&self) -> Index {
        self.snapshot_index() + self.entries.len() as Index
    }

    fn term(&self, index: Index) -> Option<Term> {
        match &self.snapshot {
            Some(s) if s.meta.index == index => Some(s.meta.term),
            None if index == 0 => Some(0),
            _ => {
                index.checked_sub(self.snapshot_index() + 1).and_then(|i| self.entries.get(i as usize)).map(|e| e.term)
            }
        }
    }

    /// The snapshot rule, entry replacement and hard state replacement of the log.
    fn apply(&mut self, step: &Step) {
        match step {
            Step::Snapshot(s) => {
                if self.term(s.meta.index) == Some(s.meta.term) {
                    let drop = (s.meta.index - self.snapshot_index()) as usize;
                    self.entries.drain(..drop.min(self.entries.len()));
                } else {
                    self.entries.clear();
                }
                self.snapshot = Some(s.clone());
            }
            Step::Entry(e) => {
                if e.index > self.snapshot_index() {
                    assert!(e.index <= self.last_index() + 1, "workload bug: gap at {}", e.index);
                    self.entries.truncate((e.index - self.snapshot_index() - 1) as usize);
                    self.entries.push(e.clone());
                }
            }
            Step::HardState(h) => self.hard_state = *h,
        }
    }

    fn expected(&self) -> Recovered {
        let mut hard_state = self.hard_state;
        hard_state.commit = hard_state.commit.max(self.snapshot_index());
        Recovered { hard_state, snapshot: self.snapshot.clone(), entries: self.entries.clone() }
    }
}

/// One batch of a write: snapshot, entries, hard state, and whether it syncs.
type Batch = (Option<Snapshot>, Vec<Entry>, Option<HardState>, bool);

/// One call to the log.
#[derive(Clone, Debug)]
enum Call {
    /// `write_group` of these batches (one batch: `write_synced`).
    Write(Vec<Batch>),
    Compact(Snapshot),
    Reopen,
}

impl Call {
    fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        match self {
            Call::Write(batches) => {
                for (snapshot, entries, hard_state, _) in batches {
                    steps.extend(snapshot.clone().map(Step::Snapshot));
                    steps.extend(entries.iter().cloned().map(Step::Entry));
                    steps.extend(hard_state.map(Step::HardState));
                }
            }
            Call::Compact(s) => steps.push(Step::Snapshot(s.clone())),
            Call::Reopen => {}
        }
        steps
    }

    /// Whether an `Ok` makes everything issued so far durable.
    fn syncs(&self) -> bool {
        match self {
            Call::Write(batches) => batches.iter().any(|b| b.3),
            Call::Compact(_) => true,
            Call::Reopen => false,
        }
    }
}

/// Draws the next call for a log in the state `model` (with `term` the workload's term). As
/// Raft writes: the commit index never goes down, and only entries above it are overwritten.
fn next_call(model: &Model, term: &mut Term, rng: &mut ChaCha8Rng) -> Call {
    let (first, last, commit) = (model.snapshot_index() + 1, model.last_index(), model.hard_state.commit);
    let append = |term: &mut Term, rng: &mut ChaCha8Rng| {
        if rng.gen_ratio(1, 3) {
            *term += 1;
        }
        // Overwrite a few entries of the tail, or append after it.
        let from = last.saturating_sub(rng.gen_range(0..4)).max(first).max(commit + 1).min(last + 1);
        let count = rng.gen_range(1..6);
        let entries: Vec<Entry> = (from..from + count).map(|i| entry(i, *term, rng)).collect();
        (None, entries, Some(HardState::new(*term, 1, commit)), true)
    };
    // Only the commit moves: term and vote are durable already (what allows skipping the fsync).
    let commit_to_last = HardState { commit: commit.max(last), ..model.hard_state };
    match rng.gen_range(0..100) {
        0..=44 => Call::Write(vec![append(term, rng)]),
        // A group: a commit-only hard state that skips its fsync, and an append.
        45..=54 => Call::Write(vec![(None, Vec::new(), Some(commit_to_last), false), append(term, rng)]),
        55..=64 => Call::Write(vec![(None, Vec::new(), Some(commit_to_last), false)]),
        65..=69 => {
            // Sometimes the empty-disk abstention (`raft::empty_disk`), which a received
            // snapshot or appended entries clear below: a recovered hard state that no longer
            // abstains must come with what cleared it (the prefix check sees to that).
            let abstaining = rng.gen_ratio(1, 2);
            let vote = HardState { term: *term, vote: rng.gen_range(0..4), abstaining, ..commit_to_last };
            Call::Write(vec![(None, Vec::new(), Some(vote), true)])
        }
        70..=81 if last >= first => {
            let index = rng.gen_range(first..=last);
            Call::Compact(snapshot(index, model.term(index).expect("in the log"), rng))
        }
        82..=91 => {
            // A received snapshot: behind, at or ahead of the log's end, with its term or not.
            let index = (last + rng.gen_range(0..3)).saturating_sub(rng.gen_range(0..3)).max(first);
            let snapshot_term = match model.term(index) {
                Some(t) if rng.gen_bool(0.5) => t,
                _ => {
                    *term += 1;
                    *term
                }
            };
            let hard_state = HardState::new(*term, 0, commit.max(index));
            Call::Write(vec![(Some(snapshot(index, snapshot_term, rng)), Vec::new(), Some(hard_state), true)])
        }
        _ => Call::Reopen,
    }
}

// ---- running a workload ----

fn open(disk: &CrashDisk, options: &WalOptions) -> Result<(Wal<CrashDisk>, Recovered), String> {
    Wal::open_in(disk.clone(), Path::new(DIR), options.clone()).map_err(|e| e.to_string())
}

fn run_call(wal: &mut Wal<CrashDisk>, disk: &CrashDisk, options: &WalOptions, call: &Call) {
    match call {
        Call::Write(batches) => {
            let batches: Vec<WriteBatch<'_>> = batches
                .iter()
                .map(|(snapshot, entries, hard_state, sync)| WriteBatch {
                    snapshot: snapshot.as_ref(),
                    entries,
                    hard_state: *hard_state,
                    sync: *sync,
                })
                .collect();
            wal.write_group(&batches).expect("write");
        }
        Call::Compact(s) => wal.compact(s).expect("compact"),
        Call::Reopen => {
            // A second handle while the first lives: the options leave the directory unlocked.
            let (reopened, _) = open(disk, options).expect("reopen");
            *wal = reopened;
        }
    }
}

/// What the workload had done when the disk was frozen before some operation.
#[derive(Clone, Copy, Debug)]
struct Progress {
    /// Steps of every call that returned `Ok` with a sync, and of the calls before it.
    durable_steps: usize,
    /// Steps of every call started (the one in progress included: any prefix of its records
    /// may be on disk).
    issued_steps: usize,
}

struct Workload {
    options: WalOptions,
    /// The disk after the last call.
    end: CrashDisk,
    /// The steps of all calls, in order.
    steps: Vec<Step>,
    /// Frozen disks, and the progress when each was frozen.
    crash_points: Vec<(CrashDisk, Progress)>,
}

fn record_workload(seed: u64) -> Workload {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let options = WalOptions {
        max_segment_bytes: [512, 2048, 8192][rng.gen_range(0..3)],
        preallocate: rng.gen_bool(0.5),
        protocol: if rng.gen_ratio(1, 4) { ProtocolId::Paxos } else { ProtocolId::Raft },
        lock_dir: false,
        ..WalOptions::default()
    };
    let disk = CrashDisk::new();
    disk.record_crash_points();
    let (mut wal, _) = open(&disk, &options).expect("a new log opens");
    let (mut model, mut term) = (Model::default(), 1);
    let mut steps = Vec::new();
    // The progress before each operation index; operations of the creation count as call 0's.
    let mut progress_by_operation: Vec<Progress> = Vec::new();
    let mut durable_steps = 0;
    let operations = |disk: &CrashDisk| disk.stats().operations as usize;
    progress_by_operation.resize(operations(&disk), Progress { durable_steps: 0, issued_steps: 0 });
    for _ in 0..CALLS_PER_WORKLOAD {
        let call = next_call(&model, &mut term, &mut rng);
        let call_steps = call.steps();
        let issued_steps = steps.len() + call_steps.len();
        run_call(&mut wal, &disk, &options, &call);
        progress_by_operation.resize(operations(&disk), Progress { durable_steps, issued_steps });
        for step in &call_steps {
            model.apply(step);
        }
        steps.extend(call_steps);
        if call.syncs() {
            durable_steps = steps.len();
        }
    }
    // A crash point after the last operation too.
    let mut frozen = disk.take_recorded();
    frozen.push(disk.copy());
    progress_by_operation.push(Progress { durable_steps, issued_steps: steps.len() });
    assert_eq!(frozen.len(), progress_by_operation.len());
    Workload { options, end: disk, steps, crash_points: frozen.into_iter().zip(progress_by_operation).collect() }
}

/// Whether `recovered` is the state after some prefix of `steps` at least `progress.durable_steps`
/// long. The commit index alone may come from an earlier hard state (a commit-only hard state
/// skips its fsync, so a snapshot file can outlive it), but never from before the durable one.
fn is_valid_prefix(steps: &[Step], progress: Progress, recovered: &Recovered) -> Result<(), String> {
    let mut model = Model::default();
    for step in &steps[..progress.durable_steps] {
        model.apply(step);
    }
    let durable_commit = model.expected().hard_state.commit;
    let candidates = steps[progress.durable_steps..progress.issued_steps].iter().map(Some).chain([None]);
    for next_step in candidates {
        let expected = model.expected();
        let (mut found, mut wanted) = (recovered.clone(), expected.clone());
        let commit_ok = (durable_commit..=wanted.hard_state.commit).contains(&found.hard_state.commit);
        (found.hard_state.commit, wanted.hard_state.commit) = (0, 0);
        if commit_ok && found == wanted {
            return Ok(());
        }
        if let Some(step) = next_step {
            model.apply(step);
        }
    }
    Err(format!(
        "recovered (hard state {:?}, snapshot at {:?}, entries {:?}) is no prefix in steps [{}, {}]",
        recovered.hard_state,
        recovered.snapshot.as_ref().map(|s| (s.meta.index, s.meta.term)),
        recovered.entries.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>(),
        progress.durable_steps,
        progress.issued_steps
    ))
}

/// Reopens the log on `disk` after a power cut and checks it; then one more synced write must
/// survive a second power cut. With `cut_recovery`, power is also cut at every step of the
/// recovery itself (truncating a torn tail, completing a snapshot, deleting leftovers), and
/// the log must open from each of those states too; returns how many there were.
fn check_crash_point(
    workload: &Workload,
    disk: &CrashDisk,
    progress: Progress,
    cut_recovery: bool,
) -> Result<u64, String> {
    if cut_recovery {
        disk.record_crash_points();
    }
    let (mut wal, recovered) = open(disk, &workload.options).map_err(|e| format!("the log does not open: {e}"))?;
    is_valid_prefix(&workload.steps, progress, &recovered)?;
    let recovery_points = disk.take_recorded();
    for (point, frozen) in recovery_points.iter().enumerate() {
        let again = frozen.after_power_cut(PowerCut::Random(point as u64));
        let (_, recovered) = open(&again, &workload.options)
            .map_err(|e| format!("the log does not open after a cut at step {point} of recovery: {e}"))?;
        is_valid_prefix(&workload.steps, progress, &recovered)
            .map_err(|problem| format!("after a cut at step {point} of recovery: {problem}"))?;
    }
    let mut model = Model {
        hard_state: recovered.hard_state,
        snapshot: recovered.snapshot.clone(),
        entries: recovered.entries.clone(),
    };
    let next = Entry {
        index: model.last_index() + 1,
        term: 1_000,
        kind: EntryKind::Normal,
        data: Bytes::from_static(b"after"),
    };
    let hard_state = HardState::new(1_000, 2, model.hard_state.commit);
    wal.write(None, std::slice::from_ref(&next), Some(hard_state)).map_err(|e| format!("write after recovery: {e}"))?;
    drop(wal);
    model.apply(&Step::Entry(next));
    model.apply(&Step::HardState(hard_state));
    let (_, again) = open(&disk.after_power_cut(PowerCut::LoseUnsynced), &workload.options)
        .map_err(|e| format!("the log does not open after the write that followed recovery: {e}"))?;
    if again != model.expected() {
        return Err("the write after recovery was lost".into());
    }
    Ok(recovery_points.len() as u64)
}

/// The record offsets of a segment file (the length is the u64 LE at byte 4 of a header; a
/// record of type 4 at byte 17 is a sync mark). Stops at a zero header (space allocated ahead).
fn records(file: &[u8]) -> Vec<(usize, bool)> {
    let mut found = Vec::new();
    let mut start = SEGMENT_HEADER_BYTES;
    while start + 18 <= file.len() && file[start..start + 18].iter().any(|&b| b != 0) {
        found.push((start, file[start + 17] == 4));
        start += 18 + u64::from_le_bytes(file[start + 4..start + 12].try_into().unwrap()) as usize;
    }
    found
}

/// Flips one bit of a durable record of the workload's log (any segment but the last, or a
/// record of the last that a later sync mark covers): the log must refuse to open, naming
/// the file and the record's offset, never cut it as a torn tail.
fn check_bit_flip(workload: &Workload, rng: &mut ChaCha8Rng) -> Result<(), String> {
    let disk = workload.end.after_power_cut(PowerCut::LoseUnsynced);
    let segments: Vec<_> =
        disk.files(Path::new(DIR)).into_iter().filter(|p| p.extension().is_some_and(|e| e == "wal")).collect();
    let (last, earlier) = segments.split_last().expect("a segment");
    let contents = disk.contents(last).expect("the last segment");
    let last_records = records(&contents);
    // The last write starts at the last mark; the records before it are durable.
    let durable_end = last_records.iter().rev().find(|r| r.1).map_or(0, |r| r.0);
    let mut candidates: Vec<_> = earlier.iter().map(|p| (p.clone(), disk.contents(p).unwrap().len())).collect();
    if durable_end > SEGMENT_HEADER_BYTES {
        candidates.push((last.clone(), durable_end));
    }
    if candidates.is_empty() {
        return Ok(());
    }
    let (path, end) = candidates[rng.gen_range(0..candidates.len())].clone();
    let byte = rng.gen_range(SEGMENT_HEADER_BYTES..end);
    let record_start = records(&disk.contents(&path).unwrap()).iter().rev().find(|r| r.0 <= byte).map(|r| r.0 as u64);
    disk.damage(&path, byte, 1 << rng.gen_range(0..8));
    match Wal::open_in(disk.clone(), Path::new(DIR), workload.options.clone()) {
        Err(WalError::Corrupt { path: found, offset, problem }) => {
            let named_record = Some(offset) == record_start
                || matches!(problem, Corruption::MissingSegmentStart | Corruption::SegmentStartMismatch);
            if found != path || !named_record {
                return Err(format!(
                    "flip at {} byte {byte}: Corrupt names {} at {offset} ({problem})",
                    path.display(),
                    found.display()
                ));
            }
            Ok(())
        }
        Err(other) => Err(format!("flip at {} byte {byte}: {other}", path.display())),
        Ok(_) => Err(format!("flip at {} byte {byte}: the log opened", path.display())),
    }
}

#[test]
fn every_crash_point_of_random_workloads_reopens_with_every_durable_record() {
    let workloads =
        std::env::var("WAL_POWER_LOSS_WORKLOADS").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_WORKLOADS);
    let (mut checked, mut recovery_checked) = (0u64, 0u64);
    for seed in 0..workloads {
        let workload = record_workload(seed);
        for (point, (frozen, progress)) in workload.crash_points.iter().enumerate() {
            let cut_seed = seed << 32 | point as u64;
            let disk = frozen.after_power_cut(PowerCut::Random(cut_seed));
            // Every fourth crash point also cuts the power during the recovery from it.
            match check_crash_point(&workload, &disk, *progress, point % 4 == 0) {
                Ok(recovery_points) => recovery_checked += recovery_points,
                Err(problem) => panic!("workload {seed}, crash point {point} (cut {cut_seed}): {problem}"),
            }
            checked += 1;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..4 {
            check_bit_flip(&workload, &mut rng).unwrap_or_else(|problem| panic!("workload {seed}: {problem}"));
        }
    }
    eprintln!(
        "{checked} crash points checked over {workloads} workloads, and {recovery_checked} during recovery from them"
    );
    if workloads >= DEFAULT_WORKLOADS {
        assert!(checked >= MIN_CRASH_POINTS, "only {checked} crash points");
    }
}
