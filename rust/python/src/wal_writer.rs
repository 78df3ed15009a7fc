//! `WalWriter`: a thread that makes Readies durable while the event loop goes on.
//!
//! Handing each write to a Python thread pool costs about 90 µs of thread and GIL hand-offs
//! on top of the fsync (measured here with uvloop); this thread never takes the GIL. The loop
//! submits Readies, the thread writes and fsyncs them, queues the outcomes and writes one byte
//! to a pipe whose read end the loop watches (`loop.add_reader(writer.fileno(), ...)`); the
//! loop then drains `completed()`. Readies submitted while a write is in progress are written
//! together after it, with one fsync (`Wal::write_group`), and complete in submission order.
//!
//! A follower's loop has nothing to do while its write is in progress but wait for it (the
//! leader's next entries cannot be written before it anyway), so it may `wait()` for a write
//! for a short while instead: the thread then wakes it through a condition variable and writes
//! no byte to the pipe, which saves the loop a wake-up through the selector and a callback per
//! write. A wait that times out (a slow disk) leaves the write to the pipe as before.

use crate::errors::{wal_error, WalError};
use crate::ready::Ready;
use crate::wal::{SharedWal, Wal};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use senate_core::{PersistBatch, WriteBatch};
use std::collections::VecDeque;
use std::io::{PipeReader, PipeWriter, Write};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Writes submitted and not yet drained by `completed()`, at most: the core's limit on
/// Readies not yet advanced, each of which writes at most once.
pub const MAX_WRITES_IN_FLIGHT: usize = senate_core::MAX_READIES_IN_FLIGHT;

struct Job {
    id: u64,
    batch: Arc<PersistBatch>,
}

type Outcome = (u64, Result<(), Option<senate_core::WalError>>);

/// Finished writes not yet drained, and whether the loop waits for one.
#[derive(Default)]
struct DoneState {
    outcomes: VecDeque<Outcome>,
    /// The highest write id finished, 0 before the first.
    last_done: u64,
    /// How long the last group write took (write and fsync), as this thread measured it.
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

/// A background writer over a `Wal` (see `_core.pyi`).
#[pyclass(frozen, module = "senate._core")]
pub struct WalWriter {
    jobs: Mutex<Option<SyncSender<Job>>>,
    done: Arc<Done>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The read end of the wake-up pipe: one byte per finished write.
    wake_reader: PipeReader,
    next_id: Mutex<u64>,
}

fn run(wal: SharedWal, jobs: std::sync::mpsc::Receiver<Job>, done: Arc<Done>, mut wake: PipeWriter) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_WRITES_IN_FLIGHT);
    while let Ok(first) = jobs.recv() {
        group.push(first);
        while group.len() < MAX_WRITES_IN_FLIGHT {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let batches: Vec<WriteBatch<'_>> = group
            .iter()
            .map(|job| WriteBatch {
                snapshot: job.batch.snapshot.as_ref(),
                entries: &job.batch.entries,
                hard_state: job.batch.hard_state,
                sync: job.batch.must_sync,
            })
            .collect();
        let started = Instant::now();
        let result = match wal.lock().expect("wal: poisoned lock").as_mut() {
            Some(wal) => wal.write_group(&batches).map_err(Some),
            None => Err(None),
        };
        drop(batches);
        let took = started.elapsed();
        let loop_waiting = {
            let mut done = done.state.lock().expect("wal writer: poisoned lock");
            done.last_write = took;
            let failed = result.is_err();
            let mut error = result.err();
            for job in group.drain(..) {
                // The first write of a failed group carries the error; the log is failed for
                // the others, which were not written either.
                let outcome = match failed {
                    false => Ok(()),
                    true => Err(error.take().unwrap_or(Some(senate_core::WalError::Failed))),
                };
                done.last_done = job.id;
                done.outcomes.push_back((job.id, outcome));
            }
            done.loop_waiting
        };
        if loop_waiting {
            done.finished.notify_one();
        } else {
            // The loop reads these bytes; if it is gone there is nobody to tell.
            let _ = wake.write_all(&[1]);
        }
    }
}

#[pymethods]
impl WalWriter {
    #[new]
    fn new(wal: PyRef<'_, Wal>) -> PyResult<WalWriter> {
        let (wake_reader, wake_writer) = std::io::pipe().map_err(|e| WalError::new_err(format!("pipe: {e}")))?;
        let (jobs, receiver) = sync_channel(MAX_WRITES_IN_FLIGHT);
        let done = Arc::new(Done::default());
        let shared = wal.shared();
        let thread_done = done.clone();
        let thread = std::thread::Builder::new()
            .name("senate-wal-writer".into())
            .spawn(move || run(shared, receiver, thread_done, wake_writer))
            .map_err(|e| WalError::new_err(format!("starting the writer thread: {e}")))?;
        Ok(WalWriter {
            jobs: Mutex::new(Some(jobs)),
            done,
            thread: Mutex::new(Some(thread)),
            wake_reader,
            next_id: Mutex::new(0),
        })
    }

    /// The file descriptor to watch for finished writes.
    fn fileno(&self) -> i32 {
        self.wake_reader.as_raw_fd()
    }

    fn submit(&self, ready: PyRef<'_, Ready>) -> PyResult<Option<u64>> {
        let Some(batch) = ready.persist_batch() else { return Ok(None) };
        let id = {
            let mut next = self.next_id.lock().expect("wal writer: poisoned lock");
            *next += 1;
            *next
        };
        let jobs = self.jobs.lock().expect("wal writer: poisoned lock");
        let Some(jobs) = jobs.as_ref() else { return Err(WalError::new_err("the writer is closed")) };
        match jobs.try_send(Job { id, batch }) {
            Ok(()) => Ok(Some(id)),
            Err(TrySendError::Full(_)) => {
                Err(PyValueError::new_err(format!("more than {MAX_WRITES_IN_FLIGHT} writes in flight")))
            }
            Err(TrySendError::Disconnected(_)) => Err(WalError::new_err("the writer thread is gone")),
        }
    }

    /// Waits up to `timeout_s` (GIL released) for write `id` to finish; whether it did.
    fn wait(&self, py: Python<'_>, id: u64, timeout_s: f64) -> PyResult<bool> {
        let timeout =
            Duration::try_from_secs_f64(timeout_s).map_err(|e| PyValueError::new_err(format!("timeout_s: {e}")))?;
        Ok(py.detach(|| {
            let deadline = Instant::now() + timeout;
            let mut state = self.done.state.lock().expect("wal writer: poisoned lock");
            while state.last_done < id {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                state.loop_waiting = true;
                state = self.done.finished.wait_timeout(state, deadline - now).expect("wal writer: poisoned lock").0;
            }
            state.loop_waiting = false;
            state.last_done >= id
        }))
    }

    /// How long the last write took (write and fsync of its group), in seconds; 0 before
    /// the first.
    #[getter]
    fn last_write_s(&self) -> f64 {
        self.done.state.lock().expect("wal writer: poisoned lock").last_write.as_secs_f64()
    }

    /// `(id, error)` of each finished write, in order; `error` is None on success.
    fn completed(&self) -> Vec<(u64, Option<PyErr>)> {
        let outcomes: Vec<Outcome> =
            self.done.state.lock().expect("wal writer: poisoned lock").outcomes.drain(..).collect();
        outcomes
            .into_iter()
            .map(|(id, result)| {
                let error =
                    result.err().map(|err| err.map_or_else(|| WalError::new_err("the log is closed"), wal_error));
                (id, error)
            })
            .collect()
    }

    /// Finishes the writes submitted, then stops the thread.
    fn close(&self, py: Python<'_>) {
        drop(self.jobs.lock().expect("wal writer: poisoned lock").take());
        let thread = self.thread.lock().expect("wal writer: poisoned lock").take();
        if let Some(thread) = thread {
            py.detach(|| {
                let _ = thread.join();
            });
        }
    }
}
