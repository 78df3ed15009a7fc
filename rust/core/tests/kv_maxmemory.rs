//! `maxmemory` at the session: while the server says the store is over it, writes that take
//! memory (Redis's `denyoom`) are answered `-OOM` and never reach a log batch; deletes,
//! reads and session commands go on as before.

use proptest::prelude::*;
use senate_core::codec::RespLimits;
use senate_core::kv::{decode_batch, encode_command, Group, RespSession, OOM_ERROR};

fn session() -> RespSession {
    RespSession::new(RespLimits::default(), 1024, 1).unwrap()
}

/// The commands of the Log batches and the reply bytes of `groups`.
fn logged_and_replies(groups: &[Group]) -> (Vec<Vec<Vec<u8>>>, Vec<u8>) {
    let mut logged = Vec::new();
    let mut replies = Vec::new();
    for group in groups {
        match group {
            Group::Log(batch) => logged.extend(decode_batch(batch).unwrap()),
            Group::Reply(bytes) => replies.extend_from_slice(bytes),
            _ => {}
        }
    }
    (logged, replies)
}

fn oom_reply() -> Vec<u8> {
    [b"-".as_slice(), OOM_ERROR, b"\r\n"].concat()
}

#[test]
fn writes_that_take_memory_get_oom_and_deletes_go_on() {
    let mut s = session();
    s.set_over_maxmemory(true);
    let refused: [&[&str]; 15] = [
        &["SET", "k", "v"],
        &["INCR", "n"],
        &["APPEND", "k", "more"],
        &["MSET", "a", "1", "b", "2"],
        &["GETSET", "k", "w"],
        &["SETEX", "k", "10", "v"],
        &["SETNX", "k", "v"],
        &["COPY", "k", "k2"],
        &["SETRANGE", "k", "0", "v"],
        &["SENATE.EXEC", "1", "1", "0", "SET", "k", "v"],
        &["HSET", "h", "f", "v"],
        &["HMSET", "h", "f", "v"],
        &["HSETNX", "h", "f", "v"],
        &["HINCRBY", "h", "f", "1"],
        &["HINCRBYFLOAT", "h", "f", "1.5"],
    ];
    for words in refused {
        let groups = s.feed(&encode_command(words), 1);
        assert_eq!(groups, vec![Group::Reply(oom_reply())], "{words:?}");
    }
    let taken: [&[&str]; 13] = [
        &["DEL", "k"],
        &["UNLINK", "k"],
        &["GETDEL", "k"],
        &["EXPIRE", "k", "10"],
        &["PERSIST", "k"],
        &["RENAME", "k", "k2"],
        &["GETEX", "k", "PERSIST"],
        &["FLUSHDB"],
        &["SENATE.SESSION", "OPEN"],
        &["SENATE.EXEC", "1", "1", "0", "DEL", "k"],
        &["SENATE.EXEC", "1", "1", "0", "UNLINK", "k"],
        &["HDEL", "h", "f"],
        &["SENATE.EXEC", "1", "1", "0", "HDEL", "h", "f"],
    ];
    for words in taken {
        let groups = s.feed(&encode_command(words), 1);
        let (logged, replies) = logged_and_replies(&groups);
        assert_eq!(logged.len(), 1, "{words:?}");
        assert!(replies.is_empty(), "{words:?}");
    }
    assert!(matches!(&s.feed(&encode_command(&["GET", "k"]), 1)[..], [Group::Read(_)]));
    assert!(matches!(&s.feed(&encode_command(&["HGETALL", "h"]), 1)[..], [Group::Read(_)]));
    assert_eq!(s.feed(&encode_command(&["PING"]), 1), vec![Group::Reply(b"+PONG\r\n".to_vec())]);
    // Back under the bound: writes are batched again.
    s.set_over_maxmemory(false);
    let (logged, _) = logged_and_replies(&s.feed(&encode_command(&["SET", "k", "v"]), 1));
    assert_eq!(logged.len(), 1);
}

#[test]
fn a_session_closed_by_the_server_drops_its_partial_request() {
    let mut s = session();
    let wire = encode_command(&["SET", "k", &"x".repeat(100_000)]);
    assert!(s.feed(&wire[..50_000], 1).is_empty());
    assert_eq!(s.buffered_bytes(), 50_000);
    assert_eq!(s.close().len(), 50_000);
    assert!(s.is_closed());
    assert_eq!(s.buffered_bytes(), 0);
    assert!(s.feed(&wire[50_000..], 1).is_empty());
}

#[derive(Clone, Debug)]
enum Op {
    Set(u8),
    Del(u8),
    Get(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![(0u8..4).prop_map(Op::Set), (0u8..4).prop_map(Op::Del), (0u8..4).prop_map(Op::Get)]
}

proptest! {
    /// However the stream is cut into reads, and whether the store is over its bound or not,
    /// every SET is either logged or answered `-OOM` (over: always refused), and every DEL
    /// and GET is batched as it would be without a bound.
    #[test]
    fn the_bound_refuses_exactly_the_writes_that_take_memory(
        ops in prop::collection::vec(op(), 1..40),
        cut in 1usize..64,
        over in any::<bool>(),
    ) {
        let mut s = session();
        s.set_over_maxmemory(over);
        let wire: Vec<u8> = ops
            .iter()
            .flat_map(|op| match op {
                Op::Set(k) => encode_command(&["SET", &format!("k{k}"), "v"]),
                Op::Del(k) => encode_command(&["DEL", &format!("k{k}")]),
                Op::Get(k) => encode_command(&["GET", &format!("k{k}")]),
            })
            .collect();
        let groups: Vec<Group> = wire.chunks(cut).flat_map(|chunk| s.feed(chunk, 1)).collect();
        let (logged, replies) = logged_and_replies(&groups);
        let sets = ops.iter().filter(|op| matches!(op, Op::Set(_))).count();
        let dels = ops.iter().filter(|op| matches!(op, Op::Del(_))).count();
        let logged_sets = logged.iter().filter(|c| c[0] == b"SET").count();
        let logged_dels = logged.iter().filter(|c| c[0] == b"DEL").count();
        let ooms = replies.windows(4).filter(|w| w == b"-OOM").count();
        prop_assert_eq!(logged_dels, dels);
        prop_assert_eq!(logged_sets + ooms, sets);
        prop_assert_eq!(ooms, if over { sets } else { 0 });
    }
}
