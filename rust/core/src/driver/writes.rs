//! The Readies taken and not yet advanced, and their writes in flight (pipelined writes).
//!
//! A Ready's `persisted_messages` promise what it and every Ready before it wrote, so they
//! leave, and the core is advanced past it, once those writes are durable. Writes complete in
//! the order they were handed out.

use crate::driver::action::{Action, WriteId};
use crate::driver::options::Nanos;
use crate::raft::message::NodeId;
use std::collections::VecDeque;

/// One Ready taken and not yet advanced.
#[derive(Debug)]
struct Unadvanced {
    /// Its write, or `None` when it wrote nothing (it is advanced in turn behind the writes
    /// before it).
    write_id: Option<WriteId>,
    persisted_messages: Vec<(NodeId, Vec<u8>)>,
    taken_ns: Nanos,
}

#[derive(Debug)]
pub struct Writes {
    /// Oldest first; at most the core's `max_readies_in_flight`.
    unadvanced: VecDeque<Unadvanced>,
    /// Entries of `unadvanced` with a write. Invariant: `<= unadvanced.len()`.
    in_flight: usize,
    /// The id the next write gets; ids start at 1.
    next_id: WriteId,
    /// Readies at the front of `unadvanced` that became durable: the core is advanced past
    /// them on the next poll.
    advance_due: usize,
}

impl Default for Writes {
    fn default() -> Writes {
        Writes { unadvanced: VecDeque::new(), in_flight: 0, next_id: 1, advance_due: 0 }
    }
}

impl Writes {
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn unadvanced(&self) -> usize {
        self.unadvanced.len()
    }

    /// A new write id for a Ready being taken.
    pub fn next_write_id(&mut self) -> WriteId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Records a Ready taken that must wait before its messages leave and it is advanced
    /// (it writes, or writes before it are in flight).
    pub fn push(&mut self, write_id: Option<WriteId>, persisted_messages: Vec<(NodeId, Vec<u8>)>, now_ns: Nanos) {
        self.in_flight += write_id.is_some() as usize;
        self.unadvanced.push_back(Unadvanced { write_id, persisted_messages, taken_ns: now_ns });
    }

    /// Whether the oldest Ready waiting has waited `stall_ns` or more.
    pub fn oldest_waited(&self, now_ns: Nanos, stall_ns: Nanos) -> bool {
        self.unadvanced.front().is_some_and(|oldest| now_ns.saturating_sub(oldest.taken_ns) >= stall_ns)
    }

    /// Writes up to `done_id` are durable: their Readies' messages leave (as `Send` actions)
    /// and they become due an advance.
    pub fn complete(&mut self, done_id: WriteId, now_ns: Nanos, slow_ns: Nanos, out: &mut Vec<Action>) {
        while let Some(front) = self.unadvanced.front() {
            if front.write_id.is_some_and(|id| id > done_id) {
                return;
            }
            let Unadvanced { write_id, persisted_messages, taken_ns } =
                self.unadvanced.pop_front().expect("front exists");
            out.extend(persisted_messages.into_iter().map(|(to, frames)| Action::Send { to, frames }));
            if let Some(id) = write_id {
                self.in_flight -= 1;
                let elapsed_ns = now_ns.saturating_sub(taken_ns);
                out.push(Action::Durable { id, elapsed_ns, slow: elapsed_ns >= slow_ns });
            }
            self.advance_due += 1;
        }
    }

    /// How many Readies are due an advance; resets the count.
    pub fn take_advance_due(&mut self) -> usize {
        std::mem::take(&mut self.advance_due)
    }

    /// Forgets everything in flight (a crash: the writes are lost with the process).
    pub fn clear(&mut self) {
        self.unadvanced.clear();
        self.in_flight = 0;
        self.advance_due = 0;
    }
}
