//! Transactions (`kv::transaction`): MULTI/EXEC/DISCARD with Redis 7.0's replies and errors,
//! one batch per EXEC; WATCH against every kind of change, decided alike on every replica and
//! after a snapshot; connection commands queued and run at EXEC, RESET; COMMAND GETKEYS and
//! GETKEYSANDFLAGS; the transaction batch codec.

use proptest::prelude::*;
use senate_core::codec::resp::Protocol;
use senate_core::codec::RespLimits;
use senate_core::kv::{
    apply_batch, decode_batch, decode_snapshot, encode_batch, encode_snapshot, encode_transaction, read_batch,
    BatchReader, Group, KvStore, RespSession, Watch, MAX_WATCHED_KEYS,
};

fn session() -> RespSession {
    RespSession::new(RespLimits::default(), 1024, 7).unwrap()
}

/// Feeds `input` at `now_ms` and runs what it gives as the server would: log batches
/// applied to `store`, reads and WATCH's versions read from it (WATCH's reply handed to
/// the session, which then parses what it held, and so an EXEC's that changes the
/// connection). Returns the replies as text.
fn feed(s: &mut RespSession, store: &mut KvStore, input: &str, now_ms: u64) -> String {
    let mut out = Vec::new();
    let mut groups = s.feed(input.as_bytes(), now_ms);
    while !groups.is_empty() {
        let mut resume = false;
        for group in groups {
            match group {
                Group::Reply(b) | Group::Close(b) => out.extend_from_slice(&b),
                Group::Log(b) => out.extend(apply_batch(store, &b).unwrap()),
                Group::Read(b) | Group::StaleRead(b) => out.extend(read_batch(store, &b, now_ms).unwrap()),
                Group::Node(_) => panic!("no node commands here"),
                Group::Watch(b) => {
                    let versions = read_batch(store, &b, now_ms).unwrap();
                    out.extend(s.watched(&versions));
                    resume = true;
                }
                Group::ExecLog(b) => {
                    let replies = apply_batch(store, &b).unwrap();
                    out.extend(s.executed(&replies));
                    resume = true;
                }
                Group::ExecRead(b) => {
                    let replies = read_batch(store, &b, now_ms).unwrap();
                    out.extend(s.executed(&replies));
                    resume = true;
                }
                Group::ExecNode(b) => {
                    // The node's INFO: the section asked, as a bulk string.
                    let infos = decode_batch(&b).unwrap();
                    s.node_replied(
                        infos.iter().map(|args| format!("$4\r\ni:{}\r\n", args.len()).into_bytes()).collect(),
                    );
                    resume = true;
                }
            }
        }
        groups = if resume { s.feed(b"", now_ms) } else { Vec::new() };
    }
    String::from_utf8(out).unwrap()
}

/// Commands separated by `;`, as one pipelined input.
fn ask(s: &mut RespSession, store: &mut KvStore, commands: &str) -> String {
    let input: String = commands.split(';').map(|c| format!("{}\r\n", c.trim())).collect();
    feed(s, store, &input, 1_000)
}

/// Another client's write: a log batch of its own.
fn other_client(store: &mut KvStore, command: &str, now_ms: u64) -> Vec<u8> {
    let args: Vec<Vec<u8>> = command.split(' ').map(|w| w.as_bytes().to_vec()).collect();
    apply_batch(store, &encode_batch(now_ms, &[args])).unwrap()
}

#[test]
fn multi_exec_discard_answer_as_redis_7_0() {
    let (mut s, mut store) = (session(), KvStore::default());
    assert_eq!(ask(&mut s, &mut store, "EXEC"), "-ERR EXEC without MULTI\r\n");
    assert_eq!(ask(&mut s, &mut store, "DISCARD"), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(
        ask(&mut s, &mut store, "MULTI; MULTI; WATCH a; SET a x; INCR a; PING; ECHO hi; GET a; EXEC"),
        "+OK\r\n-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n\
         +QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n\
         *5\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+PONG\r\n$2\r\nhi\r\n$1\r\nx\r\n"
    );
    // A command refused while queued (unknown, wrong arity, not allowed in a transaction)
    // discards the whole transaction at EXEC.
    for refused in ["FOO a", "GET", "CLIENT FOO", "CLIENT SETNAME", "SENATE.MEMBER LIST", "RESET x"] {
        let reply = ask(&mut s, &mut store, &format!("MULTI; SET a y; {refused}; EXEC; GET a"));
        assert!(reply.starts_with("+OK\r\n+QUEUED\r\n-"), "{refused}: {reply}");
        assert!(
            reply.ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n$1\r\nx\r\n"),
            "{reply}"
        );
    }
    assert_eq!(ask(&mut s, &mut store, "MULTI; SET a z; DISCARD; GET a"), "+OK\r\n+QUEUED\r\n+OK\r\n$1\r\nx\r\n");
    assert_eq!(ask(&mut s, &mut store, "MULTI; EXEC"), "+OK\r\n*0\r\n");
    // EXEC refused itself (here its arity) ends the transaction, in or out of one.
    let abort = "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n";
    assert_eq!(ask(&mut s, &mut store, "EXEC x"), abort);
    assert_eq!(
        ask(&mut s, &mut store, "MULTI; SET a 1; EXEC x; EXEC"),
        format!("+OK\r\n+QUEUED\r\n{abort}-ERR EXEC without MULTI\r\n")
    );
    assert_eq!(
        ask(&mut s, &mut store, "MULTI; DISCARD x; EXEC"),
        "+OK\r\n-ERR wrong number of arguments for 'discard' command\r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert!(!s.in_transaction());
    // QUIT inside a transaction closes the connection at once, as in Redis.
    assert_eq!(ask(&mut s, &mut store, "MULTI; SET a q; QUIT"), "+OK\r\n+QUEUED\r\n+OK\r\n");
    assert!(s.is_closed());
    assert_eq!(ask(&mut session(), &mut store, "GET a"), "$1\r\nx\r\n");
}

#[test]
fn exec_is_one_batch_a_log_entry_if_it_writes_else_reads() {
    let mut s = session();
    let groups = s.feed(b"MULTI\r\nSET a 1\r\nGET a\r\nEXEC\r\nGET a\r\n", 5);
    let kinds: Vec<u8> = groups.iter().map(Group::kind).collect();
    // The queue's replies, EXEC's one log batch, then GET joins a log batch of its own
    // (after a write in the same feed, reads go through the log).
    assert_eq!(kinds, vec![0, 1, 1], "{groups:?}");
    let reader = BatchReader::new(groups[1].payload()).unwrap();
    assert_eq!((reader.len(), reader.transaction.map(|w| w.len())), (2, Some(0)));
    let groups = session().feed(b"MULTI\r\nGET a\r\nEXEC\r\n", 5);
    assert!(matches!(&groups[..], [Group::Reply(_), Group::Read(_)]), "{groups:?}");
    let mut readonly = session();
    readonly.feed(b"READONLY\r\n", 5);
    let groups = readonly.feed(b"MULTI\r\nGET a\r\nEXEC\r\n", 5);
    assert!(matches!(&groups[..], [Group::Reply(_), Group::StaleRead(_)]), "{groups:?}");
}

#[test]
fn exec_replies_in_the_connections_protocol() {
    let (mut s, mut store) = (session(), KvStore::default());
    ask(&mut s, &mut store, "HELLO 3");
    assert_eq!(
        ask(&mut s, &mut store, "MULTI; SET a 1; GET b; EXEC"),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n_\r\n"
    );
    ask(&mut s, &mut store, "WATCH a");
    other_client(&mut store, "SET a 2", 2_000);
    assert_eq!(ask(&mut s, &mut store, "MULTI; GET a; EXEC"), "+OK\r\n+QUEUED\r\n_\r\n");
    let (mut s2, _) = (session(), ());
    ask(&mut s2, &mut store, "WATCH a");
    other_client(&mut store, "SET a 3", 2_000);
    assert_eq!(ask(&mut s2, &mut store, "MULTI; GET a; EXEC"), "+OK\r\n+QUEUED\r\n*-1\r\n");
}

/// The reply of `WATCH key; <change by another client>; MULTI; SET key mine; EXEC`.
fn exec_after(setup: &[&str], change: &[&str], now_ms: u64) -> String {
    let (mut s, mut store) = (session(), KvStore::default());
    for command in setup {
        other_client(&mut store, command, 1_000);
    }
    assert_eq!(ask(&mut s, &mut store, "WATCH key"), "+OK\r\n");
    for command in change {
        other_client(&mut store, command, now_ms);
    }
    let input = "MULTI\r\nSET key mine\r\nEXEC\r\n";
    feed(&mut s, &mut store, input, now_ms)
}

const COMMITTED: &str = "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n";
const ABORTED: &str = "+OK\r\n+QUEUED\r\n*-1\r\n";

#[test]
fn any_change_of_a_watched_key_aborts_exec() {
    let cases: &[(&[&str], &[&str], u64, &str)] = &[
        (&["SET key v"], &[], 1_000, COMMITTED),
        (&["SET key v"], &["SET other v"], 1_000, COMMITTED),
        (&[], &[], 1_000, COMMITTED),
        (&["SET key v"], &["SET key v"], 1_000, ABORTED),
        (&["SET key 1"], &["INCR key"], 1_000, ABORTED),
        (&["SET key v"], &["APPEND key w"], 1_000, ABORTED),
        (&["SET key v"], &["DEL key"], 1_000, ABORTED),
        (&["SET key v"], &["EXPIRE key 100"], 1_000, ABORTED),
        (&["SET key v EX 100"], &["PERSIST key"], 1_000, ABORTED),
        (&["SET key v"], &["RENAME key elsewhere"], 1_000, ABORTED),
        (&["SET from v"], &["RENAME from key"], 1_000, ABORTED),
        (&["SET key v"], &["FLUSHDB"], 1_000, ABORTED),
        // Absent when watched, created, then flushed: it changed (the flush leaves tombstones).
        (&[], &["SET key v", "FLUSHDB"], 1_000, ABORTED),
        // Created and deleted again: the key is absent as it was, but it changed.
        (&[], &["SET key v", "DEL key"], 1_000, ABORTED),
        // Not changes: a failed SET NX, DEL of an absent key, GETEX PERSIST without a TTL,
        // FLUSHDB of an absent key.
        (&["SET key v"], &["SET key w NX"], 1_000, COMMITTED),
        (&[], &["DEL key"], 1_000, COMMITTED),
        (&["SET key v"], &["GETEX key PERSIST"], 1_000, COMMITTED),
        (&[], &["FLUSHDB"], 1_000, COMMITTED),
        // Expiry: a key live when watched that expires before EXEC changed (Redis 7.0);
        // one already expired when watched did not, even once deleted.
        (&["SET key v PX 500"], &[], 2_000, ABORTED),
        (&["SET key v PX 500"], &["SET other v"], 2_000, ABORTED),
        (&["SET key v PX 500"], &[], 1_200, COMMITTED),
        (&["SET key v PXAT 900"], &["SET other v"], 2_000, COMMITTED),
        (&["SET key v PXAT 900"], &["DEL key"], 2_000, COMMITTED),
    ];
    for (setup, change, now_ms, want) in cases {
        assert_eq!(exec_after(setup, change, *now_ms), *want, "setup {setup:?}, change {change:?} at {now_ms}");
    }
}

#[test]
fn watch_ends_with_exec_discard_unwatch_and_counts_only_later_changes() {
    let (mut s, mut store) = (session(), KvStore::default());
    // The client's own write before WATCH is not a change after it.
    assert_eq!(
        ask(&mut s, &mut store, "SET a 1; WATCH a; MULTI; INCR a; EXEC"),
        "+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:2\r\n"
    );
    // Its own write after WATCH is.
    assert_eq!(
        ask(&mut s, &mut store, "WATCH a; SET a 5; MULTI; INCR a; EXEC"),
        "+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n"
    );
    // EXEC unwatched: the next transaction runs.
    assert_eq!(ask(&mut s, &mut store, "MULTI; INCR a; EXEC"), "+OK\r\n+QUEUED\r\n*1\r\n:6\r\n");
    for end in ["UNWATCH", "MULTI; DISCARD"] {
        ask(&mut s, &mut store, "WATCH a");
        assert_eq!(s.watched_keys(), 1);
        ask(&mut s, &mut store, end);
        assert_eq!(s.watched_keys(), 0, "{end}");
    }
    // UNWATCH inside MULTI is queued and answers +OK.
    assert_eq!(ask(&mut s, &mut store, "MULTI; UNWATCH; EXEC"), "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
    // An aborted EXEC unwatches too; a key watched twice keeps its first version.
    ask(&mut s, &mut store, "WATCH a");
    other_client(&mut store, "SET a 9", 1_000);
    ask(&mut s, &mut store, "WATCH a b");
    assert_eq!(s.watched_keys(), 2);
    assert_eq!(ask(&mut s, &mut store, "MULTI; EXEC"), "+OK\r\n*-1\r\n");
    assert_eq!(s.watched_keys(), 0);
}

#[test]
fn watch_holds_the_commands_after_it_until_it_has_the_versions() {
    let (mut s, mut store) = (session(), KvStore::default());
    let groups = s.feed(b"WATCH a\r\nMULTI\r\nSET a 1\r\n", 1);
    assert!(matches!(&groups[..], [Group::Watch(_)]), "{groups:?}");
    assert!(s.feed(b"EXEC\r\n", 1).is_empty(), "nothing is parsed while WATCH waits");
    assert!(s.buffered_bytes() > 0);
    let versions = read_batch(&store, groups[0].payload(), 1).unwrap();
    assert_eq!(s.watched(&versions), b"+OK\r\n");
    let groups = s.feed(b"", 1);
    assert_eq!(groups[0], Group::Reply(b"+OK\r\n+QUEUED\r\n".to_vec()));
    let Group::Log(batch) = &groups[1] else { panic!("{groups:?}") };
    assert_eq!(apply_batch(&mut store, batch).unwrap(), b"*1\r\n+OK\r\n");
    // The node's error (no leader, timeout) is the client's reply, and nothing is watched.
    s.feed(b"WATCH b\r\n", 1);
    assert_eq!(s.watched(b"-TRYAGAIN no leader\r\n"), b"-TRYAGAIN no leader\r\n");
    assert_eq!(s.watched_keys(), 0);
}

#[test]
fn queues_and_watches_are_bounded() {
    let (mut s, mut store) = (RespSession::new(RespLimits::default(), 3, 7).unwrap(), KvStore::default());
    let reply = ask(&mut s, &mut store, "MULTI; SET a 1; SET a 2; SET a 3; SET a 4; EXEC");
    assert!(reply.contains("-ERR transaction too long (more than 3 commands queued)\r\n"), "{reply}");
    assert!(reply.ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n"), "{reply}");
    let limits = RespLimits { max_value_bytes: 64, ..RespLimits::default() };
    let mut small = RespSession::new(limits, 1024, 7).unwrap();
    let big = "x".repeat(40);
    let reply = ask(&mut small, &mut store, &format!("MULTI; SET a {big}; SET b {big}; EXEC"));
    assert!(reply.contains("-ERR transaction too large (more than 64 bytes queued)\r\n"), "{reply}");
    let keys: Vec<String> = (0..MAX_WATCHED_KEYS).map(|i| format!("k{i}")).collect();
    assert_eq!(ask(&mut s, &mut store, &format!("WATCH {}", keys.join(" "))), "+OK\r\n");
    assert_eq!(
        ask(&mut s, &mut store, "WATCH one-more"),
        format!("-ERR too many watched keys (max {MAX_WATCHED_KEYS} per connection)\r\n")
    );
    assert_eq!(ask(&mut s, &mut store, "WATCH k0"), "+OK\r\n", "already watched");
}

#[test]
fn over_maxmemory_every_queued_command_and_a_denyoom_exec_are_refused() {
    let (mut s, mut store) = (session(), KvStore::default());
    s.set_over_maxmemory(true);
    let reply = ask(&mut s, &mut store, "MULTI; GET a; DEL a; EXEC");
    let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    assert_eq!(reply, format!("+OK\r\n{oom}{oom}-EXECABORT Transaction discarded because of previous errors.\r\n"));
    s.set_over_maxmemory(false);
    ask(&mut s, &mut store, "MULTI; SET a 1; DEL b");
    s.set_over_maxmemory(true);
    assert_eq!(
        ask(&mut s, &mut store, "EXEC"),
        "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    s.set_over_maxmemory(false);
    assert_eq!(ask(&mut s, &mut store, "MULTI; DEL b; EXEC"), "+OK\r\n+QUEUED\r\n*1\r\n:0\r\n");
}

#[test]
fn command_getkeys_answers_as_redis_7_0() {
    let (mut s, mut store) = (session(), KvStore::default());
    let cases = [
        ("COMMAND GETKEYS SET a b", "*1\r\n$1\r\na\r\n"),
        ("COMMAND GETKEYS MSET a b c", "*2\r\n$1\r\na\r\n$1\r\nc\r\n"),
        ("COMMAND GETKEYS copy a b DB 0", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
        ("COMMAND GETKEYS DEL a b c", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        ("COMMAND GETKEYS WATCH a b", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
        ("COMMAND GETKEYS FOO a", "-ERR Invalid command specified\r\n"),
        ("COMMAND GETKEYS PING x", "-ERR The command has no key arguments\r\n"),
        ("COMMAND GETKEYS MULTI x", "-ERR The command has no key arguments\r\n"),
        ("COMMAND GETKEYS GET a b", "-ERR Invalid number of arguments specified for command\r\n"),
        ("COMMAND GETKEYS GET", "-ERR wrong number of arguments for 'command|getkeys' command\r\n"),
    ];
    for (command, want) in cases {
        assert_eq!(ask(&mut s, &mut store, command), want, "{command}");
    }
}

#[test]
fn command_getkeysandflags_answers_as_redis_7_0() {
    let (mut s, mut store) = (session(), KvStore::default());
    let cases = [
        ("COMMAND GETKEYSANDFLAGS SET a b", "*1\r\n*2\r\n$1\r\na\r\n*2\r\n+OW\r\n+update\r\n"),
        ("COMMAND GETKEYSANDFLAGS SET a b get", "*1\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+update\r\n"),
        (
            "COMMAND GETKEYSANDFLAGS RENAME a b",
            "*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$1\r\nb\r\n*2\r\n+OW\r\n+update\r\n",
        ),
        ("COMMAND GETKEYSANDFLAGS DEL a", "*1\r\n*2\r\n$1\r\na\r\n*2\r\n+RM\r\n+delete\r\n"),
        ("COMMAND GETKEYSANDFLAGS EXISTS a", "*1\r\n*2\r\n$1\r\na\r\n*1\r\n+RO\r\n"),
        ("COMMAND GETKEYSANDFLAGS CLIENT x", "-ERR Invalid command specified\r\n"),
        ("COMMAND GETKEYSANDFLAGS CLIENT SETNAME", "-ERR The command has no key arguments\r\n"),
        ("COMMAND GETKEYSANDFLAGS GET", "-ERR wrong number of arguments for 'command|getkeysandflags' command\r\n"),
    ];
    for (command, want) in cases {
        assert_eq!(ask(&mut s, &mut store, command), want, "{command}");
    }
}

#[test]
fn connection_commands_are_queued_and_run_at_exec_in_their_place() {
    let (mut s, mut store) = (session(), KvStore::default());
    ask(&mut s, &mut store, "HSET h f v");
    // Each sees what the ones before it did; the data commands run between them, and after
    // HELLO 3 their replies are RESP3 (a map, `_`), the array's header still RESP2's.
    let reply = ask(
        &mut s,
        &mut store,
        "MULTI; CLIENT SETNAME a; CLIENT GETNAME; SELECT 0; SELECT 1; HELLO 3; HGETALL h; GET nope; CLIENT GETNAME; EXEC",
    );
    let (queued, exec) = reply.split_at(reply.find("*8\r\n").expect(&reply));
    assert_eq!(queued, format!("+OK\r\n{}", "+QUEUED\r\n".repeat(8)));
    assert!(exec.starts_with("*8\r\n+OK\r\n$1\r\na\r\n+OK\r\n-ERR DB index is out of range\r\n%7\r\n"), "{exec}");
    assert!(exec.ends_with("%1\r\n$1\r\nf\r\n$1\r\nv\r\n_\r\n$1\r\na\r\n"), "{exec}");
    assert_eq!(s.name(), Some(&b"a"[..]));
    assert_eq!(s.protocol(), Protocol::Resp3);
    assert_eq!(ask(&mut s, &mut store, "GET nope"), "_\r\n", "RESP3 after the EXEC");
    // A transaction that a watched key aborts changes nothing of the connection.
    assert!(ask(&mut s, &mut store, "HELLO 2").starts_with("*14\r\n"));
    ask(&mut s, &mut store, "WATCH w");
    other_client(&mut store, "SET w 1", 1_000);
    assert_eq!(
        ask(&mut s, &mut store, "MULTI; CLIENT SETNAME b; HELLO 3; EXEC"),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*-1\r\n"
    );
    assert_eq!((s.name(), s.protocol()), (Some(&b"a"[..]), Protocol::Resp2));
    // Commands pipelined after such an EXEC are parsed once it ran: in its protocol.
    assert!(ask(&mut s, &mut store, "MULTI; HELLO 3; EXEC; GET nope").ends_with("*0\r\n_\r\n"));
    // INFO: the node answers it when the EXEC comes, and its reply takes its place; the
    // watches hold until the EXEC runs, the commands after it wait.
    ask(&mut s, &mut store, "HELLO 2; WATCH w");
    assert_eq!(
        ask(&mut s, &mut store, "MULTI; SET w 2; INFO; INFO keyspace; GET w; EXEC; GET w"),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n+OK\r\n$4\r\ni:1\r\n$4\r\ni:2\r\n$1\r\n2\r\n$1\r\n2\r\n"
    );
    ask(&mut s, &mut store, "WATCH w");
    other_client(&mut store, "SET w 3", 1_000);
    assert_eq!(ask(&mut s, &mut store, "MULTI; INFO; EXEC"), "+OK\r\n+QUEUED\r\n*-1\r\n");
}

#[test]
fn auth_in_a_transaction_checks_the_commands_after_it_again_at_exec() {
    // The password is "secret".
    let reader = "user reader on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* +@read";
    let users = senate_core::kv::Users::new(&[reader], None).unwrap();
    let mut s = session().with_users(std::sync::Arc::new(users));
    let mut store = KvStore::default();
    let changed = "-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC \
                   call. This command is no longer allowed for the following reason: no permission to execute \
                   the command or subcommand\r\n";
    assert_eq!(
        ask(&mut s, &mut store, "MULTI; AUTH reader bad; AUTH reader secret; SET k v; GET k; CLIENT SETNAME x; EXEC"),
        format!(
            "+OK\r\n{}*5\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n{changed}$-1\r\n{changed}",
            "+QUEUED\r\n".repeat(5)
        )
    );
    assert_eq!(s.user_name(), "reader");
    // RESET: back to the default user, RESP2, no name, no transaction, no watches.
    assert_eq!(ask(&mut s, &mut store, "RESET; ACL WHOAMI"), "+RESET\r\n$7\r\ndefault\r\n");
    ask(&mut s, &mut store, "HELLO 3 SETNAME n; WATCH w; MULTI; SET k v");
    assert!(s.in_transaction() && s.watched_keys() == 1);
    assert_eq!(ask(&mut s, &mut store, "RESET; EXEC; CLIENT GETNAME"), "+RESET\r\n-ERR EXEC without MULTI\r\n$-1\r\n");
    assert!(!s.in_transaction() && s.watched_keys() == 0 && s.protocol() == Protocol::Resp2);
}

/// A random sequence of changes by other clients, applied to a replica that also takes a
/// snapshot midway and restores from it: every WATCH decision is the same on both.
#[test]
fn replicas_and_restored_replicas_decide_watches_alike() {
    let changes = ["SET k v", "DEL k", "SET k v PX 50", "INCR n", "DEL n", "FLUSHDB", "SET j v", "RENAME j k"];
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let (mut a, mut b) = (KvStore::default(), KvStore::default());
    let mut now_ms = 1_000;
    let mut outcomes = [0usize; 2];
    for round in 0..400 {
        let mut s = session();
        let key = ["k", "n", "j"][next() % 3];
        let watched = feed(&mut s, &mut a, &format!("WATCH {key}\r\n"), now_ms);
        assert_eq!(watched, "+OK\r\n");
        for _ in 0..next() % 3 {
            let change = changes[next() % changes.len()];
            now_ms += (next() % 40) as u64;
            let batch = encode_batch(now_ms, &[change.split(' ').map(|w| w.as_bytes().to_vec()).collect()]);
            assert_eq!(apply_batch(&mut a, &batch).unwrap(), apply_batch(&mut b, &batch).unwrap());
        }
        let groups = s.feed(format!("MULTI\r\nSET {key} x\r\nEXEC\r\n").as_bytes(), now_ms);
        let Group::Log(exec) = &groups[1] else { panic!("{groups:?}") };
        let (on_a, on_b) = (apply_batch(&mut a, exec).unwrap(), apply_batch(&mut b, exec).unwrap());
        assert_eq!(on_a, on_b, "round {round}");
        outcomes[usize::from(on_a == b"*-1\r\n")] += 1;
        if round % 50 == 0 {
            b = decode_snapshot(&encode_snapshot(&b), 100).unwrap();
            assert_eq!(encode_snapshot(&a), encode_snapshot(&b));
        }
    }
    assert!(outcomes[0] > 50 && outcomes[1] > 50, "both outcomes were met: {outcomes:?}");
}

/// A batch as builds before WATCH versions wrote it (version 1: RESP2, no protocol byte).
fn legacy_batch(now_ms: u64, command: &str) -> Vec<u8> {
    let args: Vec<&str> = command.split(' ').collect();
    let mut batch = vec![1u8];
    batch.extend_from_slice(&now_ms.to_le_bytes());
    batch.extend_from_slice(&1u32.to_le_bytes());
    batch.push(args.len() as u8);
    for arg in args {
        batch.push(arg.len() as u8);
        batch.extend_from_slice(arg.as_bytes());
    }
    batch
}

/// A log written before versions were kept, then by this build: a replica that restored a
/// snapshot midway through the old part (as a restart after the upgrade does) gives every
/// key the version of one that applied the whole log, so both decide EXECs alike.
#[test]
fn a_replica_restored_from_a_snapshot_of_an_old_log_decides_watches_alike() {
    let (mut whole, mut restored) = (KvStore::default(), KvStore::default());
    let old = ["SET k v", "SET j v", "DEL j", "SET n 1", "INCR n", "DEL k", "SET k w"];
    for (i, command) in old.iter().enumerate() {
        let batch = legacy_batch(1_000 + i as u64, command);
        apply_batch(&mut whole, &batch).unwrap();
        if i == 3 {
            // The old batches kept no versions: the snapshot is one of the old formats.
            let snapshot = encode_snapshot(&whole);
            assert!(snapshot[0] < 4, "snapshot version {}", snapshot[0]);
            restored = decode_snapshot(&snapshot, 100).unwrap();
        } else if i > 3 {
            apply_batch(&mut restored, &batch).unwrap();
        }
    }
    assert_eq!(encode_snapshot(&whole), encode_snapshot(&restored));
    for key in ["k", "j", "n", "absent"] {
        assert_eq!(whole.version_of(key.as_bytes()), restored.version_of(key.as_bytes()), "{key}");
    }
    // Then this build's batches: a WATCH on one replica, EXEC applied on both.
    for (change, want) in [("", COMMITTED), ("SET k x", ABORTED), ("DEL j", COMMITTED)] {
        let mut s = session();
        assert_eq!(feed(&mut s, &mut whole, "WATCH k\r\n", 2_000), "+OK\r\n");
        if !change.is_empty() {
            let batch = encode_batch(2_000, &[change.split(' ').map(|w| w.as_bytes().to_vec()).collect()]);
            assert_eq!(apply_batch(&mut whole, &batch).unwrap(), apply_batch(&mut restored, &batch).unwrap());
        }
        let groups = s.feed(b"MULTI\r\nSET key mine\r\nEXEC\r\n", 2_000);
        let Group::Log(exec) = &groups[1] else { panic!("{groups:?}") };
        let (on_whole, on_restored) =
            (apply_batch(&mut whole, exec).unwrap(), apply_batch(&mut restored, exec).unwrap());
        assert_eq!(on_whole, on_restored, "after {change:?}");
        assert_eq!(String::from_utf8(on_whole).unwrap(), want.trim_start_matches("+OK\r\n+QUEUED\r\n"));
    }
}

fn watch_strategy() -> impl Strategy<Value = (Vec<u8>, u64, bool)> {
    (proptest::collection::vec(any::<u8>(), 0..12), any::<u64>(), any::<bool>())
}

proptest! {
    #[test]
    fn a_transaction_batch_reads_back_as_written_and_a_cut_one_is_refused(
        watches in proptest::collection::vec(watch_strategy(), 0..5),
        commands in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 1..4), 0..5),
        now_ms in any::<u64>(),
        resp3 in any::<bool>(),
    ) {
        let protocol = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let watch_list: Vec<Watch<'_>> =
            watches.iter().map(|(key, version, live)| Watch { key, version: *version, live: *live }).collect();
        let mut body = Vec::new();
        for command in &commands {
            senate_core::kv::batch::put_command(&mut body, command.len(), command.iter().map(Vec::as_slice));
        }
        let batch = encode_transaction(now_ms, protocol, &watch_list, &body, commands.len());
        let mut reader = BatchReader::new(&batch).unwrap();
        prop_assert_eq!((reader.now_ms, reader.protocol, reader.len()), (now_ms, protocol, commands.len()));
        let read: Vec<Watch<'_>> = reader.transaction.unwrap().iter().collect();
        prop_assert_eq!(read, watch_list);
        let mut args = Vec::new();
        for command in &commands {
            prop_assert!(reader.next_into(&mut args));
            prop_assert_eq!(&args.iter().map(|a| a.to_vec()).collect::<Vec<_>>(), command);
        }
        prop_assert!(!reader.next_into(&mut args));
        for cut in 1..batch.len() {
            prop_assert!(BatchReader::new(&batch[..batch.len() - cut]).is_err());
        }
    }
}

/// The batch of the last group of `commands` (`;`-separated, one pipelined input).
fn last_batch(s: &mut RespSession, commands: &str) -> Group {
    let input: String = commands.split(';').map(|c| format!("{}\r\n", c.trim())).collect();
    s.feed(input.as_bytes(), 1_000).pop().unwrap()
}

/// A batch answered with an error (not committed, no read barrier) gets the error once per
/// reply the client waits for: once per command, but once for a transaction whatever it
/// queued (it was once per queued command: two errors for two SETs, none for an EXEC that
/// queued nothing, and every later reply answered the wrong command).
#[test]
fn a_failed_transaction_batch_owes_one_reply() {
    let (mut s, mut store) = (session(), KvStore::default());
    let Group::Log(batch) = last_batch(&mut s, "MULTI; SET a 1; SET b 2; EXEC") else { panic!("not a log batch") };
    assert_eq!(BatchReader::new(&batch).unwrap().reply_count(), 1);
    assert_eq!(ask(&mut s, &mut store, "WATCH k"), "+OK\r\n");
    let Group::Read(batch) = last_batch(&mut s, "MULTI; EXEC") else { panic!("not a read batch") };
    let reader = BatchReader::new(&batch).unwrap();
    assert_eq!((reader.len(), reader.reply_count()), (0, 1));
    let Group::Log(batch) = last_batch(&mut s, "SET a 1; SET b 2; GET a") else { panic!("not a log batch") };
    assert_eq!(BatchReader::new(&batch).unwrap().reply_count(), 3);
}

/// A transaction of connection commands only (and PING), with no watched key, is answered
/// by the session at once (no read barrier, which needs a quorum), and its state is the
/// connection's at once; with a watched key, or a data command, it still goes to the store.
#[test]
fn a_transaction_of_connection_commands_is_answered_by_the_session() {
    let (mut s, mut store) = (session(), KvStore::default());
    let input = "MULTI\r\nCLIENT SETNAME x\r\nPING\r\nCLIENT GETNAME\r\nEXEC\r\nCLIENT GETNAME\r\n";
    let groups = s.feed(input.as_bytes(), 1_000);
    let replies: Vec<u8> = groups
        .iter()
        .map(|group| match group {
            Group::Reply(b) => b.clone(),
            other => panic!("not answered by the session: {other:?}"),
        })
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(
        String::from_utf8(replies).unwrap(),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n+PONG\r\n$1\r\nx\r\n$1\r\nx\r\n"
    );
    assert_eq!(ask(&mut s, &mut store, "WATCH k"), "+OK\r\n");
    let Group::ExecRead(b) = last_batch(&mut s, "MULTI; CLIENT GETNAME; EXEC") else { panic!("not a read batch") };
    assert_eq!(s.executed(&read_batch(&store, &b, 1_000).unwrap()), b"*1\r\n$1\r\nx\r\n");
    let Group::ExecLog(b) = last_batch(&mut s, "MULTI; CLIENT GETNAME; SET k v; EXEC") else {
        panic!("not a log batch")
    };
    assert_eq!(s.executed(&apply_batch(&mut store, &b).unwrap()), b"*2\r\n$1\r\nx\r\n+OK\r\n");
}

/// The replies of a transaction's connection commands stay in the session, not in its log
/// entry: 1,023 COMMANDs and a SET (COMMAND's reply is ~10 KB) make an entry of a few KB,
/// not ~10 MB that every node writes; EXEC's array has each reply in its place, a RESP3
/// one after a queued HELLO 3, and INFO's too.
#[test]
fn connection_replies_stay_out_of_the_log_entry() {
    let (mut s, mut store) = (session(), KvStore::default());
    let command = ask(&mut s, &mut store, "COMMAND");
    assert!(command.len() > 8 << 10, "{}", command.len());
    let queued = "COMMAND;".repeat(1023);
    let input: String = format!("MULTI;{queued}SET k v;EXEC").split(';').map(|c| format!("{c}\r\n")).collect();
    let groups = s.feed(input.as_bytes(), 1_000);
    let Some(Group::ExecLog(batch)) = groups.last() else { panic!("not a log batch: {:?}", groups.last()) };
    assert!(batch.len() < 32 << 10, "a log entry of {} bytes", batch.len());
    let reply = String::from_utf8(s.executed(&apply_batch(&mut store, batch).unwrap())).unwrap();
    assert_eq!(reply, format!("*1024\r\n{}+OK\r\n", command.repeat(1023)));
    // In their places among data replies, the protocol switched by HELLO, INFO's from the node.
    let replies =
        ask(&mut s, &mut store, "MULTI; GET k; HELLO 3; CLIENT SETNAME n; INFO; GET nope; CLIENT GETNAME; EXEC");
    let array = replies.split_once("*6\r\n").unwrap().1;
    assert!(array.starts_with("$1\r\nv\r\n%7\r\n"), "{array}");
    assert!(array.ends_with("+OK\r\n$4\r\ni:1\r\n_\r\n$1\r\nn\r\n"), "{array}");
}

proptest! {
    /// EXEC's array holds, in order, the replies the same commands give outside MULTI, for
    /// any mix of data and connection commands (the connection replies kept by the session
    /// and put in their places among the store's).
    #[test]
    fn exec_replies_are_the_commands_replies_in_order(picks in proptest::collection::vec(0usize..11, 1..12)) {
        const COMMANDS: [&str; 11] = [
            "SET k v", "GET k", "INCR n", "CLIENT GETNAME", "CLIENT SETNAME a", "CONFIG GET maxmemory",
            "COMMAND COUNT", "PING", "ECHO e", "HELLO 3", "HELLO 2",
        ];
        let commands: Vec<&str> = picks.iter().map(|&i| COMMANDS[i]).collect();
        let (mut s, mut store) = (session(), KvStore::default());
        let alone: String = commands.iter().map(|c| ask(&mut s, &mut store, c)).collect();
        let (mut s, mut store) = (session(), KvStore::default());
        let replies = ask(&mut s, &mut store, &format!("MULTI;{};EXEC", commands.join(";")));
        let head = format!("+OK\r\n{}*{}\r\n", "+QUEUED\r\n".repeat(commands.len()), commands.len());
        prop_assert_eq!(replies, format!("{head}{alone}"));
    }
}
