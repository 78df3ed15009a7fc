//! Opening a log: listing its files, replaying segments, choosing the snapshot, cutting a torn
//! tail, and handing back what was durable.

use super::error::{Corruption, WalError};
use super::file_system::{FileSystem, OsFileSystem, WalFile};
use super::fs::{file_names, io_error, remove_file, write_file_atomically, RELEASED_EXTENSION, TEMP_EXTENSION};
use super::options::WalOptions;
use super::record::{encode_hard_state, encode_marker, Marker};
use super::replay::{Replay, Replayed, SEGMENT_START_RECORDS};
use super::segment::{encode_segment_header, parse_segment_file_name, scan_segment, segment_file_name};
use super::shape::LogShape;
use super::snapshot_file::{decode_snapshot, parse_snapshot_file_name, snapshot_file_name};
use super::writer::{SegmentInfo, SnapshotFileInfo, Wal};
use crate::raft::message::{Entry, HardState, Snapshot};
use bytes::Bytes;
use std::collections::VecDeque;
use std::path::Path;

/// The sequence number of the first segment of a new log.
const FIRST_SEGMENT_SEQ: u64 = 1;

/// What was durable when the log was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state written, its commit raised to at least the snapshot index.
    pub hard_state: HardState,
    /// The newest valid snapshot file, if any.
    pub snapshot: Option<Snapshot>,
    /// Contiguous; the first index is the snapshot index + 1 (1 without a snapshot).
    pub entries: Vec<Entry>,
}

impl Wal {
    /// Opens the log in `dir` (creating the directory and a first segment if needed), recovers
    /// and returns what was durable.
    ///
    /// Leftover temporary files are deleted and a torn tail of the last segment is truncated
    /// (see the module docs). Any other damage is [`WalError::Corrupt`] naming the file and byte
    /// offset, and nothing is served.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, Recovered), WalError> {
        Wal::open_in(OsFileSystem, dir, options)
    }
}

impl<F: FileSystem> Wal<F> {
    /// [`Wal::open`] on the file system `fs`.
    pub fn open_in(fs: F, dir: &Path, options: WalOptions) -> Result<(Wal<F>, Recovered), WalError> {
        options.validate()?;
        fs.create_dir_all(dir).map_err(io_error(dir))?;
        let dir_lock = if options.lock_dir { Some(lock_dir(&fs, dir)?) } else { None };
        let (mut wal, recovered) = Wal::open_locked(fs, dir, options)?;
        wal.dir_lock = dir_lock;
        Ok((wal, recovered))
    }

    fn open_locked(fs: F, dir: &Path, options: WalOptions) -> Result<(Wal<F>, Recovered), WalError> {
        let mut segment_seqs = Vec::new();
        let mut snapshot_indexes = Vec::new();
        for name in file_names(&fs, dir)? {
            if name.ends_with(TEMP_EXTENSION) || name.ends_with(RELEASED_EXTENSION) {
                remove_file(&fs, dir, &name)?;
            } else if let Some(seq) = parse_segment_file_name(&name) {
                segment_seqs.push(seq);
            } else if let Some(index) = parse_snapshot_file_name(&name).filter(|&index| index > 0) {
                snapshot_indexes.push(index);
            }
        }
        if segment_seqs.is_empty() {
            if !snapshot_indexes.is_empty() {
                return Err(WalError::Corrupt { path: dir.to_path_buf(), offset: 0, problem: Corruption::NoSegments });
            }
            return create(fs, dir, options);
        }
        recover(fs, dir, options, &segment_seqs, &snapshot_indexes)
    }
}

/// Takes the advisory lock of `dir` (a `LOCK` file, never removed), held while the `Wal` lives:
/// two processes appending to one log would interleave their records.
fn lock_dir<F: FileSystem>(fs: &F, dir: &Path) -> Result<F::Lock, WalError> {
    let path = dir.join(LOCK_FILE_NAME);
    match fs.try_lock(&path) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(WalError::Locked { path }),
        Err(source) => Err(WalError::Io { path, source }),
    }
}

/// The name of the lock file in a log directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// Starts a new, empty log in `dir`.
fn create<F: FileSystem>(fs: F, dir: &Path, options: WalOptions) -> Result<(Wal<F>, Recovered), WalError> {
    let mut start = Vec::new();
    encode_segment_header(&mut start);
    encode_hard_state(options.protocol, &HardState::default(), &mut start);
    encode_marker(options.protocol, &Marker::default(), &mut start);
    let path = write_file_atomically(
        &fs,
        dir,
        &segment_file_name(FIRST_SEGMENT_SEQ),
        &[&start],
        options.allocation_for(start.len() as u64),
        options.fsync,
    )?;
    let start_bytes = start.len() as u64;
    let segment = SegmentInfo { seq: FIRST_SEGMENT_SEQ, bytes: start_bytes, start_bytes, max_entry_index: 0 };
    let replayed = Replayed {
        hard_state: HardState::default(),
        snapshot: None,
        snapshot_index: 0,
        snapshot_term: 0,
        entries: Vec::new(),
        pending_marker: None,
    };
    let fsync_count = if options.fsync { 2 } else { 0 };
    finish_open(fs, dir, options, VecDeque::from([segment]), Vec::new(), replayed, fsync_count, &path)
}

/// Replays the segments `seqs` (ascending) with the newest valid of the snapshot files
/// `snapshot_indexes`.
fn recover<F: FileSystem>(
    fs: F,
    dir: &Path,
    options: WalOptions,
    seqs: &[u64],
    snapshot_indexes: &[u64],
) -> Result<(Wal<F>, Recovered), WalError> {
    let corrupt = |name: String, (offset, problem): (u64, Corruption)| WalError::Corrupt {
        path: dir.join(name),
        offset,
        problem,
    };
    if let Some(pair) = seqs.windows(2).find(|pair| pair[1] != pair[0] + 1) {
        let missing = Corruption::MissingSegment { seq: pair[0] + 1 };
        return Err(corrupt(segment_file_name(pair[1]), (0, missing)));
    }
    let mut replay = Replay::default();
    let mut segments = VecDeque::new();
    let mut fsync_count = 0;
    for (position, &seq) in seqs.iter().enumerate() {
        let (is_first, is_last) = (position == 0, position + 1 == seqs.len());
        let name = segment_file_name(seq);
        let path = dir.join(&name);
        let buf = Bytes::from(fs.read(&path).map_err(io_error(&path))?);
        let scanned = scan_segment(&buf, is_last, options.max_record_bytes, options.protocol)
            .map_err(|found| corrupt(name.clone(), found))?;
        let max_entry_index =
            replay.replay_segment(&scanned.records, is_first).map_err(|found| corrupt(name.clone(), found))?;
        let file_bytes = buf.len() as u64;
        // The last segment continues after its last whole record; what follows must be zeros
        // so that a later crash cannot make stale bytes look like a torn record. A zero tail
        // the log allocated ahead stays (unless not preallocating); a torn tail is cut, then
        // the space allocated again.
        let tail_is_zero = buf[scanned.valid_bytes as usize..].iter().all(|&b| b == 0);
        let keeps_tail = tail_is_zero && (options.preallocate || file_bytes == scanned.valid_bytes);
        if is_last && !keeps_tail {
            let file = fs.open_write(&path).map_err(io_error(&path))?;
            file.set_len(scanned.valid_bytes).map_err(io_error(&path))?;
            let allocation = options.allocation_for(scanned.valid_bytes);
            file.allocate(allocation);
            if options.fsync {
                file.sync_all().map_err(io_error(&path))?;
                fsync_count += 1;
            }
        }
        let start_bytes = scanned.records.get(SEGMENT_START_RECORDS).map_or(scanned.valid_bytes, |r| r.0);
        segments.push_back(SegmentInfo { seq, bytes: scanned.valid_bytes, start_bytes, max_entry_index });
    }
    let (snapshot, snapshot_files) = read_snapshot_files(&fs, dir, snapshot_indexes)?;
    let replayed = replay.finish(snapshot).map_err(|problem| {
        let index = replayed_problem_index(&problem);
        let path = index.map_or_else(|| dir.to_path_buf(), |index| dir.join(snapshot_file_name(index)));
        WalError::Corrupt { path, offset: 0, problem }
    })?;
    let last_path = dir.join(segment_file_name(*seqs.last().expect("at least one segment")));
    finish_open(fs, dir, options, segments, snapshot_files, replayed, fsync_count, &last_path)
}

/// The snapshot file a whole-log problem is about, if it is about one.
fn replayed_problem_index(problem: &Corruption) -> Option<u64> {
    match problem {
        Corruption::MissingSnapshot { index } => Some(*index),
        _ => None,
    }
}

/// Reads the snapshot files `indexes` (ascending): the newest valid snapshot, and the list of
/// all of them with their sizes.
fn read_snapshot_files<F: FileSystem>(
    fs: &F,
    dir: &Path,
    indexes: &[u64],
) -> Result<(Option<Snapshot>, Vec<SnapshotFileInfo>), WalError> {
    let mut newest_valid = None;
    let mut files = Vec::with_capacity(indexes.len());
    for &index in indexes.iter().rev() {
        let path = dir.join(snapshot_file_name(index));
        let bytes = fs.file_bytes(&path).map_err(io_error(&path))?;
        files.push(SnapshotFileInfo { index, bytes });
        if newest_valid.is_none() {
            let contents = Bytes::from(fs.read(&path).map_err(io_error(&path))?);
            newest_valid = decode_snapshot(contents).filter(|s| s.meta.index == index);
        }
    }
    files.reverse();
    Ok((newest_valid, files))
}

/// Builds the handle over the recovered state; `last_path` is the last segment's file.
#[allow(clippy::too_many_arguments)]
fn finish_open<F: FileSystem>(
    fs: F,
    dir: &Path,
    options: WalOptions,
    segments: VecDeque<SegmentInfo>,
    snapshot_files: Vec<SnapshotFileInfo>,
    replayed: Replayed,
    fsync_count: u64,
    last_path: &Path,
) -> Result<(Wal<F>, Recovered), WalError> {
    let file = fs.open_write(last_path).map_err(io_error(last_path))?;
    let file_bytes = file.file_bytes().map_err(io_error(last_path))?;
    let mut shape = LogShape::new(replayed.snapshot_index, replayed.snapshot_term);
    for entry in &replayed.entries {
        shape.append(entry.index, entry.term);
    }
    let mut wal = Wal {
        fs,
        dir: dir.to_path_buf(),
        options,
        segments,
        file,
        file_bytes,
        synced_bytes: 0,
        marked_bytes: 0,
        mark_in_buf: None,
        hard_state: replayed.hard_state,
        shape,
        snapshot_files,
        buf: Vec::new(),
        fsync_count,
        sync_batch: true,
        dir_lock: None,
        released: Vec::new(),
        failed: false,
    };
    let (mut entries, mut snapshot_index) = (replayed.entries, replayed.snapshot_index);
    if let Some(marker) = replayed.pending_marker {
        wal.complete_snapshot(marker)?;
        entries.retain(|e| e.index > marker.index && e.index <= marker.last_index);
        snapshot_index = marker.index;
    }
    let mut hard_state = replayed.hard_state;
    hard_state.commit = hard_state.commit.max(snapshot_index);
    let recovered = Recovered { hard_state, snapshot: replayed.snapshot, entries };
    Ok((wal, recovered))
}
