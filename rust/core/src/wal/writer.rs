//! The log handle: group-committed writes, segment rolling, compaction.

use super::error::WalError;
use super::file_system::{FileSystem, OsFileSystem, WalFile};
use super::fs::{delete_gradually_in, io_error, release_file, sync_dir, write_file_atomically};
use super::options::WalOptions;
use super::record::{
    encode_entry, encode_hard_state, encode_marker, encode_sync_mark, entry_payload_bytes, Marker,
    SYNC_MARK_RECORD_BYTES,
};
use super::segment::{encode_segment_header, segment_file_name};
use super::shape::LogShape;
use super::snapshot_file::{snapshot_file_name, write_snapshot_file};
use crate::raft::message::{Entry, HardState, Index, Snapshot, Term};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Capacity of the batch buffer kept between writes; a larger one is shrunk back after use.
pub(crate) const RETAINED_BUFFER_BYTES: usize = 4 << 20;

/// One segment file on disk.
#[derive(Clone, Debug)]
pub(crate) struct SegmentInfo {
    pub seq: u64,
    /// Bytes of the header and records: where the next record is written. The file may be
    /// longer (allocated ahead, zeros) while the segment is the last one; once the log rolls
    /// past it, it is trimmed to this. Invariant: `bytes >= start_bytes`.
    pub bytes: u64,
    /// Bytes of the file header and the starting records.
    pub start_bytes: u64,
    /// The largest index of an entry record in the file, 0 if none: once a snapshot covers
    /// it, the file is no longer needed.
    pub max_entry_index: Index,
}

/// A snapshot file on disk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SnapshotFileInfo {
    pub index: Index,
    pub bytes: u64,
}

/// A snapshot file made durable in a log's directory, not yet recorded in the log: phase one
/// of a compaction, which needs no access to the open log (so it may run while another thread
/// writes the log). `Wal::compact_prepared` is phase two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    pub index: Index,
    pub term: Term,
    pub bytes: u64,
}

impl SnapshotFile {
    /// Writes `snapshot` to a temporary file in `dir`, fsyncs it, renames it into place and
    /// fsyncs `dir` (no fsync at all when `fsync` is false).
    pub fn write(dir: &Path, snapshot: &Snapshot, fsync: bool) -> Result<SnapshotFile, WalError> {
        SnapshotFile::write_in(&OsFileSystem, dir, snapshot, fsync)
    }

    /// [`SnapshotFile::write`] on the file system `fs`.
    pub fn write_in<F: FileSystem>(
        fs: &F,
        dir: &Path,
        snapshot: &Snapshot,
        fsync: bool,
    ) -> Result<SnapshotFile, WalError> {
        let path = write_snapshot_file(fs, dir, snapshot, fsync)?;
        let bytes = fs.file_bytes(&path).map_err(io_error(&path))?;
        Ok(SnapshotFile { index: snapshot.meta.index, term: snapshot.meta.term, bytes })
    }
}

/// Counters and positions of an open log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Segment files on disk (at least 1).
    pub segment_count: usize,
    /// Bytes of the segment files and snapshot files.
    pub bytes_on_disk: u64,
    /// fsync and fdatasync calls made since open (files and directory).
    pub fsync_count: u64,
    /// The index of the snapshot the log starts after (0 if none).
    pub snapshot_index: Index,
    /// The first index the log holds: `snapshot_index + 1`.
    pub first_index: Index,
    /// The last index the log holds; `snapshot_index` when it holds no entry.
    pub last_index: Index,
}

/// A durable, segmented write-ahead log of Raft state: entries, hard state and snapshots, on
/// the file system `F` (the operating system's unless a test gives another).
///
/// Invariants: `segments` is never empty and its last element is the file open in `file`;
/// `shape`, `hard_state` and the files on disk describe the same log whenever no call is in
/// progress, and after any error from `write` or `compact` the handle is `failed` for good.
#[derive(Debug)]
pub struct Wal<F: FileSystem = OsFileSystem> {
    pub(crate) fs: F,
    pub(crate) dir: PathBuf,
    pub(crate) options: WalOptions,
    /// Oldest first; the sequence numbers are consecutive.
    pub(crate) segments: VecDeque<SegmentInfo>,
    /// The last segment, opened for writing at `segments.back().bytes` (positioned writes,
    /// since the file may be allocated ahead).
    pub(crate) file: F::File,
    /// The length of `file`, allocated ahead of its records when `options.preallocate`.
    pub(crate) file_bytes: u64,
    /// `[0, synced_bytes)` of the last segment is known durable: synced by this handle (0
    /// after open: what recovery read may not have reached the disk yet).
    pub(crate) synced_bytes: u64,
    /// The largest `synced_bytes` a sync mark in the last segment states (see `segment.rs`).
    /// Invariant: `<= synced_bytes`.
    pub(crate) marked_bytes: u64,
    /// The `synced_bytes` of the sync mark `buf` starts with, until it is written.
    pub(crate) mark_in_buf: Option<u64>,
    /// The hard state last written.
    pub(crate) hard_state: HardState,
    pub(crate) shape: LogShape,
    /// Ascending by index: the current snapshot's file, older ones not yet deleted, and any
    /// damaged files recovery skipped.
    pub(crate) snapshot_files: Vec<SnapshotFileInfo>,
    /// The batch being built; cleared and reused by every call.
    pub(crate) buf: Vec<u8>,
    pub(crate) fsync_count: u64,
    /// Whether the batch being written ends with an fsync (see `write_synced`).
    pub(crate) sync_batch: bool,
    pub(crate) failed: bool,
    /// The directory's lock, held while this handle lives (set by `open`).
    pub(crate) dir_lock: Option<F::Lock>,
    /// Files released by compaction and not yet deleted (see `take_released`).
    pub(crate) released: Vec<PathBuf>,
}

/// One `write_synced` call's arguments, for `write_group`.
#[derive(Clone, Copy, Debug)]
pub struct WriteBatch<'a> {
    pub snapshot: Option<&'a Snapshot>,
    pub entries: &'a [Entry],
    pub hard_state: Option<HardState>,
    /// False only for a batch that is a hard state alone whose term and vote are durable.
    pub sync: bool,
}

/// A record on its way into the batch buffer.
enum Pending<'a> {
    Entry(&'a Entry),
    HardState(HardState),
    Marker(Marker),
}

impl<F: FileSystem> Wal<F> {
    /// Duty 1 of a `Ready`, in its order: make `snapshot` a durable snapshot file and append
    /// its marker; append `entries` (an entry at index `i` replaces the log from `i` on;
    /// entries at or below the snapshot are skipped); append `hard_state`; then one
    /// fdatasync for the whole batch (when `options.fsync`). Nothing is durable before `Ok`.
    ///
    /// Checked before anything is written: the snapshot must be newer than the current one
    /// ([`WalError::SnapshotOutOfDate`]) and every record within `max_record_bytes`
    /// ([`WalError::RecordTooLarge`]).
    ///
    /// # Panics
    /// If `entries` are not consecutive or would leave a gap after the last index.
    pub fn write(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<HardState>,
    ) -> Result<(), WalError> {
        self.write_synced(snapshot, entries, hard_state, true)
    }

    /// `write`, with the fsync skipped when `sync` is false: for a batch that promises nothing
    /// (a hard state whose term and vote are unchanged, only its commit index moved: a commit
    /// index lost in a crash is learned again from the leader, as etcd's `MustSync` reasons).
    /// The next synced write makes it durable with everything before it.
    pub fn write_synced(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<HardState>,
        sync: bool,
    ) -> Result<(), WalError> {
        self.write_group(&[WriteBatch { snapshot, entries, hard_state, sync }])
    }

    /// Records a snapshot the application took at `snapshot.meta.index` (compaction): the
    /// snapshot file is made durable, then its marker record, then segment files whose entries
    /// are all at or below the index and older snapshot files are deleted.
    pub fn compact(&mut self, snapshot: &Snapshot) -> Result<(), WalError> {
        self.check_usable()?;
        let file = SnapshotFile::write_in(&self.fs, &self.dir, snapshot, self.options.fsync)?;
        self.compact_prepared(&file)?;
        for path in self.take_released() {
            delete_gradually_in(&self.fs, &path)?;
        }
        Ok(())
    }

    /// The files compaction released (renamed, not yet deleted): the caller deletes them with
    /// `delete_gradually`, without holding the log (a log shared with a writer thread stays
    /// free for its writes meanwhile). Recovery deletes any left over.
    pub fn take_released(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.released)
    }

    /// `compact` for a snapshot whose file `SnapshotFile::write` already made durable (which
    /// may run in another thread while this log goes on writing): appends the marker, then
    /// deletes what it covers. Fails with `SnapshotOutOfDate` if a newer snapshot arrived
    /// meanwhile (the file is then an old one, deleted with the next compaction).
    pub fn compact_prepared(&mut self, file: &SnapshotFile) -> Result<(), WalError> {
        self.check_usable()?;
        self.sync_batch = true;
        let marker = self.check_snapshot(file.index, file.term)?;
        self.register_snapshot_file(file.index, file.bytes);
        self.count_fsyncs(2);
        self.write_marker(marker)
    }

    /// Counters and positions of the log.
    pub fn stats(&self) -> WalStats {
        let segment_bytes: u64 = self.segments.iter().map(|s| s.bytes).sum();
        let snapshot_bytes: u64 = self.snapshot_files.iter().map(|s| s.bytes).sum();
        WalStats {
            segment_count: self.segments.len(),
            bytes_on_disk: segment_bytes + snapshot_bytes,
            fsync_count: self.fsync_count,
            snapshot_index: self.shape.snapshot_index(),
            first_index: self.shape.snapshot_index() + 1,
            last_index: self.shape.last_index(),
        }
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.failed {
            return Err(WalError::Failed);
        }
        Ok(())
    }

    /// The marker `snapshot` will get, if it is newer than the current snapshot.
    fn check_snapshot(&self, index: Index, term: Term) -> Result<Marker, WalError> {
        let current = self.shape.snapshot_index();
        if index <= current {
            return Err(WalError::SnapshotOutOfDate { index, current });
        }
        Ok(self.shape.marker_for(index, term))
    }

    fn register_snapshot_file(&mut self, index: Index, bytes: u64) {
        self.snapshot_files.retain(|s| s.index != index);
        let position = self.snapshot_files.partition_point(|s| s.index < index);
        self.snapshot_files.insert(position, SnapshotFileInfo { index, bytes });
    }

    /// Checks sizes (an error) and positions (a caller bug) of `entries`, all above the
    /// snapshot, for a log ending at `last_index`.
    fn check_entries(&self, entries: &[Entry], last_index: Index) -> Result<(), WalError> {
        let limit_bytes = self.options.max_record_bytes;
        if let Some(e) = entries.iter().find(|e| entry_payload_bytes(e) > limit_bytes) {
            return Err(WalError::RecordTooLarge { size_bytes: entry_payload_bytes(e), limit_bytes });
        }
        if let Some(first) = entries.first() {
            assert!(first.index <= last_index + 1, "write: gap in log: last {last_index}, appending {}", first.index);
        }
        for pair in entries.windows(2) {
            assert_eq!(pair[1].index, pair[0].index + 1, "write: entries not consecutive");
        }
        Ok(())
    }

    fn fail_on_error(&mut self, result: Result<(), WalError>) -> Result<(), WalError> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Records the marker of a snapshot file that recovery found newer than every marker in the
    /// log (a crash came between the file and its marker), so the records agree with the file.
    pub(crate) fn complete_snapshot(&mut self, marker: Marker) -> Result<(), WalError> {
        self.write_marker(marker)
    }

    /// Appends a snapshot's marker (its file is durable already), syncs it, then deletes what
    /// it covers.
    fn write_marker(&mut self, marker: Marker) -> Result<(), WalError> {
        self.begin_batch();
        self.sync_batch = true;
        let written =
            self.encode_batch(None, Some(marker), &[], None).and_then(|()| self.flush_and_release(Some(marker.index)));
        self.fail_on_error(written)
    }

    /// Writes and syncs what `buf` holds, then releases what a marker at `released_through`
    /// (if any) made unneeded.
    fn flush_and_release(&mut self, released_through: Option<Index>) -> Result<(), WalError> {
        self.flush()?;
        if let Some(index) = released_through {
            self.release_through(index)?;
        }
        if self.buf.capacity() > RETAINED_BUFFER_BYTES {
            self.buf = Vec::with_capacity(RETAINED_BUFFER_BYTES);
        }
        Ok(())
    }

    /// Appends one batch's records to `buf` (writing `snapshot`'s file first, if given).
    fn encode_batch(
        &mut self,
        snapshot: Option<&Snapshot>,
        marker: Option<Marker>,
        entries: &[Entry],
        hard_state: Option<HardState>,
    ) -> Result<(), WalError> {
        if let Some(snapshot) = snapshot {
            // Recovery applies the newest snapshot file whatever records follow it, so the
            // records of the batches before this one in a group are made durable first: a
            // snapshot must not overtake a hard state written before it (the abstention of a
            // node back with an empty disk, `raft::empty_disk`). Snapshots are rare; the sync
            // is too.
            if self.buf_holds_records() {
                self.flush()?;
                self.begin_batch();
            }
            let file = SnapshotFile::write_in(&self.fs, &self.dir, snapshot, self.options.fsync)?;
            self.count_fsyncs(2);
            self.register_snapshot_file(file.index, file.bytes);
        }
        if let Some(marker) = marker {
            self.append(Pending::Marker(marker))?;
        }
        for entry in entries {
            self.append(Pending::Entry(entry))?;
        }
        if let Some(hard_state) = hard_state {
            self.append(Pending::HardState(hard_state))?;
        }
        Ok(())
    }

    /// Several `write_synced` batches, in order, written with one `write_all` and made durable
    /// by one fdatasync (none when no batch needs it): group commit across Readies that
    /// queued up behind a write in progress. Each batch is checked as `write_synced` checks
    /// it, after the ones before it; nothing is durable before `Ok`, and an error fails the
    /// log (as every write error does), so no later batch is written either.
    pub fn write_group(&mut self, batches: &[WriteBatch<'_>]) -> Result<(), WalError> {
        self.check_usable()?;
        self.begin_batch();
        // Set before encoding: a segment rolled on the way is synced with it.
        self.sync_batch = batches.iter().any(|b| b.sync);
        let mut released_through = None;
        for (position, batch) in batches.iter().enumerate() {
            assert!(
                batch.sync || (batch.snapshot.is_none() && batch.entries.is_empty()),
                "write_group: only a hard state may skip the fsync"
            );
            let (marker, entries) = match self.check_batch(batch) {
                Ok(checked) => checked,
                // Nothing changed yet: the log stays usable (a refused single write).
                Err(e) if position == 0 => return Err(e),
                // The batches before it changed the tracked state: the log fails.
                Err(e) => return self.fail_on_error(Err(e)),
            };
            let encoded = self.encode_batch(batch.snapshot, marker, entries, batch.hard_state);
            self.fail_on_error(encoded)?;
            if let Some(marker) = marker {
                released_through = Some(marker.index);
            }
        }
        let written = self.flush_and_release(released_through);
        self.fail_on_error(written)
    }

    /// Empties the batch buffer and, when the last segment was synced further than its last
    /// sync mark states, starts the batch with a new mark: it proves the records before it
    /// durable, so that recovery takes damage to them for corruption, not a torn tail. With
    /// `fsync` off nothing is durable, so no mark is written.
    fn begin_batch(&mut self) {
        self.buf.clear();
        self.mark_in_buf = None;
        if self.options.fsync && self.synced_bytes > self.marked_bytes {
            encode_sync_mark(self.options.protocol, self.synced_bytes, &mut self.buf);
            self.mark_in_buf = Some(self.synced_bytes);
        }
    }

    /// The checks of `write_synced` for `batch` after what is encoded so far: its snapshot's
    /// marker, if any, and its entries above the snapshot.
    fn check_batch<'a>(&self, batch: &WriteBatch<'a>) -> Result<(Option<Marker>, &'a [Entry]), WalError> {
        let marker = match batch.snapshot {
            Some(snapshot) => Some(self.check_snapshot(snapshot.meta.index, snapshot.meta.term)?),
            None => None,
        };
        let start_index = marker.map_or(self.shape.snapshot_index(), |m| m.index);
        let entries = &batch.entries[batch.entries.partition_point(|e| e.index <= start_index)..];
        self.check_entries(entries, marker.map_or(self.shape.last_index(), |m| m.last_index))?;
        Ok((marker, entries))
    }

    /// Encodes `record` into the batch, first rolling to a new segment if it would take the
    /// current one past `max_segment_bytes`, then applies it to the tracked state.
    fn append(&mut self, record: Pending<'_>) -> Result<(), WalError> {
        let record_start = self.buf.len();
        match &record {
            Pending::Entry(entry) => encode_entry(self.options.protocol, entry, &mut self.buf),
            Pending::HardState(hard_state) => encode_hard_state(self.options.protocol, hard_state, &mut self.buf),
            Pending::Marker(marker) => encode_marker(self.options.protocol, marker, &mut self.buf),
        }
        let segment = self.segments.back().expect("a segment is open");
        let holds_records = segment.bytes + record_start as u64 > segment.start_bytes;
        if holds_records && segment.bytes + self.buf.len() as u64 > self.options.max_segment_bytes {
            self.roll(record_start)?;
        }
        match record {
            Pending::Entry(entry) => {
                self.shape.append(entry.index, entry.term);
                let segment = self.segments.back_mut().expect("a segment is open");
                segment.max_entry_index = segment.max_entry_index.max(entry.index);
            }
            Pending::HardState(hard_state) => self.hard_state = hard_state,
            Pending::Marker(marker) => self.shape.apply_marker(marker),
        }
        Ok(())
    }

    /// Writes `buf[..split]` to the current segment and syncs it, trims the segment to its
    /// records, then starts the next segment with the current hard state and marker;
    /// `buf[split..]` stays for the new one.
    fn roll(&mut self, split: usize) -> Result<(), WalError> {
        if self.mark_in_buf.is_some() && split == SYNC_MARK_RECORD_BYTES {
            // A mark before no record of its segment proves nothing worth its bytes.
            self.mark_in_buf = None;
        } else {
            self.write_out(split)?;
        }
        self.buf.drain(..split);
        let (seq, bytes) = {
            let segment = self.segments.back().expect("a segment is open");
            (segment.seq + 1, segment.bytes)
        };
        // Only the last segment may have a torn tail or end in zeros (recovery takes any other
        // damage for corruption), so the segment rolled past is durable to its last record,
        // and trimmed to it, before the next one exists: also when the batch syncs nothing
        // or wrote nothing to it (records of earlier unsynced batches may be there).
        let path = self.dir.join(segment_file_name(seq - 1));
        if self.options.preallocate {
            self.file.set_len(bytes).map_err(io_error(&path))?;
            if self.options.fsync {
                self.file.sync_all().map_err(io_error(&path))?;
            }
            self.count_fsyncs(1);
        } else if self.synced_bytes < bytes {
            if self.options.fsync {
                self.file.sync_data().map_err(io_error(&path))?;
            }
            self.count_fsyncs(1);
        }
        let mut start = Vec::new();
        encode_segment_header(&mut start);
        encode_hard_state(self.options.protocol, &self.hard_state, &mut start);
        encode_marker(self.options.protocol, &self.shape.current_marker(), &mut start);
        let name = segment_file_name(seq);
        let allocation = self.options.allocation_for(start.len() as u64);
        let path = write_file_atomically(&self.fs, &self.dir, &name, &[&start], allocation, self.options.fsync)?;
        self.count_fsyncs(2);
        self.file = self.fs.open_write(&path).map_err(io_error(&path))?;
        self.file_bytes = allocation.max(start.len() as u64);
        let start_bytes = start.len() as u64;
        // Created whole and synced (when fsync): nothing of it needs a mark.
        (self.synced_bytes, self.marked_bytes) = (start_bytes, start_bytes);
        self.segments.push_back(SegmentInfo { seq, bytes: start_bytes, start_bytes, max_entry_index: 0 });
        Ok(())
    }

    /// Writes the whole batch and syncs it; a batch of nothing but its sync mark writes
    /// nothing.
    fn flush(&mut self) -> Result<(), WalError> {
        if !self.buf_holds_records() {
            return Ok(());
        }
        let batch_bytes = self.buf.len();
        self.write_out(batch_bytes)
    }

    /// Whether the batch buffer holds records other than its starting sync mark.
    fn buf_holds_records(&self) -> bool {
        let mark_bytes = if self.mark_in_buf.is_some() { SYNC_MARK_RECORD_BYTES } else { 0 };
        self.buf.len() > mark_bytes
    }

    /// Writes `buf[..len]` after the current segment's records with one `write_all_at`, then
    /// fdatasyncs it.
    fn write_out(&mut self, len: usize) -> Result<(), WalError> {
        if len == 0 {
            return Ok(());
        }
        let segment = self.segments.back_mut().expect("a segment is open");
        let path = self.dir.join(segment_file_name(segment.seq));
        let end = segment.bytes + len as u64;
        if end > self.file_bytes {
            // Past the allocated space: allocate the next step (this write's sync pays for the
            // new size; the writes up to the next step do not).
            let allocation = self.options.allocation_for(end);
            self.file.allocate(allocation);
            self.file_bytes = allocation.max(end);
        }
        self.file.write_all_at(&self.buf[..len], segment.bytes).map_err(io_error(&path))?;
        segment.bytes = end;
        if let Some(marked) = self.mark_in_buf.take() {
            self.marked_bytes = marked;
        }
        if !self.sync_batch {
            return Ok(());
        }
        if self.options.fsync {
            self.file.sync_data().map_err(io_error(&path))?;
            self.synced_bytes = end;
        }
        self.count_fsyncs(1);
        Ok(())
    }

    fn count_fsyncs(&mut self, count: u64) {
        if self.options.fsync {
            self.fsync_count += count;
        }
    }

    /// Releases the oldest segments while all their entries are at or below `index` (never
    /// the last segment), and the snapshot files older than `index`: renamed for deletion
    /// (`take_released`). Called once the snapshot at `index` and its marker are durable.
    fn release_through(&mut self, index: Index) -> Result<(), WalError> {
        let mut removed_any = false;
        while self.segments.len() > 1 && self.segments[0].max_entry_index <= index {
            let segment = self.segments.pop_front().expect("more than one segment");
            self.released.push(release_file(&self.fs, &self.dir, &segment_file_name(segment.seq))?);
            removed_any = true;
        }
        let older_count = self.snapshot_files.partition_point(|s| s.index < index);
        for old in self.snapshot_files.drain(..older_count) {
            self.released.push(release_file(&self.fs, &self.dir, &snapshot_file_name(old.index))?);
            removed_any = true;
        }
        if removed_any && self.options.fsync {
            sync_dir(&self.fs, &self.dir)?;
            self.fsync_count += 1;
        }
        Ok(())
    }
}
