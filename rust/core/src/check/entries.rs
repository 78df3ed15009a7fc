//! The history of one part as a doubly linked list of call and return entries in time order,
//! from which the search lifts an operation (its call and its return) when it linearizes it
//! and puts it back when it backtracks (Knuth's dancing links, as in Lowe's and Porcupine's
//! implementations of the Wing-Gong search).

/// Index of the head sentinel; the list's first entry is `next(HEAD)`.
pub(crate) const HEAD: u32 = 0;
/// Index of the tail sentinel; it follows the last entry.
pub(crate) const TAIL: u32 = 1;

#[derive(Clone, Copy, Debug)]
struct Node {
    prev: u32,
    next: u32,
    /// The operation's index in the part, `[0, ops)`.
    op: u32,
    /// For a call entry, the index of its return entry; `TAIL` for a return entry.
    ret: u32,
}

/// When an operation was invoked and when it must have taken effect by.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Interval {
    pub invoke_ns: u64,
    /// `None`: unbounded (an indeterminate operation).
    pub complete_ns: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct EntryList {
    /// `[HEAD, TAIL, entries...]`; links always form one list from HEAD to TAIL.
    nodes: Vec<Node>,
}

impl EntryList {
    /// The entries of `intervals`, sorted by time; at equal times calls come before returns
    /// (intervals are closed), and unbounded returns come after every bounded one.
    pub(crate) fn new(intervals: &[Interval]) -> EntryList {
        assert!(intervals.len() < (u32::MAX as usize) / 2 - 2, "a part has too many operations");
        // (time, 0 call | 1 return | 2 unbounded return, op): a total order, so the list
        // (and the search) is the same on every run.
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(intervals.len() * 2);
        for (op, interval) in intervals.iter().enumerate() {
            events.push((interval.invoke_ns, 0, op as u32));
            match interval.complete_ns {
                Some(t) => events.push((t, 1, op as u32)),
                None => events.push((u64::MAX, 2, op as u32)),
            }
        }
        events.sort_unstable();
        let count = events.len() as u32;
        // Entry i of `events` is node i + 2.
        let mut return_node = vec![TAIL; intervals.len()];
        for (i, &(_, kind, op)) in events.iter().enumerate() {
            if kind != 0 {
                return_node[op as usize] = i as u32 + 2;
            }
        }
        let last = if count == 0 { HEAD } else { count + 1 };
        let mut nodes = Vec::with_capacity(events.len() + 2);
        nodes.push(Node { prev: HEAD, next: if count == 0 { TAIL } else { 2 }, op: 0, ret: TAIL });
        nodes.push(Node { prev: last, next: TAIL, op: 0, ret: TAIL });
        for (i, &(_, kind, op)) in events.iter().enumerate() {
            let index = i as u32 + 2;
            let prev = if i == 0 { HEAD } else { index - 1 };
            let next = if index == last { TAIL } else { index + 1 };
            let ret = if kind == 0 { return_node[op as usize] } else { TAIL };
            nodes.push(Node { prev, next, op, ret });
        }
        EntryList { nodes }
    }

    pub(crate) fn first(&self) -> u32 {
        self.nodes[HEAD as usize].next
    }

    pub(crate) fn next(&self, entry: u32) -> u32 {
        self.nodes[entry as usize].next
    }

    pub(crate) fn is_call(&self, entry: u32) -> bool {
        self.nodes[entry as usize].ret != TAIL
    }

    pub(crate) fn op(&self, entry: u32) -> usize {
        self.nodes[entry as usize].op as usize
    }

    fn unlink(&mut self, entry: u32) {
        let Node { prev, next, .. } = self.nodes[entry as usize];
        self.nodes[prev as usize].next = next;
        self.nodes[next as usize].prev = prev;
    }

    /// Puts `entry` back where it was; only valid in the reverse order of `unlink`s.
    fn relink(&mut self, entry: u32) {
        let Node { prev, next, .. } = self.nodes[entry as usize];
        self.nodes[prev as usize].next = entry;
        self.nodes[next as usize].prev = entry;
    }

    /// Removes the call entry `call` and its return.
    pub(crate) fn lift(&mut self, call: u32) {
        debug_assert!(self.is_call(call), "lift of a return entry");
        self.unlink(call);
        self.unlink(self.nodes[call as usize].ret);
    }

    /// Undoes the last `lift`, of `call`.
    pub(crate) fn unlift(&mut self, call: u32) {
        self.relink(self.nodes[call as usize].ret);
        self.relink(call);
    }
}
