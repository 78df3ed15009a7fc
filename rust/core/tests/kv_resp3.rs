//! RESP3 per connection: HELLO switches the protocol, the batches carry it, and the replies
//! that differ from RESP2 (nulls, maps) are the bytes redis-server 7 sends. The expected bytes
//! were taken from redis-server 7.0.15 (only `server`, `version` and `id` differ).

use proptest::prelude::*;
use senate_core::codec::count_replies;
use senate_core::codec::resp::Protocol;
use senate_core::codec::RespLimits;
use senate_core::kv::{
    apply_batch, decode_batch, encode_batch, encode_batch_for, encode_command, read_batch, BatchReader, Group, KvError,
    KvStore, RespSession,
};

const HELLO_3: &str = "%7\r\n$6\r\nserver\r\n$6\r\nsenate\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:3\r\n\
                       $2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n\
                       $7\r\nmodules\r\n*0\r\n";

fn cmd(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn session() -> RespSession {
    RespSession::new(RespLimits::default(), 1024, 7).unwrap()
}

/// Feeds one command line and runs what it gives against `store` as the server would (log
/// batches applied, reads read); returns all the reply bytes as text.
fn ask(s: &mut RespSession, store: &mut KvStore, line: &str) -> String {
    let mut out = Vec::new();
    for group in s.feed(format!("{line}\r\n").as_bytes(), 1) {
        match group {
            Group::Reply(b) | Group::Close(b) => out.extend_from_slice(&b),
            Group::Log(b) => out.extend(apply_batch(store, &b).unwrap()),
            Group::Read(b) | Group::StaleRead(b) => out.extend(read_batch(store, &b, 1).unwrap()),
            Group::Node(_) | Group::Watch(_) | Group::ExecLog(_) | Group::ExecRead(_) | Group::ExecNode(_) => {
                panic!("no node commands, WATCH or transactions here")
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn batch_protocol(group: &Group) -> Protocol {
    BatchReader::new(group.payload()).unwrap().protocol
}

// --- HELLO ---

#[test]
fn hello_3_switches_the_connection_and_answers_a_map() {
    let (mut s, mut store) = (session(), KvStore::default());
    assert_eq!(s.protocol(), Protocol::Resp2);
    assert_eq!(ask(&mut s, &mut store, "HELLO 3"), HELLO_3);
    assert_eq!(s.protocol(), Protocol::Resp3);
    // Without a version: the current protocol, answered in it.
    assert_eq!(ask(&mut s, &mut store, "HELLO"), HELLO_3);
    assert_eq!(ask(&mut s, &mut store, "HELLO 4"), "-NOPROTO unsupported protocol version\r\n");
    assert_eq!(ask(&mut s, &mut store, "HELLO x"), "-ERR Protocol version is not an integer or out of range\r\n");
    assert_eq!(s.protocol(), Protocol::Resp3, "a refused HELLO changes nothing");
    let hello_2 = ask(&mut s, &mut store, "HELLO 2");
    assert!(hello_2.starts_with("*14\r\n$6\r\nserver\r\n"));
    assert!(hello_2.contains("$5\r\nproto\r\n:2\r\n"));
    assert_eq!(s.protocol(), Protocol::Resp2);
}

#[test]
fn hello_3_takes_setname_and_auth() {
    let (mut s, mut store) = (session(), KvStore::default());
    assert_eq!(
        ask(&mut s, &mut store, "HELLO 3 SETNAME bad\x01name"),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(s.protocol(), Protocol::Resp2, "a refused name leaves the protocol");
    assert_eq!(ask(&mut s, &mut store, "HELLO 3 SETNAME a b"), "-ERR Syntax error in HELLO option 'b'\r\n");
    assert_eq!(s.protocol(), Protocol::Resp2);
    // The default user has no password (Redis's `nopass`): any AUTH is accepted.
    assert_eq!(ask(&mut s, &mut store, "HELLO 3 AUTH default secret SETNAME worker"), HELLO_3);
    assert_eq!(s.name(), Some(&b"worker"[..]));
    assert_eq!(s.protocol(), Protocol::Resp3);
    assert!(ask(&mut s, &mut store, "CLIENT INFO").ends_with(" name=worker db=0 user=default resp=3\n\r\n"));
}

// --- replies, byte-exact against redis-server 7 ---

#[test]
fn resp3_nulls_and_maps_are_redis_bytes() {
    let (mut s, mut store) = (session(), KvStore::default());
    ask(&mut s, &mut store, "HELLO 3");
    let cases = [
        ("GET nope", "_\r\n"),
        ("SET k v", "+OK\r\n"),
        ("MGET k nope", "*2\r\n$1\r\nv\r\n_\r\n"),
        ("SET k v NX", "_\r\n"),
        ("SET fresh v XX", "_\r\n"),
        ("SET fresh v GET", "_\r\n"),
        ("GETSET other v", "_\r\n"),
        ("GET k", "$1\r\nv\r\n"),
        ("INCR n", ":1\r\n"),
        ("EXISTS k nope", ":1\r\n"),
        ("KEYS nothing*", "*0\r\n"),
        ("CONFIG GET save", "%1\r\n$4\r\nsave\r\n$0\r\n\r\n"),
        ("CONFIG GET appendonly", "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"),
        ("CONFIG GET nothing", "%0\r\n"),
        ("CONFIG GET save databases", "%2\r\n$4\r\nsave\r\n$0\r\n\r\n$9\r\ndatabases\r\n$1\r\n1\r\n"),
        ("CLIENT GETNAME", "_\r\n"),
        ("COMMAND INFO nosuch", "*1\r\n_\r\n"),
        ("INCR k", "-ERR value is not an integer or out of range\r\n"),
        ("PING", "+PONG\r\n"),
    ];
    for (line, expected) in cases {
        assert_eq!(ask(&mut s, &mut store, line), expected, "{line}");
    }
}

#[test]
fn resp2_replies_are_unchanged() {
    let (mut s, mut store) = (session(), KvStore::default());
    assert_eq!(ask(&mut s, &mut store, "GET nope"), "$-1\r\n");
    assert_eq!(ask(&mut s, &mut store, "CONFIG GET save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    assert_eq!(ask(&mut s, &mut store, "COMMAND INFO nosuch"), "*1\r\n*-1\r\n");
    ask(&mut s, &mut store, "HELLO 3");
    ask(&mut s, &mut store, "HELLO 2");
    assert_eq!(ask(&mut s, &mut store, "MGET nope"), "*1\r\n$-1\r\n");
}

// --- batches carry the protocol ---

#[test]
fn a_pipelined_hello_changes_the_batches_after_it() {
    let mut s = session();
    let wire = [
        encode_command(&["GET", "a"]),
        encode_command(&["SET", "a", "1"]),
        encode_command(&["HELLO", "3"]),
        encode_command(&["SET", "b", "2"]),
        encode_command(&["GET", "nope"]),
        encode_command(&["INFO"]),
    ]
    .concat();
    let groups = s.feed(&wire, 5);
    let kinds: Vec<u8> = groups.iter().map(Group::kind).collect();
    assert_eq!(kinds, vec![2, 1, 0, 1, 4]);
    assert_eq!(batch_protocol(&groups[0]), Protocol::Resp2);
    assert_eq!(batch_protocol(&groups[1]), Protocol::Resp2);
    assert_eq!(batch_protocol(&groups[3]), Protocol::Resp3);
    assert_eq!(batch_protocol(&groups[4]), Protocol::Resp3);
    assert_eq!(decode_batch(groups[4].payload()).unwrap(), vec![cmd(&["INFO"])]);
    // Every replica encodes the log batch's replies the same way: as its client expects.
    for _ in 0..2 {
        let mut replica = KvStore::default();
        assert_eq!(apply_batch(&mut replica, groups[3].payload()).unwrap(), b"+OK\r\n_\r\n");
    }
}

#[test]
fn batches_round_trip_with_either_protocol() {
    let commands = vec![cmd(&["SET", "k", "v"]), cmd(&["GET", "nope"]), cmd(&["MGET", "k", "x"])];
    // Both written as version 4 (it advances WATCH's versions), the protocol byte saying which.
    for (protocol, version, header_bytes) in [(Protocol::Resp2, 4u8, 14usize), (Protocol::Resp3, 4, 14)] {
        let batch = encode_batch_for(protocol, 99, &commands);
        assert_eq!(batch[0], version);
        let reader = BatchReader::new(&batch).unwrap();
        assert_eq!((reader.protocol, reader.now_ms, reader.len()), (protocol, 99, 3));
        assert_eq!(decode_batch(&batch).unwrap(), commands);
        let empty = encode_batch_for(protocol, 1, &[]);
        assert_eq!(empty.len(), header_bytes);
        for cut in 0..batch.len() {
            let refused = apply_batch(&mut KvStore::default(), &batch[..cut]);
            assert!(matches!(refused, Err(KvError::MalformedBatch { .. })), "{protocol:?} cut at {cut}");
        }
    }
    assert_eq!(encode_batch(99, &commands), encode_batch_for(Protocol::Resp2, 99, &commands));
}

#[test]
fn version_1_batches_in_an_existing_log_still_apply() {
    // A version 1 batch as written before RESP3: version, now_ms, count, then `GET k`.
    let mut old = vec![1u8];
    old.extend_from_slice(&7u64.to_le_bytes());
    old.extend_from_slice(&1u32.to_le_bytes());
    old.extend_from_slice(b"\x02\x03GET\x01k");
    let reader = BatchReader::new(&old).unwrap();
    assert_eq!((reader.protocol, reader.now_ms), (Protocol::Resp2, 7));
    assert_eq!(apply_batch(&mut KvStore::default(), &old).unwrap(), b"$-1\r\n");
}

#[test]
fn bad_protocol_bytes_and_versions_are_refused() {
    let good = encode_batch_for(Protocol::Resp3, 1, &[cmd(&["GET", "k"])]);
    for (at, byte) in [(13, 4u8), (13, 0), (0, 3), (0, 0)] {
        let mut bad = good.clone();
        bad[at] = byte;
        assert!(matches!(BatchReader::new(&bad), Err(KvError::MalformedBatch { .. })), "byte {at} = {byte}");
    }
    // A version 2 batch may name RESP2.
    let mut resp2 = good.clone();
    resp2[13] = 2;
    assert_eq!(apply_batch(&mut KvStore::default(), &resp2).unwrap(), b"$-1\r\n");
}

// --- counting RESP3 replies ---

#[test]
fn count_replies_knows_resp3_types() {
    let wire: &[u8] = b"_\r\n#t\r\n,1.5\r\n(12345678901234567890\r\n!3\r\nERR\r\n=7\r\ntxt:abc\r\n\
                        %1\r\n+k\r\n~2\r\n:1\r\n:2\r\n";
    assert_eq!(count_replies(wire).unwrap(), (7, wire.len(), 1));
    // A push is out of band: used, not counted. An attribute belongs to its reply.
    let wire: &[u8] = b">2\r\n+message\r\n+hi\r\n|1\r\n+ttl\r\n:3\r\n-ERR x\r\n|0\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n";
    assert_eq!(count_replies(wire).unwrap(), (2, wire.len(), 1));
    // Incomplete: stops before the reply whose element is missing.
    assert_eq!(count_replies(b"+OK\r\n%1\r\n+k\r\n").unwrap(), (1, 5, 0));
    assert_eq!(count_replies(b"+OK\r\n|1\r\n+k\r\n:1\r\n").unwrap(), (1, 5, 0));
    for bad in [&b"_x\r\n"[..], b"#x\r\n", b",\r\n", b"(1a\r\n", b"!-1\r\n", b"=-1\r\n", b"%-1\r\n", b"~-1\r\n"] {
        assert!(count_replies(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
}

/// One encoded RESP3 element; `error` tells whether it is an error reply.
#[derive(Clone, Debug)]
struct Encoded {
    bytes: Vec<u8>,
    error: bool,
}

fn leaf() -> impl Strategy<Value = Encoded> {
    let text = "[a-zA-Z0-9 ]{0,12}";
    prop_oneof![
        text.prop_map(|t| Encoded { bytes: format!("+{t}\r\n").into_bytes(), error: false }),
        text.prop_map(|t| Encoded { bytes: format!("-ERR {t}\r\n").into_bytes(), error: true }),
        any::<i64>().prop_map(|n| Encoded { bytes: format!(":{n}\r\n").into_bytes(), error: false }),
        Just(Encoded { bytes: b"_\r\n".to_vec(), error: false }),
        any::<bool>()
            .prop_map(|b| Encoded { bytes: format!("#{}\r\n", if b { 't' } else { 'f' }).into_bytes(), error: false }),
        any::<f64>().prop_map(|x| Encoded { bytes: format!(",{x}\r\n").into_bytes(), error: false }),
        "-?[0-9]{1,40}".prop_map(|d| Encoded { bytes: format!("({d}\r\n").into_bytes(), error: false }),
        (prop::sample::select(vec!['$', '!', '=']), prop::collection::vec(any::<u8>(), 0..20)).prop_map(
            |(kind, data)| {
                let mut bytes = format!("{kind}{}\r\n", data.len()).into_bytes();
                bytes.extend_from_slice(&data);
                bytes.extend_from_slice(b"\r\n");
                Encoded { bytes, error: kind == '!' }
            }
        ),
    ]
}

fn element() -> impl Strategy<Value = Encoded> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        (prop::sample::select(vec!['*', '~', '%', '|']), prop::collection::vec(inner.clone(), 0..6), inner).prop_map(
            |(kind, children, annotated)| {
                let pairs = kind == '%' || kind == '|';
                let children = if pairs { &children[..children.len() / 2 * 2] } else { &children[..] };
                let stated = if pairs { children.len() / 2 } else { children.len() };
                let mut bytes = format!("{kind}{stated}\r\n").into_bytes();
                children.iter().for_each(|c| bytes.extend_from_slice(&c.bytes));
                if kind == '|' {
                    // An attribute precedes the element it annotates: that element is the reply.
                    bytes.extend_from_slice(&annotated.bytes);
                    return Encoded { bytes, error: annotated.error };
                }
                Encoded { bytes, error: false }
            },
        )
    })
}

proptest! {
    #[test]
    fn resp3_replies_are_counted(replies in prop::collection::vec((element(), any::<bool>()), 0..12)) {
        let mut wire = Vec::new();
        // Where each reply ends, and where each reply or push ends.
        let mut ends = Vec::new();
        let mut boundaries = vec![0];
        let mut errors = 0;
        for (reply, pushed_before) in &replies {
            if *pushed_before {
                // A push between replies: consumed, never counted.
                wire.extend_from_slice(b">2\r\n$7\r\nmessage\r\n");
                wire.extend_from_slice(&reply.bytes);
                boundaries.push(wire.len());
            }
            wire.extend_from_slice(&reply.bytes);
            ends.push(wire.len());
            boundaries.push(wire.len());
            errors += usize::from(reply.error);
        }
        prop_assert_eq!(count_replies(&wire).unwrap(), (replies.len(), wire.len(), errors));
        // Any prefix: the replies complete in it, and the bytes of what is complete.
        for cut in 0..wire.len() {
            let (n, used, _) = count_replies(&wire[..cut]).unwrap();
            prop_assert_eq!(n, ends.iter().take_while(|&&end| end <= cut).count());
            prop_assert_eq!(used, boundaries.iter().copied().take_while(|&end| end <= cut).last().unwrap_or(0));
        }
    }

    #[test]
    fn store_replies_of_either_protocol_are_counted(
        values in prop::collection::vec(prop::option::of(prop::collection::vec(any::<u8>(), 0..30)), 0..30),
        resp3 in any::<bool>(),
    ) {
        let protocol = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let mut commands = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => commands.push(vec![b"SET".to_vec(), i.to_string().into_bytes(), v.clone()]),
                None => commands.push(vec![b"INCR".to_vec(), b"x".to_vec(), b"y".to_vec()]),
            }
            commands.push(vec![b"MGET".to_vec(), i.to_string().into_bytes(), b"none".to_vec()]);
            commands.push(vec![b"GET".to_vec(), b"none".to_vec()]);
        }
        let replies = apply_batch(&mut KvStore::default(), &encode_batch_for(protocol, 1, &commands)).unwrap();
        let errors = values.iter().filter(|v| v.is_none()).count();
        prop_assert_eq!(count_replies(&replies).unwrap(), (commands.len(), replies.len(), errors));
        if !values.is_empty() {
            let null: &[u8] = if resp3 { b"_\r\n" } else { b"$-1\r\n" };
            prop_assert!(replies.ends_with(null));
        }
    }
}
