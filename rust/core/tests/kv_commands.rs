//! The expiry, keyspace and string commands beyond GET and SET: replies byte for byte as
//! Redis 7 gives them, deadlines decided by the batch clock (so replicas agree), and SCAN's
//! promise under concurrent writes.

use proptest::prelude::*;
use senate_core::codec::resp::Protocol;
use senate_core::kv::{apply_batch, encode_batch, encode_batch_for, encode_snapshot, read_batch, KvStore};
use std::collections::BTreeSet;

fn cmd(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Applies one command at `now_ms` and returns its reply as text.
fn run(store: &mut KvStore, now_ms: u64, words: &[&str]) -> String {
    let batch = encode_batch(now_ms, &[cmd(words)]);
    String::from_utf8_lossy(&apply_batch(store, &batch).unwrap()).into_owned()
}

/// Runs one read at `now_ms`.
fn read(store: &KvStore, now_ms: u64, words: &[&str]) -> String {
    let batch = encode_batch(now_ms, &[cmd(words)]);
    String::from_utf8_lossy(&read_batch(store, &batch, now_ms).unwrap()).into_owned()
}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn expiry_commands_reply_like_redis() {
    let mut s = KvStore::default();
    assert_eq!(run(&mut s, NOW, &["TTL", "k"]), ":-2\r\n");
    assert_eq!(run(&mut s, NOW, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["TTL", "k"]), ":-1\r\n");
    assert_eq!(run(&mut s, NOW, &["PEXPIRETIME", "k"]), ":-1\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "100"]), ":1\r\n");
    assert_eq!(read(&s, NOW + 400, &["TTL", "k"]), ":100\r\n"); // 99.6 s rounds to 100
    assert_eq!(read(&s, NOW + 600, &["TTL", "k"]), ":99\r\n");
    assert_eq!(read(&s, NOW + 600, &["PTTL", "k"]), ":99400\r\n");
    assert_eq!(read(&s, NOW, &["PEXPIRETIME", "k"]), format!(":{}\r\n", NOW + 100_000));
    assert_eq!(read(&s, NOW, &["EXPIRETIME", "k"]), format!(":{}\r\n", NOW / 1000 + 100));
    // NX, XX, GT, LT.
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "50", "NX"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "50", "GT"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "50", "LT"]), ":1\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "60", "XX", "GT"]), ":1\r\n");
    assert_eq!(
        run(&mut s, NOW, &["EXPIRE", "k", "1", "NX", "XX"]),
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    );
    assert_eq!(
        run(&mut s, NOW, &["EXPIRE", "k", "1", "GT", "LT"]),
        "-ERR GT and LT options at the same time are not compatible\r\n"
    );
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "1", "FOO"]), "-ERR Unsupported option FOO\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(
        run(&mut s, NOW, &["EXPIRE", "k", "9223372036854775807"]),
        "-ERR invalid expire time in 'expire' command\r\n"
    );
    assert_eq!(run(&mut s, NOW, &["PERSIST", "k"]), ":1\r\n");
    assert_eq!(run(&mut s, NOW, &["PERSIST", "k"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "10", "GT"]), ":0\r\n"); // none is infinite
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "10", "XX", "LT"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "10", "LT"]), ":1\r\n");
    assert_eq!(run(&mut s, NOW, &["PEXPIREAT", "k", &(NOW + 5).to_string()]), ":1\r\n");
    assert_eq!(read(&s, NOW, &["PTTL", "k"]), ":5\r\n");
    // A deadline already past deletes the key.
    assert_eq!(run(&mut s, NOW, &["EXPIREAT", "k", "1"]), ":1\r\n");
    assert_eq!(run(&mut s, NOW, &["EXISTS", "k"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["EXPIRE", "k", "10"]), ":0\r\n");
    // SETEX, PSETEX, GETEX, SET KEEPTTL.
    assert_eq!(run(&mut s, NOW, &["SETEX", "e", "0", "v"]), "-ERR invalid expire time in 'setex' command\r\n");
    assert_eq!(run(&mut s, NOW, &["PSETEX", "e", "-1", "v"]), "-ERR invalid expire time in 'psetex' command\r\n");
    assert_eq!(run(&mut s, NOW, &["SETEX", "e", "10", "v"]), "+OK\r\n");
    assert_eq!(read(&s, NOW, &["PTTL", "e"]), ":10000\r\n");
    assert_eq!(run(&mut s, NOW, &["SET", "e", "w", "KEEPTTL"]), "+OK\r\n");
    assert_eq!(read(&s, NOW, &["PTTL", "e"]), ":10000\r\n");
    assert_eq!(run(&mut s, NOW, &["GETEX", "e", "PX", "20"]), "$1\r\nw\r\n");
    assert_eq!(read(&s, NOW, &["PTTL", "e"]), ":20\r\n");
    assert_eq!(run(&mut s, NOW, &["GETEX", "e", "PERSIST"]), "$1\r\nw\r\n");
    assert_eq!(read(&s, NOW, &["PTTL", "e"]), ":-1\r\n");
    assert_eq!(run(&mut s, NOW, &["GETEX", "e", "EX", "1", "PERSIST"]), "-ERR syntax error\r\n");
    assert_eq!(run(&mut s, NOW, &["GETEX", "e", "EX", "0"]), "-ERR invalid expire time in 'getex' command\r\n");
    assert_eq!(run(&mut s, NOW, &["GETEX", "nope", "EX", "0"]), "$-1\r\n");
    assert_eq!(run(&mut s, NOW, &["GETEX", "e", "EXAT", "1"]), "$1\r\nw\r\n");
    assert_eq!(run(&mut s, NOW, &["GET", "e"]), "$-1\r\n");
}

#[test]
fn keyspace_commands_reply_like_redis() {
    let mut s = KvStore::default();
    assert_eq!(run(&mut s, NOW, &["TYPE", "a"]), "+none\r\n");
    assert_eq!(run(&mut s, NOW, &["RENAME", "a", "b"]), "-ERR no such key\r\n");
    assert_eq!(run(&mut s, NOW, &["RANDOMKEY"]), "$-1\r\n");
    assert_eq!(run(&mut s, NOW, &["SET", "a", "1", "PX", "5000"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["TYPE", "a"]), "+string\r\n");
    assert_eq!(run(&mut s, NOW, &["RANDOMKEY"]), "$1\r\na\r\n");
    assert_eq!(run(&mut s, NOW, &["RENAME", "a", "a"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["RENAME", "a", "b"]), "+OK\r\n");
    assert_eq!(read(&s, NOW, &["PTTL", "b"]), ":5000\r\n"); // the deadline moves with it
    assert_eq!(run(&mut s, NOW, &["SET", "c", "3"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["RENAMENX", "b", "c"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["RENAMENX", "b", "d"]), ":1\r\n");
    assert_eq!(run(&mut s, NOW, &["COPY", "d", "d"]), "-ERR source and destination objects are the same\r\n");
    assert_eq!(run(&mut s, NOW, &["COPY", "d", "c"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["COPY", "d", "c", "REPLACE", "DB", "0"]), ":1\r\n");
    assert_eq!(run(&mut s, NOW, &["COPY", "d", "c", "DB", "3"]), "-ERR DB index is out of range\r\n");
    assert_eq!(run(&mut s, NOW, &["COPY", "d", "c", "NOW"]), "-ERR syntax error\r\n");
    assert_eq!(read(&s, NOW, &["PTTL", "c"]), ":5000\r\n");
    assert_eq!(run(&mut s, NOW, &["TOUCH", "c", "d", "zz"]), ":2\r\n");
    assert_eq!(run(&mut s, NOW, &["UNLINK", "c", "zz"]), ":1\r\n");
    assert_eq!(read(&KvStore::default(), 1_234_567, &["TIME"]), "*2\r\n$4\r\n1234\r\n$6\r\n567000\r\n");
    assert_eq!(run(&mut s, NOW, &["SCAN", "x"]), "-ERR invalid cursor\r\n");
    assert_eq!(run(&mut s, NOW, &["SCAN", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
    assert_eq!(run(&mut s, NOW, &["SCAN", "0", "COUNT", "z"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(run(&mut s, NOW, &["SCAN", "0", "MATCH"]), "-ERR syntax error\r\n");
    assert_eq!(run(&mut s, NOW, &["SCAN", "0", "TYPE", "list"]), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert_eq!(run(&mut s, NOW, &["SCAN", "0", "MATCH", "d*", "TYPE", "string"]), "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nd\r\n");
}

#[test]
fn string_commands_beyond_get_and_set_reply_like_redis() {
    let mut s = KvStore::default();
    assert_eq!(run(&mut s, NOW, &["SETNX", "a", "1"]), ":1\r\n");
    assert_eq!(run(&mut s, NOW, &["SETNX", "a", "2"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["MSETNX", "a", "1", "b"]), "-ERR wrong number of arguments for 'msetnx' command\r\n");
    assert_eq!(run(&mut s, NOW, &["MSETNX", "b", "1", "a", "2"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["EXISTS", "b"]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["MSETNX", "b", "1", "c", "2"]), ":1\r\n");
    // Redis's long double arithmetic and "%.17Lf" without trailing zeros.
    assert_eq!(run(&mut s, NOW, &["SET", "f", "0.1"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "f", "0.2"]), "$3\r\n0.3\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "f", "1e3"]), "$22\r\n1000.29999999999999999\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "g", "-5.0e0"]), "$2\r\n-5\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "g", "5"]), "$1\r\n0\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "g", "x"]), "-ERR value is not a valid float\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "g", " 1"]), "-ERR value is not a valid float\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "g", "1e5000"]), "-ERR value is not a valid float\r\n"); // out of range
    assert_eq!(run(&mut s, NOW, &["SET", "h", "1e4932"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "h", "1e4932"]), "-ERR increment would produce NaN or Infinity\r\n");
    assert_eq!(run(&mut s, NOW, &["INCRBYFLOAT", "g", "inf"]), "-ERR increment would produce NaN or Infinity\r\n");
    // GETDEL, GETRANGE, SETRANGE.
    assert_eq!(run(&mut s, NOW, &["SET", "s", "Hello World"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["GETRANGE", "s", "0", "4"]), "$5\r\nHello\r\n");
    assert_eq!(run(&mut s, NOW, &["GETRANGE", "s", "-5", "-1"]), "$5\r\nWorld\r\n");
    assert_eq!(run(&mut s, NOW, &["GETRANGE", "s", "-1", "-5"]), "$0\r\n\r\n");
    assert_eq!(run(&mut s, NOW, &["GETRANGE", "s", "5", "100"]), "$6\r\n World\r\n");
    assert_eq!(run(&mut s, NOW, &["GETRANGE", "nope", "0", "-1"]), "$0\r\n\r\n");
    assert_eq!(run(&mut s, NOW, &["SETRANGE", "s", "6", "Redis"]), ":11\r\n");
    assert_eq!(run(&mut s, NOW, &["SETRANGE", "z", "3", "ab"]), ":5\r\n");
    assert_eq!(run(&mut s, NOW, &["GET", "z"]), "$5\r\n\0\0\0ab\r\n");
    assert_eq!(run(&mut s, NOW, &["SETRANGE", "y", "3", ""]), ":0\r\n");
    assert_eq!(run(&mut s, NOW, &["SETRANGE", "s", "-1", "a"]), "-ERR offset is out of range\r\n");
    assert_eq!(
        run(&mut s, NOW, &["SETRANGE", "s", "536870911", "ab"]),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    assert_eq!(run(&mut s, NOW, &["GETDEL", "s"]), "$11\r\nHello Redis\r\n");
    assert_eq!(run(&mut s, NOW, &["GETDEL", "s"]), "$-1\r\n");
    // LCS, Redis's own example.
    assert_eq!(run(&mut s, NOW, &["MSET", "k1", "ohmytext", "k2", "mynewtext"]), "+OK\r\n");
    assert_eq!(run(&mut s, NOW, &["LCS", "k1", "k2"]), "$6\r\nmytext\r\n");
    assert_eq!(run(&mut s, NOW, &["LCS", "k1", "k2", "LEN"]), ":6\r\n");
    assert_eq!(
        run(&mut s, NOW, &["LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
        "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
    );
    assert_eq!(
        run(&mut s, NOW, &["LCS", "k1", "k2", "IDX", "LEN"]),
        "-ERR If you want both the length and indexes, please just use IDX.\r\n"
    );
}

#[test]
fn lcs_refuses_tables_past_its_bound() {
    let mut s = KvStore::default();
    let long = "x".repeat(3000);
    run(&mut s, NOW, &["MSET", "a", &long, "b", &long]);
    assert_eq!(
        run(&mut s, NOW, &["LCS", "a", "b"]),
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n"
    );
}

#[test]
fn resp3_lcs_idx_is_a_map() {
    let mut s = KvStore::default();
    run(&mut s, NOW, &["MSET", "a", "ab", "b", "ab"]);
    let batch = encode_batch_for(Protocol::Resp3, NOW, &[cmd(&["LCS", "a", "b", "IDX"])]);
    let reply = String::from_utf8(apply_batch(&mut s, &batch).unwrap()).unwrap();
    assert!(reply.starts_with("%2\r\n$7\r\nmatches\r\n"), "{reply}");
}

/// A deadline from a relative time is the batch's clock plus the time: two replicas
/// applying the same log agree, whenever they apply it.
#[test]
fn relative_deadlines_come_from_the_batch_clock() {
    let batches: Vec<Vec<u8>> = [
        cmd(&["SET", "a", "v"]),
        cmd(&["EXPIRE", "a", "30"]),
        cmd(&["SETEX", "b", "7", "v"]),
        cmd(&["SET", "c", "v"]),
        cmd(&["GETEX", "c", "PX", "900"]),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, command)| encode_batch(NOW + i as u64, &[command]))
    .collect();
    let (mut one, mut two) = (KvStore::default(), KvStore::default());
    for batch in &batches {
        apply_batch(&mut one, batch).unwrap();
    }
    for batch in &batches {
        apply_batch(&mut two, batch).unwrap();
    }
    assert_eq!(encode_snapshot(&one), encode_snapshot(&two));
    assert_eq!(read(&one, NOW, &["PEXPIRETIME", "a"]), format!(":{}\r\n", NOW + 1 + 30_000));
    assert_eq!(read(&one, NOW, &["PEXPIRETIME", "c"]), format!(":{}\r\n", NOW + 4 + 900));
}

fn scan_keys(reply: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    assert!(reply.starts_with("*2\r\n"), "{reply}");
    let cursor = lines[2].to_string();
    let count: usize = lines[3][1..].parse().unwrap();
    let keys = lines[4..].iter().skip(1).step_by(2).take(count).map(|s| s.to_string()).collect();
    (cursor, keys)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every key present for a whole SCAN walk is returned, whatever is set and deleted
    /// between the calls, and no key is returned twice.
    #[test]
    fn scan_returns_every_key_present_for_the_whole_walk(
        stay in 0usize..300,
        count in 1usize..40,
        churn in proptest::collection::vec((any::<bool>(), 0u16..500), 0..200),
    ) {
        let mut s = KvStore::default();
        let staying: BTreeSet<String> = (0..stay).map(|i| format!("stay:{i}")).collect();
        for key in &staying {
            run(&mut s, NOW, &["SET", key, "v"]);
        }
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        let mut churn = churn.into_iter();
        loop {
            let (next, keys) = scan_keys(&run(&mut s, NOW, &["SCAN", &cursor, "COUNT", &count.to_string()]));
            seen.extend(keys);
            for (set, n) in churn.by_ref().take(5) {
                let key = format!("churn:{n}");
                run(&mut s, NOW, &[if set { "SET" } else { "DEL" }, &key, "v"][..if set { 3 } else { 2 }]);
            }
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        let seen_set: BTreeSet<String> = seen.iter().cloned().collect();
        prop_assert_eq!(seen_set.len(), seen.len());
        prop_assert!(staying.is_subset(&seen_set));
    }
}
