//! The hash commands: replies byte for byte as Redis 7 gives them (RESP2 and RESP3),
//! WRONGTYPE between strings and hashes both ways, the keyspace commands on hash keys, the
//! memory accounting, HSCAN's promise under concurrent writes, and snapshots that carry
//! hashes (while a snapshot of the previous version still loads).

use proptest::prelude::*;
use senate_core::codec::resp::Protocol;
use senate_core::kv::{
    apply_batch, decode_snapshot, encode_batch, encode_batch_for, encode_snapshot, read_batch, KvStore,
};
use std::collections::BTreeSet;

fn cmd(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn run(store: &mut KvStore, words: &[&str]) -> String {
    let batch = encode_batch(NOW, &[cmd(words)]);
    String::from_utf8_lossy(&apply_batch(store, &batch).unwrap()).into_owned()
}

fn run3(store: &mut KvStore, words: &[&str]) -> String {
    let batch = encode_batch_for(Protocol::Resp3, NOW, &[cmd(words)]);
    String::from_utf8_lossy(&apply_batch(store, &batch).unwrap()).into_owned()
}

fn read(store: &KvStore, words: &[&str]) -> String {
    let batch = encode_batch(NOW, &[cmd(words)]);
    String::from_utf8_lossy(&read_batch(store, &batch, NOW).unwrap()).into_owned()
}

const NOW: u64 = 1_700_000_000_000;
const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn hash_commands_reply_like_redis() {
    let mut s = KvStore::default();
    assert_eq!(run(&mut s, &["HSET", "h", "a", "1", "b", "2", "a", "3"]), ":2\r\n");
    assert_eq!(run(&mut s, &["HSET", "h", "a"]), "-ERR wrong number of arguments for 'hset' command\r\n");
    assert_eq!(run(&mut s, &["HMSET", "h", "c", "x"]), "+OK\r\n");
    assert_eq!(run(&mut s, &["HMSET", "h", "c"]), "-ERR wrong number of arguments for 'hmset' command\r\n");
    assert_eq!(
        run(&mut s, &["HGETALL", "h"]),
        "*6\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\nx\r\n"
    );
    assert_eq!(
        run3(&mut s, &["HGETALL", "h"]),
        "%3\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\nx\r\n"
    );
    assert_eq!(run3(&mut s, &["HGETALL", "none"]), "%0\r\n");
    assert_eq!(read(&s, &["HGET", "h", "a"]), "$1\r\n3\r\n");
    assert_eq!(read(&s, &["HGET", "h", "z"]), "$-1\r\n");
    assert_eq!(read(&s, &["HMGET", "h", "a", "z", "c"]), "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\nx\r\n");
    assert_eq!(read(&s, &["HMGET", "none", "a"]), "*1\r\n$-1\r\n");
    assert_eq!(read(&s, &["HKEYS", "h"]), "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    assert_eq!(read(&s, &["HVALS", "h"]), "*3\r\n$1\r\n3\r\n$1\r\n2\r\n$1\r\nx\r\n");
    assert_eq!(read(&s, &["HLEN", "h"]), ":3\r\n");
    assert_eq!(read(&s, &["HEXISTS", "h", "b"]), ":1\r\n");
    assert_eq!(read(&s, &["HSTRLEN", "h", "c"]), ":1\r\n");
    assert_eq!(read(&s, &["HSTRLEN", "h", "z"]), ":0\r\n");
    assert_eq!(run(&mut s, &["HSETNX", "h", "a", "9"]), ":0\r\n");
    assert_eq!(run(&mut s, &["HSETNX", "h", "d", "9"]), ":1\r\n");
    // A deleted field closes its gap; one set again goes last (Redis's listpack order).
    assert_eq!(run(&mut s, &["HDEL", "h", "b", "b", "zz"]), ":1\r\n");
    assert_eq!(run(&mut s, &["HSET", "h", "b", "5"]), ":1\r\n");
    assert_eq!(read(&s, &["HKEYS", "h"]), "*4\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\nb\r\n");
    // HINCRBY and HINCRBYFLOAT.
    assert_eq!(run(&mut s, &["HINCRBY", "h", "a", "10"]), ":13\r\n");
    assert_eq!(run(&mut s, &["HINCRBY", "h", "n", "-2"]), ":-2\r\n");
    assert_eq!(run(&mut s, &["HINCRBY", "h", "c", "1"]), "-ERR hash value is not an integer\r\n");
    assert_eq!(run(&mut s, &["HINCRBY", "h", "a", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(
        run(&mut s, &["HINCRBY", "h", "a", "9223372036854775807"]),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "f", "0.1"]), "$3\r\n0.1\r\n");
    assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "f", "5.0e3"]), "$22\r\n5000.10000000000000009\r\n");
    assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "a", "-13"]), "$1\r\n0\r\n");
    assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "c", "1"]), "-ERR hash value is not a float\r\n");
    assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "c", "x"]), "-ERR value is not a valid float\r\n");
    assert_eq!(run(&mut s, &["HINCRBYFLOAT", "h", "c", "inf"]), "-ERR value is NaN or Infinity\r\n");
    assert_eq!(run(&mut s, &["HSET", "h", "big", "1e4932"]), ":1\r\n");
    assert_eq!(
        run(&mut s, &["HINCRBYFLOAT", "h", "big", "1e4932"]),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
    // The last field deleted deletes the key.
    assert_eq!(run(&mut s, &["HSET", "one", "f", "v"]), ":1\r\n");
    assert_eq!(run(&mut s, &["HDEL", "one", "f"]), ":1\r\n");
    assert_eq!(read(&s, &["EXISTS", "one"]), ":0\r\n");
    assert_eq!(run(&mut s, &["HDEL", "one", "f"]), ":0\r\n");
    // SUBSTR is GETRANGE.
    assert_eq!(run(&mut s, &["SET", "s", "hello"]), "+OK\r\n");
    assert_eq!(read(&s, &["SUBSTR", "s", "1", "-2"]), "$3\r\nell\r\n");
}

#[test]
fn strings_and_hashes_refuse_each_others_commands_as_redis_does() {
    let mut s = KvStore::default();
    run(&mut s, &["SET", "s", "10"]);
    run(&mut s, &["HSET", "h", "f", "1"]);
    for words in [
        &["HSET", "s", "f", "v"][..],
        &["HMSET", "s", "f", "v"],
        &["HSETNX", "s", "f", "v"],
        &["HGET", "s", "f"],
        &["HMGET", "s", "f"],
        &["HDEL", "s", "f"],
        &["HGETALL", "s"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HLEN", "s"],
        &["HEXISTS", "s", "f"],
        &["HINCRBY", "s", "f", "1"],
        &["HINCRBYFLOAT", "s", "f", "1"],
        &["HSTRLEN", "s", "f"],
        &["HSCAN", "s", "0"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2", "WITHVALUES"],
        &["GET", "h"],
        &["GETSET", "h", "v"],
        &["GETDEL", "h"],
        &["GETEX", "h", "PERSIST"],
        &["SET", "h", "v", "GET"],
        &["SET", "h", "v", "NX", "GET"],
        &["INCR", "h"],
        &["DECRBY", "h", "2"],
        &["INCRBYFLOAT", "h", "1"],
        &["APPEND", "h", "x"],
        &["STRLEN", "h"],
        &["GETRANGE", "h", "0", "1"],
        &["SUBSTR", "h", "0", "1"],
        &["SETRANGE", "h", "0", ""],
    ] {
        assert_eq!(run(&mut s, words), WRONGTYPE, "{words:?}");
    }
    // Errors Redis finds before the type.
    assert_eq!(run(&mut s, &["INCRBY", "h", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(run(&mut s, &["GETEX", "h", "BOGUS"]), "-ERR syntax error\r\n");
    assert_eq!(run(&mut s, &["SETRANGE", "h", "-1", "x"]), "-ERR offset is out of range\r\n");
    assert_eq!(run(&mut s, &["HSCAN", "s", "x"]), "-ERR invalid cursor\r\n");
    assert_eq!(run(&mut s, &["HRANDFIELD", "s", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(run(&mut s, &["LCS", "s", "h"]), "-ERR The specified keys must contain string values\r\n");
    // Nothing was changed by the refused commands.
    assert_eq!(read(&s, &["HGETALL", "h"]), "*2\r\n$1\r\nf\r\n$1\r\n1\r\n");
    assert_eq!(read(&s, &["GET", "s"]), "$2\r\n10\r\n");
    // MGET reads a hash as absent; SETNX and MSETNX see it exists; SET and MSET overwrite it.
    assert_eq!(read(&s, &["MGET", "h", "s"]), "*2\r\n$-1\r\n$2\r\n10\r\n");
    assert_eq!(run(&mut s, &["SETNX", "h", "v"]), ":0\r\n");
    assert_eq!(run(&mut s, &["MSETNX", "h", "v", "new", "v"]), ":0\r\n");
    assert_eq!(run(&mut s, &["SET", "h", "v", "NX"]), "$-1\r\n");
    assert_eq!(run(&mut s, &["SET", "h", "v", "XX"]), "+OK\r\n");
    assert_eq!(read(&s, &["TYPE", "h"]), "+string\r\n");
    assert_eq!(run(&mut s, &["HSET", "h", "f", "1"]), WRONGTYPE);
    run(&mut s, &["DEL", "h"]);
    assert_eq!(run(&mut s, &["HSET", "h", "f", "1"]), ":1\r\n");
    assert_eq!(run(&mut s, &["MSET", "h", "v"]), "+OK\r\n");
    assert_eq!(read(&s, &["GET", "h"]), "$1\r\nv\r\n");
}

#[test]
fn keyspace_commands_take_hash_keys() {
    let mut s = KvStore::default();
    run(&mut s, &["HSET", "h", "a", "1", "b", "2"]);
    run(&mut s, &["SET", "s", "v"]);
    assert_eq!(read(&s, &["TYPE", "h"]), "+hash\r\n");
    assert_eq!(read(&s, &["SCAN", "0", "TYPE", "hash"]), "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nh\r\n");
    assert_eq!(read(&s, &["SCAN", "0", "TYPE", "string"]), "*2\r\n$1\r\n0\r\n*1\r\n$1\r\ns\r\n");
    assert_eq!(run(&mut s, &["COPY", "h", "c"]), ":1\r\n");
    // The copy is its own: writing one leaves the other.
    run(&mut s, &["HSET", "c", "a", "9"]);
    assert_eq!(read(&s, &["HGET", "h", "a"]), "$1\r\n1\r\n");
    assert_eq!(run(&mut s, &["RENAME", "c", "r"]), "+OK\r\n");
    assert_eq!(read(&s, &["HGET", "r", "a"]), "$1\r\n9\r\n");
    assert_eq!(run(&mut s, &["EXPIRE", "r", "10"]), ":1\r\n");
    assert_eq!(read(&s, &["TTL", "r"]), ":10\r\n");
    // A write to a field keeps the key's deadline, as in Redis.
    run(&mut s, &["HSET", "r", "z", "1"]);
    assert_eq!(read(&s, &["TTL", "r"]), ":10\r\n");
    assert_eq!(run(&mut s, &["PERSIST", "r"]), ":1\r\n");
    assert_eq!(read(&s, &["TOUCH", "h", "r", "none"]), ":2\r\n");
    assert_eq!(read(&s, &["KEYS", "[hr]"]).len(), "*2\r\n$1\r\nh\r\n$1\r\nr\r\n".len());
    assert_eq!(run(&mut s, &["UNLINK", "r"]), ":1\r\n");
    assert_eq!(run(&mut s, &["DEL", "h", "s"]), ":2\r\n");
    assert_eq!((s.stored_len(), s.data_bytes()), (0, 0));
    run(&mut s, &["HSET", "h", "a", "1"]);
    assert_eq!(read(&s, &["RANDOMKEY"]), "$1\r\nh\r\n");
    // An expired hash is gone for every command.
    let batch = encode_batch(NOW, &[cmd(&["PEXPIRE", "h", "5"])]);
    apply_batch(&mut s, &batch).unwrap();
    let later = encode_batch(NOW + 10, &[cmd(&["HSET", "h", "b", "2"]), cmd(&["HGETALL", "h"])]);
    assert_eq!(String::from_utf8_lossy(&apply_batch(&mut s, &later).unwrap()), ":1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
}

#[test]
fn hscan_and_hrandfield_reply_like_redis() {
    let mut s = KvStore::default();
    run(&mut s, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    // A small hash is scanned at once, whatever COUNT says, as a listpack is.
    assert_eq!(
        read(&s, &["HSCAN", "h", "0", "COUNT", "1", "MATCH", "[ab]"]),
        "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(read(&s, &["HSCAN", "none", "0", "COUNT", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert_eq!(read(&s, &["HSCAN", "h", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
    assert_eq!(read(&s, &["HSCAN", "h", "0", "TYPE", "string"]), "-ERR syntax error\r\n");
    assert_eq!(read(&s, &["HSCAN", "h", "0", "MATCH"]), "-ERR syntax error\r\n");
    assert_eq!(read(&s, &["HRANDFIELD", "none"]), "$-1\r\n");
    assert_eq!(read(&s, &["HRANDFIELD", "none", "2", "WITHVALUES"]), "*0\r\n");
    assert_eq!(read(&s, &["HRANDFIELD", "h", "0"]), "*0\r\n");
    assert_eq!(read(&s, &["HRANDFIELD", "h", "5"]), "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    assert_eq!(read(&s, &["HRANDFIELD", "h", "-5"]).matches("\r\n$1\r\n").count() + 1, 5 + 1);
    assert_eq!(read(&s, &["HRANDFIELD", "h", "2", "WITHVALUES"]).lines().count(), 1 + 4 * 2);
    assert_eq!(read(&s, &["HRANDFIELD", "h", "2", "BOGUS"]), "-ERR syntax error\r\n");
    assert_eq!(
        read(&s, &["HRANDFIELD", "h", "-9223372036854775808"]),
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
    );
    assert_eq!(read(&s, &["HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"]), "-ERR value is out of range\r\n");
    assert!(read(&s, &["HRANDFIELD", "h", "-100000000"]).starts_with("-ERR HRANDFIELD would return more than"));
    let one = read(&s, &["HRANDFIELD", "h"]);
    assert!(["$1\r\na\r\n", "$1\r\nb\r\n", "$1\r\nc\r\n"].contains(&one.as_str()), "{one}");
    // Distinct picks, each with its value; RESP3 pairs them.
    let batch = encode_batch_for(Protocol::Resp3, NOW, &[cmd(&["HRANDFIELD", "h", "2", "WITHVALUES"])]);
    let reply = String::from_utf8(read_batch(&s, &batch, NOW).unwrap()).unwrap();
    assert!(reply.starts_with("*2\r\n*2\r\n$1\r\n"), "{reply}");
    let fields: BTreeSet<&str> = reply.split("\r\n").filter(|w| ["a", "b", "c"].contains(w)).collect();
    assert_eq!(fields.len(), 2);
    // The same read on another replica picks the same.
    assert_eq!(read(&s.clone(), &["HRANDFIELD", "h", "-7"]), read(&s, &["HRANDFIELD", "h", "-7"]));
}

/// Fields (besides `prefix` ones) met by an HSCAN walk with COUNT `count`, churning writes
/// between calls.
fn hscan_walk(s: &mut KvStore, count: &str) -> Vec<String> {
    let (mut cursor, mut seen, mut churn) = ("0".to_string(), Vec::new(), 0);
    loop {
        let reply = read(s, &["HSCAN", "big", &cursor, "COUNT", count]);
        let parts: Vec<&str> = reply.split("\r\n").collect();
        let next = parts[2].to_string();
        seen.extend(parts[4..].iter().skip(1).step_by(4).filter(|w| w.starts_with("stay:")).map(|w| w.to_string()));
        for _ in 0..5 {
            run(s, &["HSET", "big", &format!("churn:{churn}"), "v"]);
            run(s, &["HDEL", "big", &format!("churn:{}", churn / 2)]);
            churn += 1;
        }
        if next == "0" {
            return seen;
        }
        cursor = next;
    }
}

#[test]
fn hscan_of_a_large_hash_meets_every_field_present_throughout_once() {
    let mut s = KvStore::default();
    for i in 0..300 {
        run(&mut s, &["HSET", "big", &format!("stay:{i}"), "v"]);
    }
    let seen = hscan_walk(&mut s, "7");
    assert_eq!(seen.len(), 300);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 300);
}

#[test]
fn memory_accounting_covers_fields_and_values() {
    let mut s = KvStore::default();
    let empty = s.memory_bytes();
    run(&mut s, &["HSET", "h", "f1", "x"]);
    let one = s.data_bytes();
    run(&mut s, &["HSET", "h", "f2", &"y".repeat(10_000)]);
    assert!(s.data_bytes() >= one + 10_002, "{one} -> {}", s.data_bytes());
    assert!(s.memory_bytes() >= empty + 10_002);
    run(&mut s, &["HSET", "h", "f2", "y"]);
    assert!(s.data_bytes() < one + 100);
    run(&mut s, &["HDEL", "h", "f1", "f2"]);
    assert_eq!(s.data_bytes(), 0);
}

#[test]
fn a_version_2_snapshot_still_loads() {
    // Written by the build before hashes: version 2 (strings and one client session), clock
    // 5, two keys ("a" -> "1" with no deadline, "b" -> "xy" expiring at 9).
    let mut old = vec![2u8];
    old.extend_from_slice(&5u64.to_le_bytes());
    old.extend_from_slice(&2u64.to_le_bytes());
    old.extend_from_slice(&[1, b'a', 1, b'1', 0, 1, b'b', 2, b'x', b'y', 9]);
    // Sessions: next_id 2, uses 2, one session (id 1, first_unacked 0, last use 1 at 5 ms, no replies).
    old.extend_from_slice(&[2, 2, 1, 1, 0, 1, 5, 0]);
    let store = decode_snapshot(&old, 10).unwrap();
    assert_eq!(read(&store, &["MGET", "a", "b"]), "*2\r\n$1\r\n1\r\n$-1\r\n"); // "b" expired long ago
    assert_eq!(store.stored_len(), 2);
    // Written again without a hash it is version 2 still, and reads back the same.
    let again = encode_snapshot(&store);
    assert_eq!((again[0], again.len()), (2, old.len()));
    assert_eq!(encode_snapshot(&decode_snapshot(&again, 10).unwrap()), again);
}

/// A field or value: short (a compact hash) or long enough to convert it.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..4), prop::collection::vec(any::<u8>(), 60..70)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A store of strings and hashes (compact and converted, some fields deleted, with
    /// deadlines) decodes to one that encodes the same, answers the same, and accounts the
    /// same bytes.
    #[test]
    fn snapshot_with_hashes_roundtrips(
        hashes in prop::collection::btree_map(
            prop::collection::vec(any::<u8>(), 1..6),
            (prop::collection::vec((bytes(), bytes()), 1..140), prop::collection::vec(bytes(), 0..20), any::<bool>()),
            0..6,
        ),
        strings in prop::collection::btree_map(prop::collection::vec(any::<u8>(), 1..6), bytes(), 0..6),
    ) {
        let mut s = KvStore::default();
        let mut batch: Vec<Vec<Vec<u8>>> = Vec::new();
        for (key, value) in &strings {
            batch.push(vec![b"SET".to_vec(), key.clone(), value.clone()]);
        }
        for (key, (fields, deleted, expiring)) in &hashes {
            for (field, value) in fields {
                batch.push(vec![b"HSET".to_vec(), key.clone(), field.clone(), value.clone()]);
            }
            for field in deleted {
                batch.push(vec![b"HDEL".to_vec(), key.clone(), field.clone()]);
            }
            if *expiring {
                batch.push(vec![b"PEXPIREAT".to_vec(), key.clone(), (NOW * 2).to_string().into_bytes()]);
            }
        }
        apply_batch(&mut s, &encode_batch(NOW, &batch)).unwrap();
        let snap = encode_snapshot(&s);
        // Version 4: a batch was applied (the keys' versions, for WATCH), typed as version 3.
        prop_assert_eq!(snap[0], 4);
        let back = decode_snapshot(&snap, 100).unwrap();
        prop_assert_eq!((back.stored_len(), back.data_bytes()), (s.stored_len(), s.data_bytes()));
        // The tables' own order may differ (grown otherwise); each value is the same, and each
        // hash lists its fields in the same order.
        for (key, value) in s.iter() {
            prop_assert_eq!(back.get(key, 0), Some(value));
            for name in ["HGETALL", "PTTL", "GET", "HSCAN"] {
                let mut words = vec![name.as_bytes().to_vec(), key.to_vec()];
                if name == "HSCAN" {
                    words.extend([b"0".to_vec(), b"COUNT".to_vec(), b"3".to_vec()]);
                }
                let batch = encode_batch(NOW, &[words]);
                prop_assert_eq!(read_batch(&back, &batch, NOW).unwrap(), read_batch(&s, &batch, NOW).unwrap());
            }
        }
    }
}
