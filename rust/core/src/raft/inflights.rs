//! The in-flight window of AppendEntries to one follower, bounded in messages and bytes.

use crate::raft::message::Index;
use std::collections::VecDeque;

/// Invariant: `buffer` holds the last index of each unacknowledged message, ascending;
/// `buffer.len() <= cap_msgs`; `bytes` is the sum of their payload sizes.
#[derive(Clone, Debug)]
pub struct Inflights {
    buffer: VecDeque<(Index, usize)>,
    bytes: usize,
    cap_msgs: usize,
    /// 0 = no byte limit.
    cap_bytes: usize,
}

impl Inflights {
    pub fn new(cap_msgs: usize, cap_bytes: usize) -> Inflights {
        Inflights { buffer: VecDeque::new(), bytes: 0, cap_msgs, cap_bytes }
    }

    /// Records a message whose last entry is `last_index` carrying `bytes`.
    pub fn add(&mut self, last_index: Index, bytes: usize) {
        assert!(!self.full(), "inflights: add to a full window");
        debug_assert!(self.buffer.back().is_none_or(|&(i, _)| i < last_index), "inflights: indexes must ascend");
        self.buffer.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Frees every message whose last index is at most `index` (acknowledged).
    pub fn free_le(&mut self, index: Index) {
        while let Some(&(i, b)) = self.buffer.front() {
            if i > index {
                break;
            }
            self.bytes -= b;
            self.buffer.pop_front();
        }
    }

    /// Frees the oldest message (a heartbeat response shows the follower is alive, so one
    /// more message may go while the window is full; etcd does the same).
    pub fn free_first_one(&mut self) {
        if let Some((_, b)) = self.buffer.pop_front() {
            self.bytes -= b;
        }
    }

    pub fn full(&self) -> bool {
        self.buffer.len() >= self.cap_msgs || (self.cap_bytes > 0 && self.bytes >= self.cap_bytes)
    }

    pub fn count(&self) -> usize {
        self.buffer.len()
    }

    pub fn reset(&mut self) {
        self.buffer.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_fills_by_count_and_by_bytes() {
        let mut w = Inflights::new(2, 0);
        w.add(1, 10);
        w.add(2, 10);
        assert!(w.full());
        w.free_le(1);
        assert!(!w.full());
        let mut b = Inflights::new(100, 15);
        b.add(1, 10);
        assert!(!b.full());
        b.add(2, 10);
        assert!(b.full());
        b.free_first_one();
        assert!(!b.full());
        assert_eq!(b.count(), 1);
    }
}
