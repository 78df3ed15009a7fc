//! Client sessions of the key-value store (`kv::client_sessions`): a write wrapped in
//! `SENATE.EXEC` runs at most once whatever the retries, duplicates and reorderings of its
//! deliveries; sessions survive a snapshot; replicas expire the same sessions at the same log
//! positions.

use proptest::prelude::*;
use senate_core::codec::RespLimits;
use senate_core::kv::{
    apply_batch, decode_batch, decode_snapshot, encode_batch, encode_command, encode_snapshot, ClientSessions, Group,
    KvStore, RespSession, SessionLimits, Value,
};
use std::sync::Arc;

fn words(text: &str) -> Vec<Vec<u8>> {
    text.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}

/// Applies one batch of commands at `now_ms`; the replies as text.
fn apply(store: &mut KvStore, now_ms: u64, commands: &[Vec<Vec<u8>>]) -> String {
    String::from_utf8(apply_batch(store, &encode_batch(now_ms, commands)).unwrap()).unwrap()
}

fn run(store: &mut KvStore, now_ms: u64, text: &str) -> String {
    apply(store, now_ms, &[words(text)])
}

fn open(store: &mut KvStore, now_ms: u64) -> u64 {
    let reply = run(store, now_ms, "SENATE.SESSION OPEN");
    reply.trim_start_matches(':').trim_end().parse().unwrap()
}

fn exec(session: u64, seq: u64, first_unacked: u64, command: &str) -> Vec<Vec<u8>> {
    words(&format!("SENATE.EXEC {session} {seq} {first_unacked} {command}"))
}

#[test]
fn a_retried_incr_counts_once_and_gets_its_first_reply() {
    let mut s = KvStore::default();
    let id = open(&mut s, 0);
    assert_eq!(id, 1);
    assert_eq!(open(&mut s, 0), 2, "ids come from the replicated counter");
    assert_eq!(apply(&mut s, 1, &[exec(id, 1, 1, "INCR n")]), ":1\r\n");
    // The retry, in another batch and in the same one: the kept reply, not a second INCR.
    assert_eq!(apply(&mut s, 2, &[exec(id, 1, 1, "INCR n"), exec(id, 1, 1, "INCR n")]), ":1\r\n:1\r\n");
    assert_eq!(apply(&mut s, 3, &[exec(id, 2, 2, "INCR n")]), ":2\r\n");
    assert_eq!(run(&mut s, 3, "GET n"), "$1\r\n2\r\n");
    // The client acknowledged seq 1 (first_unacked 2): a late copy of it is refused.
    let stale = apply(&mut s, 4, &[exec(id, 1, 1, "INCR n")]);
    assert!(stale.starts_with("-STALESEQ seq 1 of session 1 was answered"), "{stale}");
    assert_eq!(run(&mut s, 4, "GET n"), "$1\r\n2\r\n");
    // An error reply is kept like any other: the retry gets it again.
    run(&mut s, 5, "SET word abc");
    let first = apply(&mut s, 5, &[exec(id, 3, 3, "INCR word")]);
    assert!(first.starts_with("-ERR value is not an integer"));
    assert_eq!(apply(&mut s, 6, &[exec(id, 3, 3, "INCR word")]), first);
}

#[test]
fn a_connection_sends_session_commands_through_the_log() {
    let mut session = RespSession::new(RespLimits::default(), 1024, 1).unwrap();
    let mut wire = encode_command(&words("SENATE.SESSION OPEN"));
    wire.extend(encode_command(&words("senate.exec 1 1 1 INCR n")));
    wire.extend(encode_command(&words("GET n")));
    let groups = session.feed(&wire, 5);
    // One log batch, the read after the writes included (a client reads its own writes).
    let [Group::Log(batch)] = &groups[..] else { panic!("{groups:?}") };
    let commands = decode_batch(batch).unwrap();
    assert_eq!(commands.len(), 3);
    let mut store = KvStore::default();
    let replies = String::from_utf8(apply_batch(&mut store, batch).unwrap()).unwrap();
    assert_eq!(replies, ":1\r\n:1\r\n$1\r\n1\r\n");
}

#[test]
fn malformed_wrappers_and_unknown_sessions_are_refused_before_running() {
    let mut s = KvStore::default();
    let id = open(&mut s, 0);
    let cases = [
        ("SENATE.EXEC x 1 1 INCR n", "-ERR SENATE.EXEC session, seq and first_unacked must be integers"),
        ("SENATE.EXEC 1 1 1 GET n", "-ERR SENATE.EXEC wraps one write command"),
        ("SENATE.EXEC 1 1 1 SENATE.EXEC 1 2 1 INCR n", "-ERR SENATE.EXEC wraps one write command"),
        ("SENATE.EXEC 1 1 1 INCR", "-ERR wrong number of arguments for 'incr' command"),
        ("SENATE.EXEC 1 1 1 MSET a", "-ERR wrong number of arguments for 'mset' command"),
        ("SENATE.EXEC 1 1 2 INCR n", "-ERR SENATE.EXEC first unacknowledged 2 is above the command's seq 1"),
        ("SENATE.EXEC 7 1 1 INCR n", "-NOSESSION session 7 is unknown"),
        ("SENATE.EXEC 1 1 1", "-ERR wrong number of arguments for 'senate.exec' command"),
        ("SENATE.SESSION NOPE", "-ERR SENATE.SESSION takes OPEN or CLOSE <id>"),
    ];
    for (command, error) in cases {
        let reply = run(&mut s, 1, command);
        assert!(reply.starts_with(error), "{command}: {reply}");
    }
    assert_eq!(run(&mut s, 1, "GET n"), "$-1\r\n", "nothing ran");
    // The session was not spent by the refusals: seq 1 runs now.
    assert_eq!(apply(&mut s, 2, &[exec(id, 1, 1, "INCR n")]), ":1\r\n");
    assert_eq!(run(&mut s, 2, &format!("SENATE.SESSION CLOSE {id}")), ":1\r\n");
    assert_eq!(run(&mut s, 2, &format!("SENATE.SESSION CLOSE {id}")), ":0\r\n");
    let closed = apply(&mut s, 3, &[exec(id, 1, 1, "INCR n")]);
    assert!(closed.starts_with("-NOSESSION session 1 is expired or closed"), "{closed}");
}

#[test]
fn sessions_survive_a_snapshot_and_old_snapshots_still_load() {
    let mut s = KvStore::default();
    run(&mut s, 0, "SET k v");
    let plain = encode_snapshot(&s);
    assert_eq!(plain[0], 4, "a store a batch was applied to writes version 4 (the keys' versions)");
    let id = open(&mut s, 0);
    apply(&mut s, 1, &[exec(id, 1, 1, "INCR n"), exec(id, 2, 1, "APPEND k w")]);
    let snap = encode_snapshot(&s);
    assert_eq!(snap[0], 4);
    let mut back = decode_snapshot(&snap, 100).unwrap();
    assert_eq!(back.sessions, s.sessions);
    assert_eq!(encode_snapshot(&back), snap);
    // The restored store answers the retries from the kept replies.
    assert_eq!(apply(&mut back, 2, &[exec(id, 2, 1, "APPEND k w"), exec(id, 1, 1, "INCR n")]), ":2\r\n:1\r\n");
    assert_eq!(run(&mut back, 2, "GET k"), "$2\r\nvw\r\n");
    assert_eq!(open(&mut back, 2), 2, "the id counter is in the snapshot");
    // Versions 1 and 2 (written by earlier builds, and still for a store of strings no batch was applied
    // to) load, as stores without sessions and with their sessions.
    let mut fresh = KvStore::default();
    fresh.set(b"k", Value::new(Arc::from(&b"v"[..]), None), 0);
    let v1 = encode_snapshot(&fresh);
    assert_eq!(v1[0], 1);
    let old = decode_snapshot(&v1, 100).unwrap();
    assert!(old.sessions.is_empty() && old.sessions.never_used());
    assert_eq!(&**old.get(b"k", 0).unwrap().string().unwrap(), b"v");
    fresh.sessions.open(0);
    let v2 = encode_snapshot(&fresh);
    assert_eq!(v2[0], 2);
    assert_eq!(decode_snapshot(&v2, 100).unwrap().sessions, fresh.sessions);
    // Damaged session sections are refused, never a panic.
    for cut in 1..snap.len() - plain.len() {
        assert!(decode_snapshot(&snap[..snap.len() - cut], 100).is_err(), "cut {cut}");
    }
}

#[test]
fn sessions_expire_by_the_log_clock_and_by_the_bounds() {
    let mut s = KvStore::default();
    s.sessions = ClientSessions::new(SessionLimits {
        max_sessions: 3,
        max_reply_bytes: 1 << 20,
        max_replies_per_session: 2,
        idle_timeout_ms: 1000,
    });
    let a = open(&mut s, 0);
    let b = open(&mut s, 500);
    apply(&mut s, 999, &[exec(a, 1, 1, "INCR n")]);
    // At 1500 b (idle since 500) expires; a (used at 999) does not.
    run(&mut s, 1500, "PING");
    assert!(s.sessions.get(a).is_some() && s.sessions.get(b).is_none());
    // Two replies unacknowledged: a third command is refused before it runs.
    apply(&mut s, 1500, &[exec(a, 2, 1, "INCR n")]);
    let full = apply(&mut s, 1500, &[exec(a, 3, 1, "INCR n")]);
    assert!(full.starts_with("-SESSIONFULL"), "{full}");
    assert_eq!(run(&mut s, 1500, "GET n"), "$1\r\n2\r\n");
    assert_eq!(apply(&mut s, 1500, &[exec(a, 3, 2, "INCR n")]), ":3\r\n", "acknowledging one makes room");
    // Three sessions at most: opening a fourth expires the least recently used.
    let c = open(&mut s, 1600);
    let d = open(&mut s, 1600);
    let e = open(&mut s, 1600);
    assert!(s.sessions.get(a).is_none());
    assert!([c, d, e].iter().all(|id| s.sessions.get(*id).is_some()));
}

/// One logical write of the exactly-once property: `INCR c:<index>`, numbered `seq` in its
/// session.
#[derive(Clone, Debug)]
struct Write {
    session: usize,
    seq: u64,
}

#[derive(Clone, Debug)]
enum Event {
    /// The client sends write `write` (again, if sent before): a new message.
    Send(usize),
    /// The network delivers (again) message `message` (an index into the messages sent so
    /// far, modulo their number): duplicates and reordering.
    Deliver(usize),
    /// The client got a reply for write `write` and acknowledges it in later messages.
    Ack(usize),
    /// A node restarts from a snapshot of the store.
    Restart,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0usize..64).prop_map(Event::Send),
        5 => (0usize..1000).prop_map(Event::Deliver),
        2 => (0usize..64).prop_map(Event::Ack),
        1 => Just(Event::Restart),
    ]
}

proptest! {
    /// Whatever the retries, duplicates, reorderings of retries and restarts from snapshots,
    /// each write's effect happens at most once, every reply to it is its first reply (or the
    /// refusal of an acknowledged one), and a write that got a reply took effect once.
    #[test]
    fn each_write_takes_effect_exactly_once(
        sessions in 1usize..4,
        write_sessions in prop::collection::vec(0usize..4, 1..24),
        events in prop::collection::vec(event(), 1..200),
        batch_size in 1usize..4,
    ) {
        let mut store = KvStore::default();
        let ids: Vec<u64> = (0..sessions).map(|_| open(&mut store, 0)).collect();
        // Writes numbered per session in order.
        let mut next_seq = vec![1u64; sessions];
        let writes: Vec<Write> = write_sessions
            .iter()
            .map(|&s| {
                let session = s % sessions;
                next_seq[session] += 1;
                Write { session, seq: next_seq[session] - 1 }
            })
            .collect();
        let mut acked = vec![false; writes.len()];
        let mut replied = vec![false; writes.len()];
        let mut first_reply: Vec<Option<String>> = vec![None; writes.len()];
        // (write, the message's words) of every message sent.
        let mut messages: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        let mut pending: Vec<usize> = Vec::new();
        let mut now_ms = 1;
        let deliver = |store: &mut KvStore, pending: &mut Vec<usize>, messages: &[(usize, Vec<Vec<u8>>)],
                       now_ms: u64, first_reply: &mut [Option<String>], replied: &mut [bool]|
         -> Result<(), TestCaseError> {
            let commands: Vec<Vec<Vec<u8>>> = pending.iter().map(|&m| messages[m].1.clone()).collect();
            let replies = apply(store, now_ms, &commands);
            for (&m, reply) in pending.iter().zip(replies.split_inclusive("\r\n")) {
                let w = messages[m].0;
                if reply.starts_with("-STALESEQ") {
                    prop_assert!(replied[w], "write {} refused as acknowledged before any reply", w);
                    continue;
                }
                prop_assert!(!reply.starts_with('-'), "write {}: {}", w, reply);
                match &first_reply[w] {
                    None => first_reply[w] = Some(reply.to_string()),
                    Some(first) => prop_assert_eq!(first, reply, "write {} replied differently", w),
                }
                replied[w] = true;
            }
            pending.clear();
            Ok(())
        };
        for event in events {
            match event {
                Event::Send(w) => {
                    let w = w % writes.len();
                    let write = &writes[w];
                    // The lowest seq of the session's writes not acknowledged yet.
                    let first_unacked = writes
                        .iter()
                        .zip(&acked)
                        .filter(|(o, &a)| o.session == write.session && !a)
                        .map(|(o, _)| o.seq)
                        .min()
                        .unwrap_or(next_seq[write.session]);
                    if acked[w] {
                        continue; // the client sends no write it has a reply for
                    }
                    let text = format!("INCR c:{w}");
                    messages.push((w, exec(ids[write.session], write.seq, first_unacked, &text)));
                    pending.push(messages.len() - 1);
                }
                Event::Deliver(m) if !messages.is_empty() => {
                    pending.push(m % messages.len());
                }
                Event::Deliver(_) => {}
                Event::Ack(w) => {
                    let w = w % writes.len();
                    acked[w] |= replied[w];
                }
                Event::Restart => {
                    deliver(&mut store, &mut pending, &messages, now_ms, &mut first_reply, &mut replied)?;
                    store = decode_snapshot(&encode_snapshot(&store), 100).unwrap();
                }
            }
            if pending.len() >= batch_size {
                deliver(&mut store, &mut pending, &messages, now_ms, &mut first_reply, &mut replied)?;
                now_ms += 1;
            }
        }
        deliver(&mut store, &mut pending, &messages, now_ms, &mut first_reply, &mut replied)?;
        for (w, replied) in replied.iter().enumerate() {
            let value = run(&mut store, now_ms, &format!("GET c:{w}"));
            let expected = if *replied { "$1\r\n1\r\n" } else { "$-1\r\n" };
            prop_assert_eq!(&value, expected, "write {}", w);
        }
    }

    /// Two replicas applying the same batches, one of them restarted from a snapshot at some
    /// point, give the same replies and end with the same bytes: sessions open, close, are
    /// used, and expire by the log clock and by the bounds at the same log positions.
    #[test]
    fn replicas_expire_the_same_sessions(
        steps in prop::collection::vec((0u8..6, 0u64..6, 0u64..4, 0u64..1500), 1..120),
        restart_at in 0usize..120,
    ) {
        let limits = SessionLimits { max_sessions: 3, max_reply_bytes: 300, max_replies_per_session: 3, idle_timeout_ms: 2000 };
        let mut a = KvStore::default();
        a.sessions = ClientSessions::new(limits);
        let mut b = a.clone();
        let mut now_ms = 0;
        for (i, (kind, id, seq, advance_ms)) in steps.into_iter().enumerate() {
            now_ms += advance_ms;
            let command = match kind {
                0 => words("SENATE.SESSION OPEN"),
                1 => words(&format!("SENATE.SESSION CLOSE {id}")),
                2 => words(&format!("SENATE.EXEC {id} {} {seq} APPEND k{id} {}", seq + 1, "x".repeat(seq as usize * 20))),
                3 => words(&format!("SENATE.EXEC {id} {} {} INCR n", seq + 2, seq)),
                _ => words("PING"),
            };
            let batch = encode_batch(now_ms, &[command]);
            prop_assert_eq!(apply_batch(&mut a, &batch).unwrap(), apply_batch(&mut b, &batch).unwrap());
            if i == restart_at {
                b = decode_snapshot(&encode_snapshot(&b), 100).unwrap();
                b.sessions.limits = limits;
            }
            prop_assert!(a.sessions.len() <= limits.max_sessions);
        }
        prop_assert_eq!(&a.sessions, &b.sessions);
        prop_assert_eq!(encode_snapshot(&a), encode_snapshot(&b));
    }
}
