//! [`WalDriver`]: a [`Driver`] whose writes go to the durable log's writer thread.
//!
//! The one duty a production caller carries out the same way whatever its language: a
//! `Write` is submitted to the [`GroupWriter`] (which group-commits it in its own thread) and
//! never leaves the core; finished writes are drained back into the driver. The caller (the
//! Python runtime) gets every other action. Without a log (an in-memory node) nothing is
//! written and this is the bare driver.

use crate::driver::action::{Action, WriteId};
use crate::driver::options::Nanos;
use crate::driver::protocol::{Consensus, NodeRole};
use crate::driver::ready_loop::{Driver, DriverError, Next};
use crate::wal::GroupWriter;
use std::sync::Arc;
use std::time::Duration;

pub struct WalDriver<C: Consensus> {
    driver: Driver<C>,
    writer: Option<Arc<GroupWriter>>,
    /// The last write submitted by the last poll, until `follower_wait` looked at it.
    submitted_by_poll: Option<WriteId>,
}

impl<C: Consensus> WalDriver<C> {
    /// `driver` with its writes going to `writer`; without one the driver must not be durable
    /// (it hands out no writes).
    pub fn new(driver: Driver<C>, writer: Option<Arc<GroupWriter>>) -> WalDriver<C> {
        debug_assert_eq!(driver.options().durable, writer.is_some());
        WalDriver { driver, writer, submitted_by_poll: None }
    }

    pub fn driver(&self) -> &Driver<C> {
        &self.driver
    }

    pub fn driver_mut(&mut self) -> &mut Driver<C> {
        &mut self.driver
    }

    pub fn writer(&self) -> Option<&Arc<GroupWriter>> {
        self.writer.as_ref()
    }

    /// [`Driver::poll`], with its `Write`s submitted to the writer (they are not in `out`).
    /// A write the writer refuses (it was closed) fails the driver as a failed write does.
    pub fn poll(&mut self, now_ns: Nanos, out: &mut Vec<Action>) -> Result<Next, DriverError> {
        let start = out.len();
        let next = self.driver.poll(now_ns, out)?;
        if self.writer.is_none() {
            return Ok(next);
        }
        let mut kept = start;
        for i in start..out.len() {
            if let Action::Write { id, batch } = &out[i] {
                self.submit(*id, batch.clone());
            } else {
                out.swap(kept, i);
                kept += 1;
            }
        }
        out.truncate(kept);
        Ok(next)
    }

    fn submit(&mut self, id: WriteId, batch: Arc<crate::raft::mem_node::PersistBatch>) {
        let writer = self.writer.as_ref().expect("a durable driver has a writer");
        match writer.submit(batch) {
            // Both count writes from 1 in the order handed out: they agree unless a write was
            // lost between them, which would make every later completion wrong.
            Ok(submitted) if submitted == id => self.submitted_by_poll = Some(id),
            Ok(submitted) => self
                .driver
                .write_failed(id, format!("the log writer numbered write {id} as {submitted}: writes out of order")),
            Err(error) => self.driver.write_failed(id, error.to_string()),
        }
    }

    /// Drains the writer's finished writes into the driver (at `now_ns`); appends the messages
    /// they release and a `Durable` for each. A failed write fails the next poll.
    pub fn take_completions(&mut self, now_ns: Nanos, out: &mut Vec<Action>) {
        let Some(writer) = &self.writer else { return };
        for (id, outcome) in writer.completed() {
            match outcome {
                Ok(()) => self.driver.writes_done(id, now_ns, out),
                Err(error) => {
                    // Nothing after this write is durable either.
                    self.driver.write_failed(id, error.to_string());
                    break;
                }
            }
        }
    }

    /// The write a follower should wait for in its own thread, for at most `bound`, after the
    /// last poll: a follower cannot write the leader's next entries before its write completes
    /// anyway, and its answer then leaves without a wake-up through the caller's selector.
    /// Only its one write in flight (behind a stalled one it would wait in vain), and only
    /// while writes are quick (the last took at most `bound`), so a stalled disk holds the
    /// caller for one bound, not for the stall.
    pub fn follower_wait(&mut self, bound: Duration) -> Option<(Arc<GroupWriter>, WriteId)> {
        let id = self.submitted_by_poll.take()?;
        let writer = self.writer.as_ref()?;
        let wait = !bound.is_zero()
            && self.driver.role() == NodeRole::Follower
            && self.driver.writes_in_flight() == 1
            && writer.last_write() <= bound;
        wait.then(|| (writer.clone(), id))
    }
}
