//! Transactions: MULTI queues a connection's commands, EXEC hands them over as one batch of
//! its own (batch version 3, `batch`), run as one: one log entry applied at once on every
//! replica (nothing else runs between its commands), or one batch of reads after one read
//! barrier when it holds no write. Its replies are one array; a command that fails while
//! running (INCR of a word) answers its error in the array and the others still run (Redis
//! does not roll back). A command refused while queued (unknown, wrong arity, NOPERM, -OOM,
//! over the queue's bounds) makes EXEC answer `-EXECABORT` and run nothing.
//!
//! WATCH: the node reads, after a read barrier (or through the log behind the client's own
//! writes in flight), each key's version (`KvStore::version_of`) and whether it is live; the
//! session keeps them and EXEC's batch carries them. The transaction runs only if every
//! watched key still has its version and, if it was live, still is (Redis 7.0 counts a key
//! that expired as changed, one already expired when watched as unchanged when deleted).

use super::batch::{put_command, BatchReader, Watches};
use super::command::{lookup, Cmd};
use super::exec::{execute, execute_read};
use super::store::KvStore;
use crate::codec::resp::{put_array_header, put_bulk, put_integer, put_null_aggregate, put_ok, put_simple, Protocol};

/// Redis's reply to EXEC after a command was refused while queued.
pub const EXECABORT: &[u8] = b"EXECABORT Transaction discarded because of previous errors.";
/// Redis's reply to EXEC over `maxmemory` when a queued command may not run then.
pub const EXECABORT_OOM: &[u8] =
    b"EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.";
/// Redis's reply to a command it does not queue (and to ours that are not: the SENATE admin
/// commands, which the node answers in its own time).
pub const NOT_IN_TRANSACTION: &[u8] = b"ERR Command not allowed inside a transaction";

/// The commands a connection queued since MULTI. Bounded: at most the session's
/// `max_batch_commands` commands and `max_value_bytes` bytes of encoded commands (what one
/// command may carry); past either the transaction is refused (EXECABORT) and what it held
/// is freed.
#[derive(Debug, Default)]
pub struct Queue {
    /// The queued commands, as a batch encodes them.
    pub body: Vec<u8>,
    pub count: usize,
    /// A queued command writes: EXEC goes through the log.
    pub writes: bool,
    /// A queued command is refused over `maxmemory` (Redis's `denyoom`): so is EXEC then.
    pub denyoom: bool,
    /// A command was refused while queued: EXEC answers EXECABORT.
    pub refused: bool,
    /// A connection command is queued (but PING, ECHO, UNWATCH, which the store answers):
    /// EXEC runs them on a copy of the connection's state (`exec_connection`).
    pub connection: bool,
    /// One of them is INFO, which the node answers: EXEC asks it first (`Group::ExecNode`).
    pub node: bool,
}

impl Queue {
    /// Queues one command unless it passes a bound (then the error to answer, the queue
    /// emptied and refused).
    pub fn push<'a>(
        &mut self,
        (writes, denyoom): (bool, bool),
        argc: usize,
        args: impl Iterator<Item = &'a [u8]>,
        max_commands: usize,
        max_bytes: usize,
    ) -> Result<(), String> {
        if self.refused {
            return Ok(()); // EXEC answers EXECABORT: nothing more is kept
        }
        let start = self.body.len();
        put_command(&mut self.body, argc, args);
        let error = if self.count + 1 > max_commands {
            Some(format!("ERR transaction too long (more than {max_commands} commands queued)"))
        } else if self.body.len() > max_bytes {
            Some(format!("ERR transaction too large (more than {max_bytes} bytes queued)"))
        } else {
            None
        };
        match error {
            Some(message) => {
                self.body.truncate(start);
                self.refuse();
                Err(message)
            }
            None => {
                self.count += 1;
                self.writes |= writes;
                self.denyoom |= denyoom;
                Ok(())
            }
        }
    }

    /// Queues a connection command (see `connection`), or INFO (`node`).
    pub fn push_connection<'a>(
        &mut self,
        node: bool,
        argc: usize,
        args: impl Iterator<Item = &'a [u8]>,
        max_commands: usize,
        max_bytes: usize,
    ) -> Result<(), String> {
        self.push((false, false), argc, args, max_commands, max_bytes)?;
        self.connection = true;
        self.node |= node;
        Ok(())
    }

    /// Marks the transaction refused and frees what it held.
    pub fn refuse(&mut self) {
        self.refused = true;
        self.body = Vec::new();
        self.count = 0;
    }
}

/// Runs the transaction of `reader` against `store` (a log entry): its array of replies, or
/// a null array if a watched key changed.
pub fn apply_transaction(
    store: &mut KvStore,
    now_ms: u64,
    reader: &mut BatchReader<'_>,
    watches: Watches<'_>,
    out: &mut Vec<u8>,
) {
    let hold = watches_hold(store, watches, now_ms);
    run_queued(hold, reader, out, |protocol, args, out| execute(store, now_ms, protocol, args, out));
}

/// Runs a transaction of reads (no log entry: after a read barrier).
pub fn read_transaction(
    store: &KvStore,
    now_ms: u64,
    reader: &mut BatchReader<'_>,
    watches: Watches<'_>,
    out: &mut Vec<u8>,
) {
    let hold = watches_hold(store, watches, now_ms);
    run_queued(hold, reader, out, |protocol, args, out| execute_read(store, now_ms, protocol, args, out));
}

/// The replies of a transaction's queued commands, each run by `run` in the protocol in force
/// but the session ones, in one array; a null array when its watches do not `hold`. A
/// [`LITERAL`] command answers its reply as it is and may switch the protocol of the
/// replies after it (HELLO queued in the transaction).
fn run_queued<'a>(
    hold: bool,
    reader: &mut BatchReader<'a>,
    out: &mut Vec<u8>,
    mut run: impl FnMut(Protocol, &[&'a [u8]], &mut Vec<u8>),
) {
    let mut protocol = reader.protocol;
    if !hold {
        return put_null_aggregate(out, protocol);
    }
    put_array_header(out, reader.len());
    let mut args = Vec::with_capacity(8);
    while reader.next_into(&mut args) {
        if args[0] == LITERAL {
            out.extend_from_slice(args.get(1).copied().unwrap_or_default());
            if let Some(version) = args.get(2).and_then(|v| v.first()) {
                protocol = Protocol::from_version(i64::from(*version)).unwrap_or(protocol);
            }
        } else if !session_command(&args, out) {
            run(protocol, &args, out);
        }
    }
}

/// The array of replies of a transaction without watched keys whose commands need no store
/// (each a [`LITERAL`] or a session command the store answers without reading it: PING,
/// ECHO, UNWATCH), as the store would give it; None if one needs the store. Such a
/// transaction is answered by the session at once, as its commands are outside MULTI.
pub fn reply_without_store(reader: &mut BatchReader<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut needs_store = false;
    run_queued(true, reader, &mut out, |_, _, _| needs_store = true);
    (!needs_store).then_some(out)
}

/// The name of a command that only answers its reply (`LITERAL reply [protocol]`): a
/// connection command of a transaction, run by the session at EXEC (`exec_connection`), its
/// reply carried in the batch so that it takes its place in the array; the protocol byte
/// (2 or 3) is that of the replies after it. No client can queue it: the name is no
/// command's (lookup refuses a NUL byte).
pub const LITERAL: &[u8] = b"\0literal";

/// The session commands a transaction may hold that need nothing of the connection:
/// answers one and returns true, or false for any other command.
fn session_command(args: &[&[u8]], out: &mut Vec<u8>) -> bool {
    match lookup(args[0]).map(|spec| spec.cmd) {
        Some(Cmd::Ping) if args.len() == 1 => put_simple(out, b"PONG"),
        Some(Cmd::Ping | Cmd::Echo) if args.len() == 2 => put_bulk(out, args[1]),
        Some(Cmd::Unwatch) => put_ok(out),
        _ => return false,
    }
    true
}

/// Whether the store answers the session command `cmd` in a transaction
/// (`session_command`); the other connection commands are run by the session at EXEC.
pub fn store_answers(cmd: Cmd) -> bool {
    matches!(cmd, Cmd::Ping | Cmd::Echo | Cmd::Unwatch)
}

/// Whether every watched key still has its version and, if it was live, still is.
fn watches_hold(store: &KvStore, watches: Watches<'_>, now_ms: u64) -> bool {
    watches.iter().all(|watch| {
        store.version_of(watch.key) == watch.version && (!watch.live || store.get(watch.key, now_ms).is_some())
    })
}

/// The reply of the store to the WATCH of `keys` (`watch_reply`): per key its version and
/// 1 if it is live, else 0, as a RESP array of integers.
pub fn watch_reply(store: &KvStore, now_ms: u64, keys: &[&[u8]], out: &mut Vec<u8>) {
    put_array_header(out, 2 * keys.len());
    for key in keys {
        put_integer(out, store.version_of(key) as i64);
        put_integer(out, i64::from(store.get(key, now_ms).is_some()));
    }
}

/// The versions of a `watch_reply`: `(version, live)` per key, or None if it is not one of
/// `keys` keys (an error the node answered instead).
pub fn parse_watch_reply(reply: &[u8], keys: usize) -> Option<Vec<(u64, bool)>> {
    let mut rest = reply.strip_prefix(format!("*{}\r\n", 2 * keys).as_bytes())?;
    let mut next = || -> Option<u64> {
        let body = rest.strip_prefix(b":")?;
        let end = body.iter().position(|&b| b == b'\r')?;
        let n = std::str::from_utf8(&body[..end]).ok()?.parse().ok()?;
        rest = body.get(end + 2..)?;
        Some(n)
    };
    let mut versions = Vec::with_capacity(keys);
    for _ in 0..keys {
        let version = next()?;
        let live = next()?;
        versions.push((version, live == 1));
    }
    rest.is_empty().then_some(versions)
}
