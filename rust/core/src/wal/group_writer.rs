//! [`GroupWriter`]: a thread that makes Readies durable while the event loop goes on.
//!
//! The core is sans-IO except for the log, which does I/O and may own this thread: it only
//! ever writes the log. Handing each write to a Python thread pool costs about 90 µs of thread
//! and GIL hand-offs on top of the fsync (measured with uvloop); this thread never takes the
//! GIL. The loop submits Readies, the thread writes and fsyncs them, queues the outcomes and
//! writes one byte to a pipe whose read end the loop watches (`loop.add_reader(fd, ...)`);
//! the loop then drains [`GroupWriter::completed`]. Readies submitted while a write is in
//! progress are written together after it, with one fsync ([`Wal::write_group`]), and
//! complete in submission order.
//!
//! A follower's loop has nothing to do while its write is in progress but wait for it (the
//! leader's next entries cannot be written before it anyway), so it may [`GroupWriter::wait`]
//! for a write for a short while instead: the thread then wakes it through a condition
//! variable and writes no byte to the pipe, which saves the loop a wake-up through the
//! selector and a callback per write. A wait that times out (a slow disk) leaves the write to
//! the pipe as before.
//!
//! Invariants: write ids start at 1 and increase by one per accepted submit; outcomes are
//! queued in id order; at most [`MAX_WRITES_IN_FLIGHT`] writes are submitted and not yet
//! drained by `completed`, so the job channel, a group and the outcome queue are all bounded
//! by it.

use super::error::WalError;
use super::writer::{Wal, WriteBatch};
use crate::raft::mem_node::{PersistBatch, MAX_READIES_IN_FLIGHT};
use std::collections::VecDeque;
use std::io::{PipeReader, PipeWriter, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A log shared by its owner and a [`GroupWriter`]; `None` once the owner closed it (writes
/// then fail with [`WalError::Closed`]).
pub type SharedWal = Arc<Mutex<Option<Wal>>>;

/// Writes submitted and not yet drained by [`GroupWriter::completed`], at most: the core's
/// limit on Readies not yet advanced, each of which writes at most once.
pub const MAX_WRITES_IN_FLIGHT: usize = MAX_READIES_IN_FLIGHT;

/// Names a submitted write; the first is 1.
pub type WriteId = u64;

/// A finished write: `Ok` once it is durable. A failed write carries the log's error; the
/// writes after it in its group, and every later one, carry [`WalError::Failed`] (or
/// [`WalError::Closed`]): none of them is durable.
pub type WriteOutcome = (WriteId, Result<(), WalError>);

struct Job {
    id: WriteId,
    batch: Arc<PersistBatch>,
}

/// Finished writes not yet drained, and whether the loop waits for one.
#[derive(Default)]
struct DoneState {
    /// Ascending ids; at most `MAX_WRITES_IN_FLIGHT`.
    outcomes: VecDeque<WriteOutcome>,
    /// The highest write id finished, 0 before the first.
    last_done: WriteId,
    /// How long the last group write took (write and fsync), as the thread measured it.
    last_write: Duration,
    /// True while the loop waits in `wait()`: the thread then notifies `Done::finished`
    /// instead of writing to the pipe.
    loop_waiting: bool,
}

#[derive(Default)]
struct Done {
    state: Mutex<DoneState>,
    finished: Condvar,
}

impl Done {
    fn lock(&self) -> MutexGuard<'_, DoneState> {
        self.state.lock().expect("group writer: poisoned lock")
    }
}

/// Ids handed out and writes not yet drained.
#[derive(Default)]
struct Submitted {
    /// The id of the last accepted submit, 0 before the first.
    last_id: WriteId,
    /// Accepted and not yet drained by `completed`. Invariant: `<= MAX_WRITES_IN_FLIGHT`.
    in_flight: usize,
}

/// A background writer over a [`SharedWal`] doing group commit (see the module docs).
pub struct GroupWriter {
    /// `None` once closed: the thread ends when the channel is dropped and drained.
    jobs: Mutex<Option<SyncSender<Job>>>,
    done: Arc<Done>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The read end of the wake-up pipe: one byte per finished group the loop did not wait for.
    wake_reader: PipeReader,
    submitted: Mutex<Submitted>,
}

impl GroupWriter {
    /// Starts the writer thread over `wal`.
    pub fn start(wal: SharedWal) -> Result<GroupWriter, WalError> {
        let (wake_reader, wake_writer) = std::io::pipe().map_err(WalError::WriterStart)?;
        let (jobs, receiver) = sync_channel(MAX_WRITES_IN_FLIGHT);
        let done = Arc::new(Done::default());
        let thread_done = done.clone();
        let thread = std::thread::Builder::new()
            .name("senate-wal-writer".into())
            .spawn(move || run(wal, receiver, thread_done, wake_writer))
            .map_err(WalError::WriterStart)?;
        Ok(GroupWriter {
            jobs: Mutex::new(Some(jobs)),
            done,
            thread: Mutex::new(Some(thread)),
            wake_reader,
            submitted: Mutex::new(Submitted::default()),
        })
    }

    /// The read end of the wake-up pipe: readable once a write finished that nobody waited
    /// for in [`wait`](Self::wait). Drain it, then call [`completed`](Self::completed).
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_reader.as_fd()
    }

    /// Queues `batch` for writing and returns its id at once. Never blocks on the disk:
    /// past [`MAX_WRITES_IN_FLIGHT`] writes not yet drained it is
    /// [`WalError::TooManyWritesInFlight`], after [`close`](Self::close) it is
    /// [`WalError::WriterClosed`].
    pub fn submit(&self, batch: Arc<PersistBatch>) -> Result<WriteId, WalError> {
        let jobs = self.jobs.lock().expect("group writer: poisoned lock");
        let Some(jobs) = jobs.as_ref() else { return Err(WalError::WriterClosed) };
        let mut submitted = self.submitted.lock().expect("group writer: poisoned lock");
        if submitted.in_flight >= MAX_WRITES_IN_FLIGHT {
            return Err(WalError::TooManyWritesInFlight { limit: MAX_WRITES_IN_FLIGHT });
        }
        let id = submitted.last_id + 1;
        match jobs.try_send(Job { id, batch }) {
            Ok(()) => {
                submitted.last_id = id;
                submitted.in_flight += 1;
                Ok(id)
            }
            // The channel holds at most MAX_WRITES_IN_FLIGHT jobs and fewer are in flight.
            Err(TrySendError::Full(_)) => unreachable!("group writer: job channel full below the in-flight limit"),
            Err(TrySendError::Disconnected(_)) => Err(WalError::WriterClosed),
        }
    }

    /// The outcome of each finished write not drained before, in submission order.
    pub fn completed(&self) -> Vec<WriteOutcome> {
        let outcomes: Vec<WriteOutcome> = self.done.lock().outcomes.drain(..).collect();
        let mut submitted = self.submitted.lock().expect("group writer: poisoned lock");
        submitted.in_flight -= outcomes.len();
        outcomes
    }

    /// Waits up to `bound` for write `id` to finish; whether it did. A write that finishes
    /// while the caller waits writes no byte to the pipe.
    pub fn wait(&self, id: WriteId, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut state = self.done.lock();
        while state.last_done < id {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state.loop_waiting = true;
            state = self.done.finished.wait_timeout(state, deadline - now).expect("group writer: poisoned lock").0;
        }
        state.loop_waiting = false;
        state.last_done >= id
    }

    /// How long the last group write took (its write and fsync); zero before the first.
    pub fn last_write(&self) -> Duration {
        self.done.lock().last_write
    }

    /// Finishes the writes submitted, then stops and joins the thread. Later submits are
    /// [`WalError::WriterClosed`]; outcomes not drained stay for `completed`. Idempotent.
    /// Dropping the writer without `close` lets the thread finish the same way, unjoined.
    pub fn close(&self) {
        drop(self.jobs.lock().expect("group writer: poisoned lock").take());
        let thread = self.thread.lock().expect("group writer: poisoned lock").take();
        if let Some(thread) = thread {
            // A panic of the thread was reported on stderr already; its outcomes are lost,
            // so the loop sees writes that never complete and stops on its own deadline.
            let _ = thread.join();
        }
    }
}

/// The writer thread: takes the first job waiting and every job queued behind it (a group),
/// writes them with one `write_group`, queues the outcomes and tells the loop.
fn run(wal: SharedWal, jobs: Receiver<Job>, done: Arc<Done>, mut wake: PipeWriter) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_WRITES_IN_FLIGHT);
    while let Ok(first) = jobs.recv() {
        group.push(first);
        while group.len() < MAX_WRITES_IN_FLIGHT {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = write_group(&wal, &group);
        let took = started.elapsed();
        let loop_waiting = {
            let mut state = done.lock();
            state.last_write = took;
            let mut error = result.err();
            let failed = error.is_some();
            for job in group.drain(..) {
                // The first write of a failed group carries the error; the log is failed for
                // the others, which were not written either.
                let outcome = match failed {
                    false => Ok(()),
                    true => Err(error.take().unwrap_or(WalError::Failed)),
                };
                debug_assert!(job.id > state.last_done, "group writer: ids out of order");
                state.last_done = job.id;
                state.outcomes.push_back((job.id, outcome));
            }
            state.loop_waiting
        };
        if loop_waiting {
            done.finished.notify_one();
        } else {
            // The loop reads these bytes; if it is gone there is nobody to tell.
            let _ = wake.write_all(&[1]);
        }
    }
}

/// Writes the batches of `group` with one `write_group` call (one fsync).
fn write_group(wal: &SharedWal, group: &[Job]) -> Result<(), WalError> {
    let batches: Vec<WriteBatch<'_>> = group
        .iter()
        .map(|job| WriteBatch {
            snapshot: job.batch.snapshot.as_ref(),
            entries: &job.batch.entries,
            hard_state: job.batch.hard_state,
            sync: job.batch.must_sync,
        })
        .collect();
    match wal.lock().expect("wal: poisoned lock").as_mut() {
        Some(wal) => wal.write_group(&batches),
        None => Err(WalError::Closed),
    }
}
