//! The event trace of a run: a fingerprint of every event (for the determinism test: the same
//! seed must give the same fingerprint), and optionally the last lines in words (for replaying a
//! failing seed by eye).

use crate::sim::fingerprint::Fingerprint;
use std::collections::VecDeque;

/// Event codes folded into the trace fingerprint ahead of each event's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Tick = 1,
    Deliver = 2,
    Send = 3,
    Fault = 4,
    Client = 5,
    Apply = 6,
    Role = 7,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    fingerprint: Fingerprint,
    /// The last `keep_lines` lines in words; empty (and never formatted) when 0.
    lines: VecDeque<String>,
    keep_lines: usize,
}

impl Trace {
    /// A trace that keeps the last `keep_lines` events in words (0: the fingerprint only).
    pub fn new(keep_lines: usize) -> Trace {
        Trace { fingerprint: Fingerprint::default(), lines: VecDeque::new(), keep_lines }
    }

    /// Folds one event into the fingerprint.
    pub fn record(&mut self, event: Event, fields: &[u64]) {
        self.fingerprint = self.fingerprint.with_u64(event as u64);
        for &field in fields {
            self.fingerprint = self.fingerprint.with_u64(field);
        }
    }

    /// Folds bytes into the fingerprint (a frame's content, for instance).
    pub fn record_bytes(&mut self, bytes: &[u8]) {
        self.fingerprint = self.fingerprint.with_bytes(bytes);
    }

    /// Keeps a line in words, formatted only when lines are kept.
    pub fn note(&mut self, line: impl FnOnce() -> String) {
        if self.keep_lines == 0 {
            return;
        }
        if self.lines.len() == self.keep_lines {
            self.lines.pop_front();
        }
        self.lines.push_back(line());
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub fn into_lines(self) -> Vec<String> {
        self.lines.into()
    }
}
