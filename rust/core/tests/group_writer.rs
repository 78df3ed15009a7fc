//! The WAL's group writer thread against real files: order of completion, group commit, I/O
//! errors, the wake-up pipe, the bounded wait, close, and recovery of what it wrote.
//!
//! No test sleeps: a write is held back by holding the log's lock (the writer thread cannot
//! write without it), and every wait is on a condition with a deadline.

use bytes::Bytes;
use senate_core::wal::{GroupWriter, SharedWal, WriteId, WriteOutcome, MAX_WRITES_IN_FLIGHT};
use senate_core::{Entry, EntryKind, HardState, Index, PersistBatch, Wal, WalError, WalOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;

/// How long a test waits for a write that must finish: far above any real fsync, so only a
/// bug reaches it.
const DEADLINE: Duration = Duration::from_secs(30);

fn entry(index: Index, data_bytes: usize) -> Entry {
    Entry { index, term: 1, kind: EntryKind::Normal, data: Bytes::from(vec![index as u8; data_bytes]) }
}

/// One Ready's write: entry `index` and a hard state committing the one before it.
fn batch(index: Index) -> Arc<PersistBatch> {
    batch_of(entry(index, 8))
}

fn batch_of(entry: Entry) -> Arc<PersistBatch> {
    let commit = entry.index - 1;
    Arc::new(PersistBatch {
        snapshot: None,
        entries: vec![entry],
        hard_state: Some(HardState::new(1, 1, commit)),
        must_sync: true,
    })
}

fn open(dir: &Path, options: WalOptions) -> SharedWal {
    let (wal, recovered) = Wal::open(dir, options).expect("open");
    assert!(recovered.entries.is_empty(), "a new log is empty");
    Arc::new(Mutex::new(Some(wal)))
}

fn new_log() -> (TempDir, SharedWal, GroupWriter) {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path(), WalOptions::default());
    let writer = GroupWriter::start(wal.clone()).expect("start");
    (dir, wal, writer)
}

fn fsync_count(wal: &SharedWal) -> u64 {
    wal.lock().unwrap().as_ref().expect("open").stats().fsync_count
}

/// Waits for write `last` (and so every write before it) and drains the outcomes.
fn outcomes_through(writer: &GroupWriter, last: WriteId) -> Vec<WriteOutcome> {
    assert!(writer.wait(last, DEADLINE), "write {last} did not finish within {DEADLINE:?}");
    writer.completed()
}

fn assert_all_durable(outcomes: &[WriteOutcome], ids: std::ops::RangeInclusive<WriteId>) {
    let found: Vec<WriteId> = outcomes.iter().map(|(id, _)| *id).collect();
    assert_eq!(found, ids.collect::<Vec<_>>(), "outcomes in submission order");
    for (id, result) in outcomes {
        assert!(result.is_ok(), "write {id}: {result:?}");
    }
}

/// Whether the wake-up pipe is readable within `timeout` (`poll(2)`).
fn wake_readable(writer: &GroupWriter, timeout: Duration) -> bool {
    let mut poll_fd = libc::pollfd { fd: writer.wake_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap();
    // SAFETY: one valid pollfd for the duration of the call; the fd is open while `writer` lives.
    let ready_count = unsafe { libc::poll(&mut poll_fd, 1, timeout_ms) };
    assert!(ready_count >= 0, "poll: {}", std::io::Error::last_os_error());
    ready_count == 1 && poll_fd.revents & libc::POLLIN != 0
}

/// Reopens the log in `dir` after its writer and handle are gone; the entries it recovered.
fn reopen_entries(dir: &Path, wal: &SharedWal) -> Vec<Entry> {
    drop(wal.lock().unwrap().take());
    let (_wal, recovered) = Wal::open(dir, WalOptions::default()).expect("reopen");
    recovered.entries
}

#[test]
fn writes_complete_in_submission_order_and_are_recovered_on_reopen() {
    let (dir, wal, writer) = new_log();
    let ids: Vec<WriteId> = (1..=20).map(|index| writer.submit(batch(index)).unwrap()).collect();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>(), "ids count from 1");
    assert_all_durable(&outcomes_through(&writer, 20), 1..=20);
    assert!(writer.last_write() > Duration::ZERO, "the last write's duration is measured");
    writer.close();
    let recovered = reopen_entries(dir.path(), &wal);
    assert_eq!(recovered, (1..=20).map(|index| entry(index, 8)).collect::<Vec<_>>());
}

#[test]
fn writes_queued_behind_a_write_in_progress_share_one_fsync() {
    let (dir, wal, writer) = new_log();
    let fsyncs_before = fsync_count(&wal);
    let write_count = 10;
    {
        // The thread takes the first write(s) and blocks on the lock: every later submit
        // queues behind that write in progress.
        let _held = wal.lock().unwrap();
        for index in 1..=write_count {
            writer.submit(batch(index)).unwrap();
        }
    }
    assert_all_durable(&outcomes_through(&writer, write_count), 1..=write_count);
    // One write_group (one fdatasync) for what the thread took before the lock was released,
    // one for everything queued behind it; one per write would be 10.
    let fsyncs = fsync_count(&wal) - fsyncs_before;
    assert!((1..=2).contains(&fsyncs), "{write_count} writes took {fsyncs} fsyncs");
    writer.close();
    assert_eq!(reopen_entries(dir.path(), &wal).len(), write_count as usize);
}

#[test]
fn an_io_error_fails_its_write_and_no_later_write_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions { max_segment_bytes: 512, preallocate: false, ..WalOptions::default() };
    let wal = open(dir.path(), options);
    let writer = GroupWriter::start(wal.clone()).unwrap();
    assert_all_durable(&outcomes_through(&writer, writer.submit(batch(1)).unwrap()), 1..=1);
    // The next segment cannot be created: a directory holds its temporary name (an error
    // even for root, unlike permissions).
    let segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|name| name.ends_with(".wal"))
        .expect("a segment");
    let next_seq = u64::from_str_radix(segment.trim_end_matches(".wal"), 16).unwrap() + 1;
    let blocked = dir.path().join(format!("{next_seq:016x}.wal.tmp"));
    std::fs::create_dir(&blocked).unwrap();
    let rolling = writer.submit(batch_of(entry(2, 600))).unwrap();
    let later = writer.submit(batch(3)).unwrap();
    let outcomes = outcomes_through(&writer, later);
    assert_eq!(outcomes.len(), 2);
    assert!(
        matches!(&outcomes[0], (id, Err(WalError::Io { path, .. })) if *id == rolling && *path == blocked),
        "{:?}",
        outcomes[0]
    );
    assert!(matches!(&outcomes[1], (id, Err(WalError::Failed)) if *id == later), "{:?}", outcomes[1]);
    writer.close();
    std::fs::remove_dir(&blocked).unwrap();
    assert_eq!(reopen_entries(dir.path(), &wal), vec![entry(1, 8)], "only the acknowledged write survives");
}

#[test]
fn the_wake_pipe_becomes_readable_after_a_completion() {
    let (_dir, _wal, writer) = new_log();
    assert!(!wake_readable(&writer, Duration::ZERO), "nothing finished yet");
    let id = writer.submit(batch(1)).unwrap();
    assert!(wake_readable(&writer, DEADLINE), "no wake-up byte for write {id}");
    assert_all_durable(&writer.completed(), 1..=1);
}

#[test]
fn wait_is_true_once_the_write_finished_within_the_bound_and_false_otherwise() {
    let (_dir, wal, writer) = new_log();
    let id = {
        let _held = wal.lock().unwrap();
        let id = writer.submit(batch(1)).unwrap();
        // The thread cannot write while the lock is held: the bound passes first.
        assert!(!writer.wait(id, Duration::from_millis(20)), "write {id} finished under a held lock");
        id
    };
    assert!(writer.wait(id, DEADLINE), "write {id} did not finish");
    assert!(writer.wait(id, Duration::ZERO), "a finished write needs no waiting");
    assert!(!writer.wait(id + 1, Duration::ZERO), "a write never submitted is not finished");
    assert_all_durable(&writer.completed(), 1..=1);
}

#[test]
fn close_finishes_and_joins_and_a_later_submit_is_an_error() {
    let (_dir, _wal, writer) = new_log();
    for index in 1..=5 {
        writer.submit(batch(index)).unwrap();
    }
    writer.close();
    // Joined: every write submitted before close has its outcome, without waiting.
    assert_all_durable(&writer.completed(), 1..=5);
    assert!(matches!(writer.submit(batch(6)), Err(WalError::WriterClosed)));
    writer.close();
}

#[test]
fn a_submit_past_the_in_flight_limit_is_refused_not_blocked() {
    let (_dir, wal, writer) = new_log();
    let limit = MAX_WRITES_IN_FLIGHT as Index;
    {
        let _held = wal.lock().unwrap();
        for index in 1..=limit {
            writer.submit(batch(index)).unwrap();
        }
        let refused = writer.submit(batch(limit + 1));
        assert!(
            matches!(refused, Err(WalError::TooManyWritesInFlight { limit }) if limit == MAX_WRITES_IN_FLIGHT),
            "{refused:?}"
        );
    }
    // Finished but not drained still counts; drained frees the room.
    assert!(writer.wait(limit, DEADLINE));
    assert!(matches!(writer.submit(batch(limit + 1)), Err(WalError::TooManyWritesInFlight { .. })));
    assert_all_durable(&writer.completed(), 1..=limit);
    assert_eq!(writer.submit(batch(limit + 1)).unwrap(), limit + 1, "the refused id is not used up");
}

#[test]
fn a_write_to_a_closed_log_fails() {
    let (_dir, wal, writer) = new_log();
    drop(wal.lock().unwrap().take());
    let id = writer.submit(batch(1)).unwrap();
    let outcomes = outcomes_through(&writer, id);
    assert!(matches!(outcomes.as_slice(), [(1, Err(WalError::Closed))]), "{outcomes:?}");
}
