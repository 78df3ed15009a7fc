//! Client sessions: exactly-once writes, as in Ongaro's thesis (section 6.3) and LogCabin.
//!
//! A client opens a session through the log (`SENATE.SESSION OPEN`: the id is the table's
//! replicated counter, so every replica hands out the same id at the same log position and
//! never reuses one), then numbers its writes `1, 2, 3, ...` and sends each as
//! `SENATE.EXEC <session> <seq> <first_unacked> <command...>`, retrying with the same numbers.
//! `first_unacked` is the lowest sequence number the client has no reply for yet (the
//! thesis's generalisation to a client with many commands in flight): the table keeps the reply
//! of every sequence number at or above it, and drops the ones below.
//!
//! On apply, a command whose `seq`
//! - has a kept reply is answered with it and not run again (a retry);
//! - is below the session's `first_unacked` is refused (`STALESEQ`): it was answered, and the
//!   client said so; running it again would apply it twice;
//! - is new is run, and its reply kept.
//!
//! Invariant: for every session, every `seq >= first_unacked` the table ever ran has its
//! reply in `replies` (a reply is dropped only when `first_unacked` passes it), so no
//! `(session, seq)` runs twice while its session lives. A session that expired is gone whole:
//! its commands get `NOSESSION`, never a second run.
//!
//! Bounds (each a named limit; replicas must agree on them, so they are constants of the
//! store, not per-node settings): at most `max_sessions` sessions and `max_reply_bytes` bytes
//! of kept replies (past either, the least recently used sessions expire, never the one being
//! served), and `max_replies_per_session` replies per session (one more is refused with
//! `SESSIONFULL` before it runs: evicting a reply would break the invariant). A session idle
//! for `idle_timeout_ms` of log time (the store's clock: the largest proposer clock of the
//! applied batches, the same on every replica) expires; the store expires at most
//! [`MAX_EXPIRED_SESSIONS_PER_BATCH`] per batch, least recently used first. So expiry depends
//! only on the applied log, never on a node's own clock.
//!
//! Copies: the table sits behind an `Arc` like the store's tables; the first session command
//! after a snapshot capture copies it (sessions are few: one per client, not per key).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Sessions kept at most, by default.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Bytes of kept replies, over all sessions, at most by default.
pub const DEFAULT_MAX_SESSION_REPLY_BYTES: usize = 64 << 20;
/// Replies one session keeps at most (commands in flight, unacknowledged), by default.
pub const DEFAULT_MAX_REPLIES_PER_SESSION: usize = 4096;
/// Log time after which an idle session expires, by default (one hour, as LogCabin).
pub const DEFAULT_SESSION_IDLE_MS: u64 = 3_600_000;
/// Idle sessions expired after each applied batch, at most.
pub const MAX_EXPIRED_SESSIONS_PER_BATCH: usize = 64;
/// Bytes one kept reply is charged for on top of its own (the map slot and its key).
const REPLY_OVERHEAD_BYTES: usize = 32;

/// The bounds of a session table (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    pub max_sessions: usize,
    pub max_reply_bytes: usize,
    pub max_replies_per_session: usize,
    pub idle_timeout_ms: u64,
}

impl Default for SessionLimits {
    fn default() -> SessionLimits {
        SessionLimits {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_reply_bytes: DEFAULT_MAX_SESSION_REPLY_BYTES,
            max_replies_per_session: DEFAULT_MAX_REPLIES_PER_SESSION,
            idle_timeout_ms: DEFAULT_SESSION_IDLE_MS,
        }
    }
}

/// One client's session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// The highest `first_unacked` the client sent: replies below it are dropped, and
    /// commands below it refused.
    pub first_unacked: u64,
    /// The table's use counter at this session's last command (its place in `by_use`).
    pub last_use: u64,
    /// The store's clock at its last command.
    pub last_use_ms: u64,
    /// `seq -> reply` of every command run with `seq >= first_unacked`.
    pub replies: Replies,
}

/// A session's kept replies in `seq` order. Clients number their writes in order and
/// acknowledge the oldest first, so replies come in at the back and leave at the front: a
/// deque, binary-searched, costs less per command than a B-tree (a node per few replies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replies(VecDeque<(u64, Arc<[u8]>)>);

impl Replies {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, seq: u64) -> Result<usize, usize> {
        match self.0.back() {
            Some((last, _)) if *last < seq => Err(self.0.len()),
            _ => self.0.binary_search_by_key(&seq, |(s, _)| *s),
        }
    }

    pub fn get(&self, seq: u64) -> Option<&Arc<[u8]>> {
        self.position(seq).ok().map(|i| &self.0[i].1)
    }

    /// Keeps `reply` for `seq`; false (and nothing changed) if `seq` has one already.
    pub fn insert(&mut self, seq: u64, reply: Arc<[u8]>) -> bool {
        match self.position(seq) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, (seq, reply));
                true
            }
        }
    }

    /// The lowest `seq` kept.
    pub fn first_seq(&self) -> Option<u64> {
        self.0.front().map(|(seq, _)| *seq)
    }

    /// Drops the replies below `seq`; returns the bytes charged for them.
    fn drop_below(&mut self, seq: u64) -> usize {
        let mut freed = 0;
        while self.0.front().is_some_and(|(s, _)| *s < seq) {
            freed += self.0.pop_front().map_or(0, |(_, r)| charge(&r));
        }
        freed
    }

    /// Bytes charged for all of them.
    fn charged(&self) -> usize {
        self.0.iter().map(|(_, r)| charge(r)).sum()
    }

    /// `(seq, reply)` in `seq` order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.0.iter().map(|(seq, reply)| (*seq, &**reply))
    }
}

/// What to do with a command of a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// New: run it, then `record` its reply.
    Run,
    /// A retry of a command already run: send this reply.
    Replay(Arc<[u8]>),
    /// Refused, not run: the error message (its first word the code).
    Refuse(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Table {
    /// The id the next OPEN gets; ids `[1, next_id)` were handed out.
    next_id: u64,
    /// Counts session commands; `Session::last_use` values are unique and below it.
    uses: u64,
    sessions: BTreeMap<u64, Session>,
    /// `last_use -> id` of every session: least recently used first. Since the store's clock
    /// never goes back, it is also in `last_use_ms` order.
    by_use: BTreeMap<u64, u64>,
    /// Bytes charged for all kept replies (`charge`).
    reply_bytes: usize,
}

impl Default for Table {
    fn default() -> Table {
        Table { next_id: 1, uses: 0, sessions: BTreeMap::new(), by_use: BTreeMap::new(), reply_bytes: 0 }
    }
}

fn charge(reply: &[u8]) -> usize {
    reply.len() + REPLY_OVERHEAD_BYTES
}

/// The sessions of one store.
#[derive(Clone, Debug, Default)]
pub struct ClientSessions {
    table: Arc<Table>,
    pub limits: SessionLimits,
}

impl PartialEq for ClientSessions {
    fn eq(&self, other: &ClientSessions) -> bool {
        self.table == other.table
    }
}

impl ClientSessions {
    pub fn new(limits: SessionLimits) -> ClientSessions {
        ClientSessions { table: Arc::default(), limits }
    }

    fn table_mut(&mut self) -> &mut Table {
        Arc::make_mut(&mut self.table)
    }

    /// Sessions alive.
    pub fn len(&self) -> usize {
        self.table.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.sessions.is_empty()
    }

    /// Whether no session was ever opened (a snapshot then needs no session section).
    pub fn never_used(&self) -> bool {
        self.table.next_id == 1 && self.table.uses == 0
    }

    /// Bytes charged for the kept replies.
    pub fn reply_bytes(&self) -> usize {
        self.table.reply_bytes
    }

    pub fn get(&self, id: u64) -> Option<&Session> {
        self.table.sessions.get(&id)
    }

    /// Opens a session at store time `now_ms`; returns its id. The least recently used
    /// session expires first if `max_sessions` are open.
    pub fn open(&mut self, now_ms: u64) -> u64 {
        let max_sessions = self.limits.max_sessions.max(1);
        let table = self.table_mut();
        while table.sessions.len() >= max_sessions {
            table.expire_oldest();
        }
        let id = table.next_id;
        table.next_id += 1;
        let last_use = table.touch_new();
        table
            .sessions
            .insert(id, Session { first_unacked: 0, last_use, last_use_ms: now_ms, replies: Replies::default() });
        table.by_use.insert(last_use, id);
        id
    }

    /// Closes session `id`; returns whether it was open.
    pub fn close(&mut self, id: u64) -> bool {
        if !self.table.sessions.contains_key(&id) {
            return false;
        }
        self.table_mut().remove(id);
        true
    }

    /// Checks command `seq` of session `id` (the client has replies for everything below
    /// `first_unacked`, which must be `<= seq`) at store time `now_ms`, and marks the session
    /// used. Drops the replies the client no longer needs.
    pub fn begin(&mut self, id: u64, seq: u64, first_unacked: u64, now_ms: u64) -> Verdict {
        if first_unacked > seq {
            return Verdict::Refuse(
                format!("ERR SENATE.EXEC first unacknowledged {first_unacked} is above the command's seq {seq}")
                    .into_bytes(),
            );
        }
        let next_id = self.table.next_id;
        if !self.table.sessions.contains_key(&id) {
            let why = if (1..next_id).contains(&id) { "expired or closed" } else { "unknown" };
            return Verdict::Refuse(
                format!("NOSESSION session {id} is {why}; open a new one with SENATE.SESSION OPEN").into_bytes(),
            );
        }
        let max_replies = self.limits.max_replies_per_session;
        let table = self.table_mut();
        let latest = table.uses.saturating_sub(1);
        let session = table.sessions.get_mut(&id).expect("checked above");
        if session.last_use != latest {
            // Not the most recently used session already (one busy client's is): move it
            // to the back of the LRU order.
            let last_use = table.uses;
            table.uses += 1;
            table.by_use.remove(&session.last_use);
            table.by_use.insert(last_use, id);
            session.last_use = last_use;
        }
        session.last_use_ms = session.last_use_ms.max(now_ms);
        if first_unacked > session.first_unacked {
            session.first_unacked = first_unacked;
            table.reply_bytes -= session.replies.drop_below(first_unacked);
        }
        if seq < session.first_unacked {
            let acked = session.first_unacked;
            return Verdict::Refuse(
                format!(
                    "STALESEQ seq {seq} of session {id} was answered and acknowledged (the client has every reply below {acked}); not run again"
                )
                .into_bytes(),
            );
        }
        if let Some(reply) = session.replies.get(seq) {
            return Verdict::Replay(reply.clone());
        }
        if session.replies.len() >= max_replies {
            return Verdict::Refuse(
                format!(
                    "SESSIONFULL session {id} keeps {max_replies} unacknowledged replies already; acknowledge some (raise first_unacked)"
                )
                .into_bytes(),
            );
        }
        Verdict::Run
    }

    /// Keeps `reply` as the reply of command `seq` of session `id`, which `begin` said to
    /// run. Past `max_reply_bytes`, the least recently used other sessions expire.
    pub fn record(&mut self, id: u64, seq: u64, reply: &[u8]) {
        let max_bytes = self.limits.max_reply_bytes;
        let table = self.table_mut();
        let Some(session) = table.sessions.get_mut(&id) else { return };
        debug_assert!(seq >= session.first_unacked, "record without begin");
        let new = session.replies.insert(seq, Arc::from(reply));
        debug_assert!(new, "record of a seq kept already");
        table.reply_bytes += charge(reply);
        while table.reply_bytes > max_bytes {
            let Some((&_, &oldest)) = table.by_use.iter().next() else { break };
            if oldest == id {
                // The session being served is the most recently used: it is alone.
                break;
            }
            table.remove(oldest);
        }
    }

    /// Whether some session has been idle long enough to expire at `now_ms`.
    pub fn has_idle(&self, now_ms: u64) -> bool {
        self.table.by_use.values().next().is_some_and(|id| self.idle(id, now_ms))
    }

    fn idle(&self, id: &u64, now_ms: u64) -> bool {
        self.table.sessions[id].last_use_ms.saturating_add(self.limits.idle_timeout_ms) <= now_ms
    }

    /// Expires at most `limit` sessions idle at `now_ms`, least recently used first; returns
    /// how many.
    pub fn expire_idle(&mut self, now_ms: u64, limit: usize) -> usize {
        let mut expired = 0;
        while expired < limit && self.has_idle(now_ms) {
            self.table_mut().expire_oldest();
            expired += 1;
        }
        expired
    }

    /// The table's state for a snapshot: `(next_id, uses, sessions by id)`.
    pub fn parts(&self) -> (u64, u64, Vec<(u64, &Session)>) {
        let mut sessions: Vec<(u64, &Session)> = self.table.sessions.iter().map(|(id, s)| (*id, s)).collect();
        sessions.sort_unstable_by_key(|(id, _)| *id);
        (self.table.next_id, self.table.uses, sessions)
    }

    /// A table from the parts of a snapshot; None when they contradict each other (an id at
    /// or past `next_id`, a use at or past `uses`, two sessions with one use, a reply below
    /// its session's `first_unacked`).
    pub fn from_parts(
        limits: SessionLimits,
        next_id: u64,
        uses: u64,
        sessions: Vec<(u64, Session)>,
    ) -> Option<ClientSessions> {
        let mut table = Table { next_id, uses, ..Table::default() };
        for (id, session) in sessions {
            let consistent = id >= 1
                && id < next_id
                && session.last_use < uses
                && session.replies.first_seq().is_none_or(|seq| seq >= session.first_unacked);
            if !consistent || table.by_use.insert(session.last_use, id).is_some() {
                return None;
            }
            table.reply_bytes += session.replies.charged();
            if table.sessions.insert(id, session).is_some() {
                return None;
            }
        }
        Some(ClientSessions { table: Arc::new(table), limits })
    }
}

impl Table {
    /// The next use counter value.
    fn touch_new(&mut self) -> u64 {
        let use_ = self.uses;
        self.uses += 1;
        use_
    }

    fn remove(&mut self, id: u64) {
        if let Some(session) = self.sessions.remove(&id) {
            self.by_use.remove(&session.last_use);
            self.reply_bytes -= session.replies.charged();
        }
    }

    fn expire_oldest(&mut self) {
        if let Some((_, id)) = self.by_use.pop_first() {
            let session = self.sessions.remove(&id).expect("by_use names live sessions");
            self.reply_bytes -= session.replies.charged();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SessionLimits {
        SessionLimits { max_sessions: 2, max_reply_bytes: 1000, max_replies_per_session: 3, idle_timeout_ms: 100 }
    }

    #[test]
    fn a_retry_replays_and_an_acknowledged_seq_is_refused() {
        let mut s = ClientSessions::new(small());
        let id = s.open(0);
        assert_eq!(id, 1);
        assert_eq!(s.begin(id, 1, 1, 0), Verdict::Run);
        s.record(id, 1, b":1\r\n");
        assert_eq!(s.begin(id, 1, 1, 0), Verdict::Replay(Arc::from(&b":1\r\n"[..])));
        assert_eq!(s.begin(id, 2, 2, 0), Verdict::Run);
        s.record(id, 2, b":2\r\n");
        assert_eq!(s.get(id).unwrap().replies.len(), 1, "reply 1 dropped once acknowledged");
        assert!(matches!(s.begin(id, 1, 1, 0), Verdict::Refuse(m) if m.starts_with(b"STALESEQ")));
        assert!(matches!(s.begin(id, 3, 4, 0), Verdict::Refuse(m) if m.starts_with(b"ERR")));
        assert!(matches!(s.begin(9, 1, 1, 0), Verdict::Refuse(m) if m.starts_with(b"NOSESSION session 9 is unknown")));
    }

    #[test]
    fn bounds_refuse_or_expire_the_least_recently_used() {
        let mut s = ClientSessions::new(small());
        let a = s.open(0);
        for seq in 1..=3 {
            assert_eq!(s.begin(a, seq, 1, 0), Verdict::Run);
            s.record(a, seq, b"+OK\r\n");
        }
        assert!(matches!(s.begin(a, 4, 1, 0), Verdict::Refuse(m) if m.starts_with(b"SESSIONFULL")));
        let b = s.open(1);
        let c = s.open(2); // max_sessions = 2: a, the least recently used, expires
        assert!(s.get(a).is_none() && s.get(b).is_some() && s.get(c).is_some());
        assert!(matches!(s.begin(a, 4, 1, 3), Verdict::Refuse(m) if m.starts_with(b"NOSESSION session 1 is expired")));
        // Reply bytes: c's big reply pushes b out, never c itself.
        assert_eq!(s.begin(b, 1, 1, 3), Verdict::Run);
        s.record(b, 1, &[b'x'; 400]);
        assert_eq!(s.begin(c, 1, 1, 4), Verdict::Run);
        s.record(c, 1, &[b'y'; 900]);
        assert!(s.get(b).is_none() && s.get(c).is_some());
        assert_eq!(s.reply_bytes(), 900 + REPLY_OVERHEAD_BYTES);
    }

    #[test]
    fn idle_sessions_expire_by_the_store_clock() {
        let mut s = ClientSessions::new(small());
        let a = s.open(0);
        let b = s.open(50);
        assert!(!s.has_idle(99));
        assert_eq!(s.expire_idle(100, 10), 1);
        assert!(s.get(a).is_none() && s.get(b).is_some());
        assert_eq!(s.begin(b, 1, 1, 120), Verdict::Run);
        assert_eq!(s.expire_idle(219, 10), 0);
        assert_eq!(s.expire_idle(220, 10), 1);
        assert!(s.is_empty());
    }
}
