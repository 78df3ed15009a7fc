//! The key-value service's core: RESP parsing and grouping, command replies as Redis 7 gives
//! them, expiry, snapshots, and a model test against a plain map.

use proptest::prelude::*;
use senate_core::codec::resp::{parse_command, ParseStep};
use senate_core::codec::{count_replies, RespLimits};
use senate_core::kv::{
    apply_batch, decode_batch, decode_snapshot, encode_batch, encode_command, encode_snapshot, read_batch, Group,
    KvError, KvStore, RespSession,
};
use std::collections::BTreeMap;

fn cmd(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Applies one command at `now_ms` and returns its reply as text.
fn run(store: &mut KvStore, now_ms: u64, words: &[&str]) -> String {
    let batch = encode_batch(now_ms, &[cmd(words)]);
    String::from_utf8(apply_batch(store, &batch).unwrap()).unwrap()
}

fn session() -> RespSession {
    RespSession::new(RespLimits::default(), 1024, 7).unwrap()
}

fn kinds(groups: &[Group]) -> Vec<u8> {
    groups.iter().map(Group::kind).collect()
}

// --- replies, byte-exact ---

#[test]
fn string_commands_reply_like_redis() {
    let mut s = KvStore::default();
    assert_eq!(run(&mut s, 1, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(run(&mut s, 1, &["get", "k"]), "$1\r\nv\r\n");
    assert_eq!(run(&mut s, 1, &["GET", "nope"]), "$-1\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "w", "NX"]), "$-1\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k2", "w", "XX"]), "$-1\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "w", "XX", "GET"]), "$1\r\nv\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "x", "NX", "GET"]), "$1\r\nw\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "v", "NX", "XX"]), "-ERR syntax error\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "v", "EX", "0"]), "-ERR invalid expire time in 'set' command\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "v", "PX", "-5"]), "-ERR invalid expire time in 'set' command\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "v", "EX", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "v", "EX", "1", "PX", "1"]), "-ERR syntax error\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k", "v", "EX"]), "-ERR syntax error\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "k"]), "-ERR wrong number of arguments for 'set' command\r\n");
    assert_eq!(run(&mut s, 1, &["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(run(&mut s, 1, &["MSET", "a", "1", "b"]), "-ERR wrong number of arguments for 'mset' command\r\n");
    assert_eq!(run(&mut s, 1, &["MSET", "a", "1", "b", "2"]), "+OK\r\n");
    assert_eq!(run(&mut s, 1, &["MGET", "a", "x", "b"]), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
    assert_eq!(run(&mut s, 1, &["EXISTS", "a", "a", "x"]), ":2\r\n");
    assert_eq!(run(&mut s, 1, &["INCR", "a"]), ":2\r\n");
    assert_eq!(run(&mut s, 1, &["INCRBY", "a", "-10"]), ":-8\r\n");
    assert_eq!(run(&mut s, 1, &["DECRBY", "a", "2"]), ":-10\r\n");
    assert_eq!(run(&mut s, 1, &["DECR", "new"]), ":-1\r\n");
    assert_eq!(run(&mut s, 1, &["INCR", "k"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(run(&mut s, 1, &["INCRBY", "a", "1.5"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(run(&mut s, 1, &["SET", "m", "9223372036854775807"]), "+OK\r\n");
    assert_eq!(run(&mut s, 1, &["INCR", "m"]), "-ERR increment or decrement would overflow\r\n");
    assert_eq!(run(&mut s, 1, &["APPEND", "k", "yz"]), ":3\r\n");
    assert_eq!(run(&mut s, 1, &["STRLEN", "k"]), ":3\r\n");
    assert_eq!(run(&mut s, 1, &["GETSET", "k", "new"]), "$3\r\nwyz\r\n");
    assert_eq!(run(&mut s, 1, &["DEL", "k", "k", "nope", "a"]), ":2\r\n");
    assert_eq!(run(&mut s, 1, &["DBSIZE"]), ":3\r\n");
    assert_eq!(run(&mut s, 1, &["FLUSHDB"]), "+OK\r\n");
    assert_eq!(run(&mut s, 1, &["DBSIZE"]), ":0\r\n");
    assert_eq!(
        run(&mut s, 1, &["FOO", "a", "b"]),
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(run(&mut s, 1, &["PING"]), "-ERR this command is not run by the store\r\n");
}

#[test]
fn keys_matches_globs_and_is_bounded() {
    let mut s = KvStore::new(3);
    for key in ["user:1", "user:2", "user:10", "other"] {
        run(&mut s, 1, &["SET", key, "v"]);
    }
    let reply = run(&mut s, 1, &["KEYS", "user:?"]);
    assert!(reply.starts_with("*2\r\n"), "{reply}");
    assert_eq!(run(&mut s, 1, &["KEYS", "x*"]), "*0\r\n");
    assert_eq!(run(&mut s, 1, &["KEYS", "*"]), "-ERR KEYS would return more than 3 keys; use a narrower pattern\r\n");
}

#[test]
fn read_batch_refuses_writes() {
    let mut s = KvStore::default();
    run(&mut s, 1, &["SET", "k", "v"]);
    let batch = encode_batch(1, &[cmd(&["GET", "k"]), cmd(&["SET", "k", "w"]), cmd(&["GET", "k"])]);
    let reply = read_batch(&s, &batch, 1).unwrap();
    assert_eq!(reply, b"$1\r\nv\r\n-READONLY You can't write against a read only replica.\r\n$1\r\nv\r\n");
}

#[test]
fn malformed_batches_are_typed_errors() {
    let good = encode_batch(5, &[cmd(&["SET", "k", "v"])]);
    let mut s = KvStore::default();
    for cut in 0..good.len() {
        assert!(matches!(apply_batch(&mut s, &good[..cut]), Err(KvError::MalformedBatch { .. })));
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(apply_batch(&mut s, &trailing).is_err());
    assert_eq!(s.stored_len(), 0, "a malformed batch runs nothing");
    assert_eq!(decode_batch(&good).unwrap(), vec![cmd(&["SET", "k", "v"])]);
}

// --- expiry ---

#[test]
fn keys_expire_by_the_batch_clock() {
    let mut s = KvStore::default();
    assert_eq!(run(&mut s, 1000, &["SET", "k", "v", "PX", "100"]), "+OK\r\n");
    assert_eq!(run(&mut s, 1099, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(run(&mut s, 1100, &["GET", "k"]), "$-1\r\n");
    assert_eq!(s.stored_len(), 0, "the applied batch deleted the expired key");
    // The clock never goes backwards: an older batch clock does not revive anything.
    run(&mut s, 2000, &["SET", "e", "v", "EX", "1"]);
    assert_eq!(run(&mut s, 5, &["GET", "e"]), "$1\r\nv\r\n");
    assert_eq!(run(&mut s, 3000, &["EXISTS", "e"]), ":0\r\n");
    // KEEPTTL, and INCR keeps the deadline; SET drops it.
    run(&mut s, 3000, &["SET", "n", "1", "PX", "50"]);
    run(&mut s, 3000, &["INCR", "n"]);
    assert_eq!(run(&mut s, 3049, &["GET", "n"]), "$1\r\n2\r\n");
    assert_eq!(run(&mut s, 3050, &["GET", "n"]), "$-1\r\n");
    run(&mut s, 3050, &["SET", "p", "1", "PX", "50"]);
    run(&mut s, 3050, &["SET", "p", "2"]);
    assert_eq!(run(&mut s, 9999, &["GET", "p"]), "$1\r\n2\r\n");
}

#[test]
fn active_expiry_is_bounded_per_batch() {
    let mut s = KvStore::default();
    for i in 0..200 {
        run(&mut s, 10, &["SET", &format!("k{i}"), "v", "PX", "5"]);
    }
    run(&mut s, 10, &["SET", "plain", "v"]);
    assert_eq!((s.live_len(10), s.live_expiring_len(10)), (201, 200));
    run(&mut s, 100, &["PING"]);
    assert_eq!(s.stored_len(), 201 - 64);
    // Expired keys not deleted yet do not count as keys with a deadline (INFO's `expires`).
    assert_eq!((s.live_len(100), s.live_expiring_len(100)), (1, 0));
    assert_eq!(s.live_expiring_len(9), 200 - 64);
    assert_eq!(run(&mut s, 100, &["DBSIZE"]), ":1\r\n");
}

// --- snapshots ---

#[test]
fn malformed_snapshots_are_refused() {
    let mut s = KvStore::default();
    run(&mut s, 1, &["MSET", "a", "1", "b", "2"]);
    let snap = encode_snapshot(&s);
    for cut in 0..snap.len() {
        assert!(matches!(decode_snapshot(&snap[..cut], 10), Err(KvError::MalformedSnapshot { .. })));
    }
    let mut huge_count = snap.clone();
    huge_count[9..17].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode_snapshot(&huge_count, 10).is_err());
}

proptest! {
    #[test]
    fn snapshot_roundtrips(entries in prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 0..12),
        (prop::collection::vec(any::<u8>(), 0..40), prop::option::of(1u64..5000)),
        0..60,
    ), clock in 0u64..3000) {
        let mut s = KvStore::default();
        let mut commands = Vec::new();
        for (key, (value, ttl)) in &entries {
            let mut c = vec![b"SET".to_vec(), key.clone(), value.clone()];
            if let Some(ttl) = ttl {
                c.push(b"PX".to_vec());
                c.push(ttl.to_string().into_bytes());
            }
            commands.push(c);
        }
        apply_batch(&mut s, &encode_batch(clock, &commands)).unwrap();
        let snap = encode_snapshot(&s);
        let back = decode_snapshot(&snap, 100).unwrap();
        prop_assert_eq!(back.now_ms(), s.now_ms());
        prop_assert_eq!(back.stored_len(), s.stored_len());
        for (key, value) in s.iter() {
            prop_assert_eq!(back.get(key, 0), Some(value));
        }
        prop_assert_eq!(back.memory_bytes() > 0, !entries.is_empty() || back.memory_bytes() > 0);
    }
}

proptest! {
    /// A clone taken for a snapshot (`KvStore.capture`) shares its tables with the store
    /// (copy on write, table by table), which goes on applying: whatever is applied after
    /// (deadlines set and changed, keys expired, a flush), the clone's snapshot is the one the
    /// store had when it was cloned, and the store ends as a store never cloned would.
    #[test]
    fn a_clone_keeps_the_state_it_was_taken_at(
        before in prop::collection::vec((0u8..20, prop::collection::vec(any::<u8>(), 0..20), any::<bool>()), 0..40),
        after in prop::collection::vec((0u8..6, 0u8..20, prop::collection::vec(any::<u8>(), 0..20)), 0..40),
        later_ms in 1u64..200,
    ) {
        let key = |k: u8| format!("k{k}").into_bytes();
        // Half the keys before get a deadline at 100 ms; `later_ms` on, they are expired.
        let sets: Vec<Vec<Vec<u8>>> = before
            .iter()
            .map(|(k, v, ttl)| {
                let mut c = vec![b"SET".to_vec(), key(*k), v.clone()];
                if *ttl {
                    c.extend([b"PX".to_vec(), b"99".to_vec()]);
                }
                c
            })
            .collect();
        let mut commands = Vec::new();
        for (op, k, v) in &after {
            commands.push(match op {
                0 => vec![b"SET".to_vec(), key(*k), v.clone()],
                1 => vec![b"APPEND".to_vec(), key(*k), v.clone()],
                2 => vec![b"DEL".to_vec(), key(*k)],
                3 => vec![b"SET".to_vec(), key(*k), v.clone(), b"PX".to_vec(), b"500".to_vec()],
                4 => vec![b"PING".to_vec()],
                _ => vec![b"FLUSHDB".to_vec()],
            });
        }
        let mut s = KvStore::default();
        let mut never_cloned = KvStore::default();
        apply_batch(&mut s, &encode_batch(1, &sets)).unwrap();
        apply_batch(&mut never_cloned, &encode_batch(1, &sets)).unwrap();
        let expected = encode_snapshot(&s);
        let clone = s.clone();
        for store in [&mut s, &mut never_cloned] {
            apply_batch(store, &encode_batch(1 + later_ms, &commands)).unwrap();
            apply_batch(store, &encode_batch(1 + later_ms, &[vec![b"PING".to_vec()]])).unwrap();
        }
        prop_assert_eq!(&encode_snapshot(&clone), &expected);
        prop_assert_eq!(encode_snapshot(&s), encode_snapshot(&never_cloned));
        prop_assert_eq!((s.stored_len(), s.data_bytes()), (never_cloned.stored_len(), never_cloned.data_bytes()));
        drop(s);
        prop_assert_eq!(encode_snapshot(&clone), expected, "the clone outlives the store");
    }
}

// --- model test ---

#[derive(Clone, Debug)]
enum Op {
    Set(u8, u8),
    Get(u8),
    Del(u8),
    Incr(u8),
    Append(u8, u8),
    Exists(u8),
    DbSize,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..8, 0u8..20).prop_map(|(k, v)| Op::Set(k, v)),
        (0u8..8).prop_map(Op::Get),
        (0u8..8).prop_map(Op::Del),
        (0u8..8).prop_map(Op::Incr),
        (0u8..8, 0u8..3).prop_map(|(k, v)| Op::Append(k, v)),
        (0u8..8).prop_map(Op::Exists),
        Just(Op::DbSize),
    ]
}

fn bulk(v: Option<&Vec<u8>>) -> Vec<u8> {
    match v {
        Some(v) => [format!("${}\r\n", v.len()).into_bytes(), v.clone(), b"\r\n".to_vec()].concat(),
        None => b"$-1\r\n".to_vec(),
    }
}

/// The command and the reply the model expects.
fn model_step(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, op: &Op) -> (Vec<Vec<u8>>, Vec<u8>) {
    let key = |k: &u8| format!("key{k}").into_bytes();
    match op {
        Op::Set(k, v) => {
            model.insert(key(k), v.to_string().into_bytes());
            (vec![b"SET".to_vec(), key(k), v.to_string().into_bytes()], b"+OK\r\n".to_vec())
        }
        Op::Get(k) => (vec![b"GET".to_vec(), key(k)], bulk(model.get(&key(k)))),
        Op::Del(k) => {
            let n = i32::from(model.remove(&key(k)).is_some());
            (vec![b"DEL".to_vec(), key(k)], format!(":{n}\r\n").into_bytes())
        }
        Op::Incr(k) => {
            let current = model.get(&key(k)).map(|v| std::str::from_utf8(v).unwrap().parse::<i64>());
            let reply = match current {
                None => Some(1),
                Some(Ok(n)) if !model[&key(k)].starts_with(b"0") || model[&key(k)] == b"0" => Some(n + 1),
                Some(_) => None,
            };
            let reply = match reply {
                Some(n) => {
                    model.insert(key(k), n.to_string().into_bytes());
                    format!(":{n}\r\n").into_bytes()
                }
                None => b"-ERR value is not an integer or out of range\r\n".to_vec(),
            };
            (vec![b"INCR".to_vec(), key(k)], reply)
        }
        Op::Append(k, v) => {
            let entry = model.entry(key(k)).or_default();
            entry.extend_from_slice(v.to_string().as_bytes());
            let n = entry.len();
            (vec![b"APPEND".to_vec(), key(k), v.to_string().into_bytes()], format!(":{n}\r\n").into_bytes())
        }
        Op::Exists(k) => {
            (vec![b"EXISTS".to_vec(), key(k)], format!(":{}\r\n", i32::from(model.contains_key(&key(k)))).into_bytes())
        }
        Op::DbSize => (vec![b"DBSIZE".to_vec()], format!(":{}\r\n", model.len()).into_bytes()),
    }
}

proptest! {
    #[test]
    fn store_matches_a_map_model(ops in prop::collection::vec(op(), 1..120), batch_size in 1usize..10) {
        let mut model = BTreeMap::new();
        let mut store = KvStore::default();
        for chunk in ops.chunks(batch_size) {
            let mut commands = Vec::new();
            let mut expected = Vec::new();
            for op in chunk {
                let (command, reply) = model_step(&mut model, op);
                commands.push(command);
                expected.extend(reply);
            }
            let replies = apply_batch(&mut store, &encode_batch(1, &commands)).unwrap();
            prop_assert_eq!(String::from_utf8_lossy(&replies), String::from_utf8_lossy(&expected));
        }
        let snap = decode_snapshot(&encode_snapshot(&store), 10).unwrap();
        prop_assert_eq!(snap.stored_len(), model.len());
    }
}

// --- parsing ---

fn parse_all(limits: &RespLimits, input: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        match parse_command(&input[pos..], limits, &mut args).unwrap() {
            ParseStep::Incomplete => return out,
            ParseStep::Skipped { used } => pos += used,
            ParseStep::Command { used } => {
                out.push(args.iter().map(|r| input[pos..][r.clone()].to_vec()).collect());
                pos += used;
            }
            ParseStep::Oversized { .. } => panic!("no oversized values here"),
        }
    }
}

#[test]
fn inline_commands_parse() {
    let limits = RespLimits::default();
    let parsed = parse_all(&limits, b"PING\r\n\r\n  SET a  b\nset \"hello world\" 'x'\r\nGET");
    assert_eq!(parsed, vec![cmd(&["PING"]), cmd(&["SET", "a", "b"]), cmd(&["set", "hello world", "x"])]);
}

/// All groups of feeding `chunks` one after the other.
fn feed_all(session: &mut RespSession, chunks: &[&[u8]]) -> Vec<Group> {
    chunks.iter().flat_map(|c| session.feed(c, 1)).collect()
}

/// Every command in the Log/Read groups, and every reply byte, in order.
fn flatten(groups: &[Group]) -> (Vec<Vec<Vec<u8>>>, Vec<u8>) {
    let mut commands = Vec::new();
    let mut replies = Vec::new();
    for g in groups {
        match g {
            Group::Reply(b) | Group::Close(b) => replies.extend_from_slice(b),
            Group::Log(b)
            | Group::Read(b)
            | Group::StaleRead(b)
            | Group::Node(b)
            | Group::Watch(b)
            | Group::ExecLog(b)
            | Group::ExecRead(b)
            | Group::ExecNode(b) => commands.extend(decode_batch(b).unwrap()),
        }
    }
    (commands, replies)
}

proptest! {
    #[test]
    fn any_split_of_a_pipeline_gives_the_same_commands(
        commands in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..5), 1..20),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        // Every command is a SET (known, any arity >= 3) or GET, so all go to batches.
        let commands: Vec<Vec<Vec<u8>>> = commands.into_iter().map(|mut c| {
            c.insert(0, b"SET".to_vec());
            while c.len() < 3 { c.push(b"x".to_vec()); }
            c.truncate(3);
            c
        }).collect();
        let wire: Vec<u8> = commands.iter().flat_map(|c| encode_command(c)).collect();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([wire.len()]) {
            chunks.push(&wire[last..p]);
            last = p;
        }
        let mut s = session();
        let groups = feed_all(&mut s, &chunks);
        let (parsed, replies) = flatten(&groups);
        prop_assert!(replies.is_empty());
        prop_assert_eq!(parsed, commands);
        prop_assert_eq!(s.buffered_bytes(), 0);
    }

    #[test]
    fn random_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
        let mut s = RespSession::new(RespLimits { max_inline_bytes: 64, max_value_bytes: 8, ..RespLimits::default() }, 4, 1).unwrap();
        for chunk in &chunks {
            for g in s.feed(chunk, 1) {
                if let Group::Log(b) | Group::Read(b) = &g {
                    let mut store = KvStore::default();
                    apply_batch(&mut store, b).unwrap();
                }
            }
        }
        let _ = count_replies(&chunks.concat());
    }

    #[test]
    fn encoded_replies_are_counted(values in prop::collection::vec(prop::option::of(prop::collection::vec(any::<u8>(), 0..30)), 0..30)) {
        let mut store = KvStore::default();
        let mut commands = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => commands.push(vec![b"SET".to_vec(), i.to_string().into_bytes(), v.clone()]),
                None => commands.push(vec![b"INCR".to_vec(), b"x".to_vec(), b"y".to_vec()]),
            }
            commands.push(vec![b"MGET".to_vec(), i.to_string().into_bytes(), b"none".to_vec()]);
        }
        let replies = apply_batch(&mut store, &encode_batch(1, &commands)).unwrap();
        let errors = values.iter().filter(|v| v.is_none()).count();
        prop_assert_eq!(count_replies(&replies).unwrap(), (commands.len(), replies.len(), errors));
        if !replies.is_empty() {
            let (n, used, _) = count_replies(&replies[..replies.len() - 1]).unwrap();
            prop_assert_eq!(n, commands.len() - 1);
            prop_assert!(used < replies.len());
        }
    }
}

#[test]
fn count_replies_handles_nulls_and_nesting() {
    assert_eq!(count_replies(b"$-1\r\n*-1\r\n*2\r\n*1\r\n:1\r\n$1\r\na\r\n-ERR x\r\n+OK").unwrap(), (4, 37, 1));
    assert!(count_replies(b"?what\r\n").is_err());
    assert!(count_replies(b"$3\r\nabcde\r\n").is_err());
}

// --- sessions ---

#[test]
fn session_groups_keep_command_order() {
    let mut s = session();
    let wire = [
        encode_command(&["PING"]),
        encode_command(&["GET", "a"]),
        encode_command(&["GET", "b"]),
        encode_command(&["SET", "a", "1"]),
        encode_command(&["GET", "a"]),
        encode_command(&["ECHO", "hi"]),
        encode_command(&["NOPE"]),
        encode_command(&["INFO", "server"]),
        encode_command(&["GET", "a"]),
        encode_command(&["QUIT"]),
        encode_command(&["GET", "never"]),
    ]
    .concat();
    let groups = s.feed(&wire, 42);
    assert_eq!(kinds(&groups), vec![0, 2, 1, 0, 4, 1, 5]);
    assert_eq!(groups[0].payload(), b"+PONG\r\n");
    assert_eq!(decode_batch(groups[2].payload()).unwrap(), vec![cmd(&["SET", "a", "1"]), cmd(&["GET", "a"])]);
    assert_eq!(
        groups[3].payload(),
        b"$2\r\nhi\r\n-ERR unknown command 'NOPE', with args beginning with: \r\n" as &[u8]
    );
    assert_eq!(decode_batch(groups[4].payload()).unwrap(), vec![cmd(&["INFO", "server"])]);
    assert_eq!(groups[6], Group::Close(b"+OK\r\n".to_vec()));
    assert!(s.feed(b"PING\r\n", 1).is_empty());
}

#[test]
fn batches_are_bounded_and_readonly_reads_are_stale() {
    let mut s = RespSession::new(RespLimits::default(), 2, 1).unwrap();
    let wire: Vec<u8> = (0..5).flat_map(|i| encode_command(&["SET", &i.to_string(), "v"])).collect();
    assert_eq!(kinds(&s.feed(&wire, 1)), vec![1, 1, 1]);
    let groups = s.feed(b"READONLY\r\nGET a\r\nREADWRITE\r\nGET a\r\n", 1);
    assert_eq!(kinds(&groups), vec![0, 3, 0, 2]);
    assert!(!s.readonly());
}

#[test]
fn session_commands_answer_like_redis() {
    let mut s = session();
    let ask = |s: &mut RespSession, line: &str| -> String {
        let groups = s.feed(format!("{line}\r\n").as_bytes(), 1);
        String::from_utf8(groups.iter().flat_map(|g| g.payload().to_vec()).collect()).unwrap()
    };
    assert_eq!(ask(&mut s, "PING hello"), "$5\r\nhello\r\n");
    assert_eq!(ask(&mut s, "SELECT 0"), "+OK\r\n");
    assert_eq!(ask(&mut s, "SELECT 1"), "-ERR DB index is out of range\r\n");
    assert_eq!(ask(&mut s, "CLIENT SETINFO LIB-NAME redis-py"), "+OK\r\n");
    assert_eq!(ask(&mut s, "CLIENT SETINFO LIB-VER 5.0.0"), "+OK\r\n");
    assert_eq!(ask(&mut s, "CLIENT GETNAME"), "$-1\r\n");
    assert_eq!(ask(&mut s, "CLIENT SETNAME worker"), "+OK\r\n");
    assert_eq!(s.name(), Some(&b"worker"[..]));
    assert_eq!(ask(&mut s, "CLIENT ID"), ":7\r\n");
    assert_eq!(ask(&mut s, "CLIENT BOGUS"), "-ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.\r\n");
    assert_eq!(ask(&mut s, "HELLO 4"), "-NOPROTO unsupported protocol version\r\n");
    assert!(ask(&mut s, "HELLO 2").starts_with("*14\r\n$6\r\nserver\r\n$6\r\nsenate\r\n"));
    assert_eq!(ask(&mut s, "COMMAND DOCS ttl nope"), "*2\r\n$3\r\nttl\r\n*2\r\n$5\r\ngroup\r\n$7\r\ngeneric\r\n");
    assert_eq!(ask(&mut s, "COMMAND COUNT"), ":84\r\n");
    assert_eq!(ask(&mut s, "COMMAND DOCS hset"), "*2\r\n$4\r\nhset\r\n*2\r\n$5\r\ngroup\r\n$4\r\nhash\r\n");
    // HDEL only frees memory: no denyoom, as in Redis.
    assert!(ask(&mut s, "COMMAND INFO hdel").contains("*2\r\n+write\r\n+fast\r\n"));
    assert!(ask(&mut s, "COMMAND INFO hset").contains("*3\r\n+write\r\n+denyoom\r\n+fast\r\n"));
    assert_eq!(
        ask(&mut s, "COMMAND INFO get nope"),
        "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
         *3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n*-1\r\n"
    );
    assert!(ask(&mut s, "COMMAND INFO mset").contains(":1\r\n:-1\r\n:2\r\n"));
    assert_eq!(ask(&mut s, "CONFIG GET save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    assert_eq!(ask(&mut s, "CONFIG GET appendonly"), "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    assert_eq!(ask(&mut s, "CONFIG GET nothing"), "*0\r\n");
    assert_eq!(ask(&mut s, "CONFIG GET proto*"), "*2\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n");
    assert_eq!(ask(&mut s, "get"), "-ERR wrong number of arguments for 'get' command\r\n");
}

#[test]
fn oversized_values_are_skipped_across_feeds() {
    let limits = RespLimits { max_value_bytes: 10, ..RespLimits::default() };
    let mut s = RespSession::new(limits, 16, 1).unwrap();
    let big = vec![b'x'; 1000];
    let wire = [encode_command(&[&b"SET"[..], b"k", &big, b"EX", b"10"]), encode_command(&["GET", "k"])].concat();
    let mut groups = Vec::new();
    for chunk in wire.chunks(7) {
        groups.extend(s.feed(chunk, 1));
        assert!(s.buffered_bytes() < 64, "the oversized value is not buffered");
    }
    assert_eq!(groups[0], Group::Reply(b"-ERR value too large (max 10 bytes)\r\n".to_vec()));
    assert_eq!(kinds(&groups), vec![0, 2]);
    assert_eq!(decode_batch(groups[1].payload()).unwrap(), vec![cmd(&["GET", "k"])]);
}

#[test]
fn bad_input_closes_without_big_allocations() {
    let cases: [(&[u8], &str); 4] = [
        (b"*1\r\nxyz\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"),
        (b"*1\r\n$1099511627776\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*-5\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
    ];
    for (input, reply) in cases {
        let mut s = session();
        let groups = s.feed(input, 1);
        assert_eq!(groups, vec![Group::Close(reply.as_bytes().to_vec())], "{:?}", String::from_utf8_lossy(input));
    }
    // A huge array header followed by nothing: nothing buffered beyond the header, no error.
    let wide = RespLimits { max_args: 2_000_000, ..RespLimits::default() };
    let mut s = RespSession::new(wide, 16, 1).unwrap();
    assert!(s.feed(b"*1000000\r\n", 1).is_empty());
    assert_eq!(s.buffered_bytes(), 10);
    // Over max_args.
    assert_eq!(kinds(&session().feed(b"*1000000\r\n", 1)), vec![5]);
    // An unterminated bulk waits for its bytes, then completes.
    let mut s = session();
    assert!(s.feed(b"*2\r\n$3\r\nGET\r\n$5\r\nab", 1).is_empty());
    assert_eq!(kinds(&s.feed(b"cde\r\n", 1)), vec![2]);
    // An endless inline line is refused once over max_inline_bytes.
    let mut s = session();
    assert!(s.feed(&[b'a'; 60_000], 1).is_empty());
    assert_eq!(
        s.feed(&[b'a'; 10_000], 1),
        vec![Group::Close(b"-ERR Protocol error: too big inline request\r\n".to_vec())]
    );
}

#[test]
fn limits_are_validated_by_field() {
    let bad = RespLimits { max_value_bytes: 2 << 30, max_bulk_bytes: 1 << 30, ..RespLimits::default() };
    assert!(matches!(RespSession::new(bad, 16, 1), Err(KvError::InvalidLimits { field: "max_value_bytes", .. })));
    let bad = RespLimits { max_args: 0, ..RespLimits::default() };
    assert!(matches!(RespSession::new(bad, 16, 1), Err(KvError::InvalidLimits { field: "max_args", .. })));
    assert!(matches!(
        RespSession::new(RespLimits::default(), 0, 1),
        Err(KvError::InvalidLimits { field: "max_batch_commands", .. })
    ));
}

/// `cargo test -p senate-core --release --test kv -- --ignored --nocapture memory`
#[test]
#[ignore = "builds a million keys; run by hand to measure memory"]
fn memory_per_key_of_a_million_100_byte_values() {
    let mut store = KvStore::default();
    let value = vec![b'v'; 100];
    let mut commands = Vec::new();
    for i in 0..1_000_000u32 {
        commands.push(vec![b"SET".to_vec(), format!("key:{i:010}").into_bytes(), value.clone()]);
        if commands.len() == 1024 {
            apply_batch(&mut store, &encode_batch(1, &commands)).unwrap();
            commands.clear();
        }
    }
    apply_batch(&mut store, &encode_batch(1, &commands)).unwrap();
    let per_key = store.memory_bytes() as f64 / 1e6;
    let data_per_key = store.data_bytes() as f64 / 1e6;
    println!("estimate: {per_key:.1} bytes/key ({data_per_key:.1} of them key and value bytes)");
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        println!("process RSS: {:.1} bytes/key", pages * 4096.0 / 1e6);
    }
}
