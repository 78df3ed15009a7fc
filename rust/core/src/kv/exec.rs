//! Executing commands against a [`KvStore`]: each appends its reply in the batch's protocol
//! (RESP2 or RESP3), with the exact errors Redis 7 sends. [`apply_batch`] runs a log entry,
//! [`read_batch`] a batch of reads.

use super::batch::BatchReader;
use super::client_sessions::{Verdict, MAX_EXPIRED_SESSIONS_PER_BATCH};
use super::command::{arity_error, lookup, unknown_command_error, Class, Cmd};
use super::error::Result;
use super::expiry::{self, expire_deadline, TtlReport};
use super::glob::glob_match;
use super::hashes::{self, Listing};
use super::store::{KvStore, Value, WrongType, MAX_EXPIRED_PER_BATCH};
use super::transaction::{apply_transaction, read_transaction, watch_reply};
use super::{keyspace, strings};
use crate::codec::resp::{parse_i64, put_array_header, put_bulk, put_error, put_integer, put_null, put_ok, Protocol};
use std::sync::Arc;

pub(crate) const NOT_INTEGER: &[u8] = b"ERR value is not an integer or out of range";
const OVERFLOW: &[u8] = b"ERR increment or decrement would overflow";
pub(crate) const SYNTAX: &[u8] = b"ERR syntax error";
pub(crate) const WRONGTYPE: &[u8] = b"WRONGTYPE Operation against a key holding the wrong kind of value";
const READONLY: &[u8] = b"READONLY You can't write against a read only replica.";
const NOT_IN_BATCH: &[u8] = b"ERR this command is not run by the store";

/// Runs every command of a log batch in order at the batch's clock (a transaction's as one
/// array of replies, `transaction`), then deletes up to
/// [`MAX_EXPIRED_PER_BATCH`] expired keys and expires up to [`MAX_EXPIRED_SESSIONS_PER_BATCH`]
/// idle client sessions; returns the concatenated replies, in the protocol
/// the batch names. A malformed batch is refused before any command runs.
pub fn apply_batch(store: &mut KvStore, batch: &[u8]) -> Result<Vec<u8>> {
    let mut reader = BatchReader::new(batch)?;
    let now_ms = store.advance_clock(reader.now_ms);
    if reader.counted {
        store.begin_batch();
    }
    let mut out = Vec::with_capacity(reader.len() * 8);
    if let Some(watches) = reader.transaction {
        apply_transaction(store, now_ms, &mut reader, watches, &mut out);
    } else {
        let mut args = Vec::with_capacity(8);
        while reader.next_into(&mut args) {
            execute(store, now_ms, reader.protocol, &args, &mut out);
        }
    }
    store.expire_some(now_ms, MAX_EXPIRED_PER_BATCH);
    store.sessions.expire_idle(now_ms, MAX_EXPIRED_SESSIONS_PER_BATCH);
    Ok(out)
}

/// Runs the reads of a batch at `max(store clock, now_ms)`; a write gets a `-READONLY` reply
/// and never runs.
pub fn read_batch(store: &KvStore, batch: &[u8], now_ms: u64) -> Result<Vec<u8>> {
    let mut reader = BatchReader::new(batch)?;
    let now_ms = store.now_ms().max(now_ms);
    let mut out = Vec::with_capacity(reader.len() * 16);
    if let Some(watches) = reader.transaction {
        read_transaction(store, now_ms, &mut reader, watches, &mut out);
        return Ok(out);
    }
    let mut args = Vec::with_capacity(8);
    while reader.next_into(&mut args) {
        execute_read(store, now_ms, reader.protocol, &args, &mut out);
    }
    Ok(out)
}

/// Runs one command (a write or a read) and appends its reply in `protocol`.
pub fn execute(store: &mut KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(cmd) = checked(args, out) else { return };
    match cmd {
        Cmd::Set => set(store, now_ms, protocol, args, out),
        Cmd::Del => {
            let deleted = args[1..].iter().filter(|key| store.remove(key, now_ms)).count();
            put_integer(out, deleted as i64);
        }
        Cmd::Incr => incr_by(store, now_ms, args[1], 1, out),
        Cmd::Decr => incr_by(store, now_ms, args[1], -1, out),
        Cmd::IncrBy => match parse_i64(args[2]) {
            Some(by) => incr_by(store, now_ms, args[1], by, out),
            None => put_error(out, NOT_INTEGER),
        },
        Cmd::DecrBy => match parse_i64(args[2]) {
            Some(i64::MIN) => put_error(out, b"ERR decrement would overflow"),
            Some(by) => incr_by(store, now_ms, args[1], -by, out),
            None => put_error(out, NOT_INTEGER),
        },
        Cmd::Append => append(store, now_ms, args[1], args[2], out),
        Cmd::MSet => mset(store, now_ms, args, out),
        Cmd::GetSet => match store.get(args[1], now_ms).map(Value::string) {
            Some(Err(WrongType)) => put_error(out, WRONGTYPE),
            _ => {
                let old = store.set(args[1], Value::new(Arc::from(args[2]), None), now_ms);
                put_optional_bulk(out, protocol, old.as_ref().and_then(|v| v.string().ok()).map(|data| &**data));
            }
        },
        Cmd::FlushDb => match args.get(1) {
            None => flushdb(store, out),
            Some(mode) if args.len() == 2 && (eq_nocase(mode, b"async") || eq_nocase(mode, b"sync")) => {
                flushdb(store, out)
            }
            Some(_) => put_error(out, SYNTAX),
        },
        Cmd::Expire => expiry::expire(store, now_ms, args, 1000, false, "expire", out),
        Cmd::PExpire => expiry::expire(store, now_ms, args, 1, false, "pexpire", out),
        Cmd::ExpireAt => expiry::expire(store, now_ms, args, 1000, true, "expireat", out),
        Cmd::PExpireAt => expiry::expire(store, now_ms, args, 1, true, "pexpireat", out),
        Cmd::Persist => expiry::persist(store, now_ms, args[1], out),
        Cmd::SetEx => expiry::set_with_expiry(store, now_ms, args, 1000, "setex", out),
        Cmd::PSetEx => expiry::set_with_expiry(store, now_ms, args, 1, "psetex", out),
        Cmd::GetEx => expiry::getex(store, now_ms, protocol, args, out),
        Cmd::Rename => keyspace::rename(store, now_ms, args, false, out),
        Cmd::RenameNx => keyspace::rename(store, now_ms, args, true, out),
        Cmd::Unlink => {
            let deleted = args[1..].iter().filter(|key| store.remove(key, now_ms)).count();
            put_integer(out, deleted as i64);
        }
        Cmd::Copy => keyspace::copy(store, now_ms, args, out),
        Cmd::SetNx => strings::setnx(store, now_ms, args[1], args[2], out),
        Cmd::MSetNx => strings::msetnx(store, now_ms, args, out),
        Cmd::IncrByFloat => strings::incr_by_float(store, now_ms, args[1], args[2], out),
        Cmd::GetDel => strings::getdel(store, now_ms, protocol, args[1], out),
        Cmd::SetRange => strings::setrange(store, now_ms, args, out),
        Cmd::HSet => hashes::hset(store, now_ms, args, false, out),
        Cmd::HMSet => hashes::hset(store, now_ms, args, true, out),
        Cmd::HSetNx => hashes::hsetnx(store, now_ms, args, out),
        Cmd::HDel => hashes::hdel(store, now_ms, args, out),
        Cmd::HIncrBy => hashes::hincrby(store, now_ms, args, out),
        Cmd::HIncrByFloat => hashes::hincrbyfloat(store, now_ms, args, out),
        Cmd::SenateSession => session_command(store, now_ms, args, out),
        Cmd::SenateExec => exec_in_session(store, now_ms, protocol, args, out),
        _ => read(store, now_ms, protocol, cmd, args, out),
    }
}

/// Runs one read and appends its reply in `protocol`; writes are refused.
pub fn execute_read(store: &KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    if let Some(cmd) = checked(args, out) {
        read(store, now_ms, protocol, cmd, args, out);
    }
}

/// The command of `args` when it is known, of a store class and of the right arity; else
/// its error reply is appended.
fn checked(args: &[&[u8]], out: &mut Vec<u8>) -> Option<Cmd> {
    let Some(spec) = args.first().and_then(|name| lookup(name)) else {
        put_error(out, &unknown_command_error(args));
        return None;
    };
    if !spec.args_ok(args.len()) {
        put_error(out, &arity_error(spec.name));
        return None;
    }
    if matches!(spec.class, Class::Session | Class::Node) {
        // WATCH's batch (the session's own, `transaction`) reads the keys' versions.
        if spec.cmd == Cmd::Watch {
            return Some(Cmd::Watch);
        }
        put_error(out, NOT_IN_BATCH);
        return None;
    }
    Some(spec.cmd)
}

fn read(store: &KvStore, now_ms: u64, protocol: Protocol, cmd: Cmd, args: &[&[u8]], out: &mut Vec<u8>) {
    match cmd {
        Cmd::Get => match store.get(args[1], now_ms).map(Value::string) {
            None => put_null(out, protocol),
            Some(Ok(data)) => put_bulk(out, data),
            Some(Err(WrongType)) => put_error(out, WRONGTYPE),
        },
        Cmd::Exists => {
            let live = args[1..].iter().filter(|key| store.get(key, now_ms).is_some()).count();
            put_integer(out, live as i64);
        }
        Cmd::StrLen => match store.get(args[1], now_ms).map(Value::string) {
            None => put_integer(out, 0),
            Some(Ok(data)) => put_integer(out, data.len() as i64),
            Some(Err(WrongType)) => put_error(out, WRONGTYPE),
        },
        Cmd::MGet => {
            put_array_header(out, args.len() - 1);
            for key in &args[1..] {
                // A key of another type reads as absent, as in Redis.
                let data = store.get(key, now_ms).and_then(|v| v.string().ok());
                put_optional_bulk(out, protocol, data.map(|data| &**data));
            }
        }
        Cmd::DbSize => put_integer(out, store.live_len(now_ms) as i64),
        Cmd::Keys => keys(store, now_ms, args[1], out),
        Cmd::Ttl => expiry::ttl(store, now_ms, args[1], TtlReport::Seconds, out),
        Cmd::PTtl => expiry::ttl(store, now_ms, args[1], TtlReport::Millis, out),
        Cmd::ExpireTime => expiry::ttl(store, now_ms, args[1], TtlReport::AtSeconds, out),
        Cmd::PExpireTime => expiry::ttl(store, now_ms, args[1], TtlReport::AtMillis, out),
        Cmd::Type => keyspace::type_of(store, now_ms, args[1], out),
        Cmd::Touch => keyspace::touch(store, now_ms, &args[1..], out),
        Cmd::RandomKey => keyspace::random_key(store, now_ms, protocol, out),
        Cmd::Scan => keyspace::scan(store, now_ms, args, out),
        Cmd::Time => keyspace::time(now_ms, out),
        Cmd::GetRange | Cmd::Substr => strings::getrange(store, now_ms, args, out),
        Cmd::HGet => hashes::hget(store, now_ms, protocol, args, out),
        Cmd::HMGet => hashes::hmget(store, now_ms, protocol, args, out),
        Cmd::HGetAll => hashes::list(store, now_ms, protocol, args[1], Listing::All, out),
        Cmd::HKeys => hashes::list(store, now_ms, protocol, args[1], Listing::Keys, out),
        Cmd::HVals => hashes::list(store, now_ms, protocol, args[1], Listing::Values, out),
        Cmd::HLen => hashes::count(store, now_ms, args[1], None, false, out),
        Cmd::HExists => hashes::count(store, now_ms, args[1], Some(args[2]), false, out),
        Cmd::HStrLen => hashes::count(store, now_ms, args[1], Some(args[2]), true, out),
        Cmd::HScan => hashes::hscan(store, now_ms, args, out),
        Cmd::HRandField => hashes::hrandfield(store, now_ms, protocol, args, out),
        Cmd::Lcs => strings::lcs(store, now_ms, protocol, args, out),
        Cmd::Watch => watch_reply(store, now_ms, &args[1..], out),
        _ => put_error(out, READONLY),
    }
}

pub(crate) fn put_optional_bulk(out: &mut Vec<u8>, protocol: Protocol, value: Option<&[u8]>) {
    match value {
        Some(bytes) => put_bulk(out, bytes),
        None => put_null(out, protocol),
    }
}

pub(crate) fn eq_nocase(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The options of SET after the key and value.
#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    /// The expire option's unit in ms (1000 for EX), whether it is absolute, and its argument.
    expire: Option<(u64, bool, usize)>,
}

fn parse_set_options(args: &[&[u8]]) -> Option<SetOptions> {
    let mut options = SetOptions::default();
    let mut i = 3;
    while i < args.len() {
        let arg = args[i];
        let has_next = i + 1 < args.len();
        let expire_unit = [(b"ex" as &[u8], 1000, false), (b"px", 1, false), (b"exat", 1000, true), (b"pxat", 1, true)]
            .into_iter()
            .find(|(name, _, _)| eq_nocase(arg, name));
        if eq_nocase(arg, b"nx") && !options.xx {
            options.nx = true;
        } else if eq_nocase(arg, b"xx") && !options.nx {
            options.xx = true;
        } else if eq_nocase(arg, b"get") {
            options.get = true;
        } else if eq_nocase(arg, b"keepttl") && options.expire.is_none() {
            options.keep_ttl = true;
        } else if let Some((_, unit, absolute)) = expire_unit.filter(|_| has_next) {
            // The same option again replaces the first (as in Redis), another is refused.
            if options.keep_ttl || options.expire.is_some_and(|(u, a, _)| (u, a) != (unit, absolute)) {
                return None;
            }
            options.expire = Some((unit, absolute, i + 1));
            i += 1;
        } else {
            return None;
        }
        i += 1;
    }
    Some(options)
}

fn set(store: &mut KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(options) = parse_set_options(args) else {
        return put_error(out, SYNTAX);
    };
    let deadline = match options.expire {
        None => None,
        Some((unit, absolute, at)) => match expire_deadline(now_ms, args[at], unit, absolute, "set") {
            Ok(deadline) => Some(deadline),
            Err(message) => return put_error(out, &message),
        },
    };
    let (key, data) = (args[1], args[2]);
    let old = store.get(key, now_ms);
    if options.get {
        // SET overwrites a key of any type, but GET needs a string there.
        match old.map(Value::string) {
            Some(Err(WrongType)) => return put_error(out, WRONGTYPE),
            Some(Ok(data)) => put_bulk(out, data),
            None => put_null(out, protocol),
        }
    }
    if (options.nx && old.is_some()) || (options.xx && old.is_none()) {
        if !options.get {
            put_null(out, protocol);
        }
        return;
    }
    let deadline = if options.keep_ttl { old.and_then(Value::expires_at_ms) } else { deadline };
    store.set(key, Value::new(Arc::from(data), deadline), now_ms);
    if !options.get {
        put_ok(out);
    }
}

fn incr_by(store: &mut KvStore, now_ms: u64, key: &[u8], by: i64, out: &mut Vec<u8>) {
    let current = match store.get(key, now_ms).map(Value::string) {
        None => None,
        Some(Err(WrongType)) => return put_error(out, WRONGTYPE),
        Some(Ok(data)) => match parse_i64(data) {
            Some(n) => Some(n),
            None => return put_error(out, NOT_INTEGER),
        },
    };
    let Some(new) = current.unwrap_or(0).checked_add(by) else {
        return put_error(out, OVERFLOW);
    };
    let text: Arc<[u8]> = Arc::from(itoa::Buffer::new().format(new).as_bytes());
    match current {
        Some(_) => store.set_data_keep_ttl(key, text),
        None => {
            store.set(key, Value::new(text, None), now_ms);
        }
    }
    put_integer(out, new);
}

fn append(store: &mut KvStore, now_ms: u64, key: &[u8], suffix: &[u8], out: &mut Vec<u8>) {
    let old = match store.get(key, now_ms).map(Value::string) {
        Some(Err(WrongType)) => return put_error(out, WRONGTYPE),
        old => old.and_then(|data| data.ok()),
    };
    let old_len = old.map_or(0, |data| data.len());
    if old_len.saturating_add(suffix.len()) > strings::MAX_STRING_BYTES {
        return put_error(out, strings::STRING_TOO_LONG);
    }
    let new_len = match old {
        Some(old) => {
            let mut data = Vec::with_capacity(old.len() + suffix.len());
            data.extend_from_slice(old);
            data.extend_from_slice(suffix);
            let len = data.len();
            store.set_data_keep_ttl(key, Arc::from(data));
            len
        }
        None => {
            store.set(key, Value::new(Arc::from(suffix), None), now_ms);
            suffix.len()
        }
    };
    put_integer(out, new_len as i64);
}

fn mset(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    for pair in args[1..].chunks_exact(2) {
        store.set(pair[0], Value::new(Arc::from(pair[1]), None), now_ms);
    }
    put_ok(out);
}

fn flushdb(store: &mut KvStore, out: &mut Vec<u8>) {
    store.clear();
    put_ok(out);
}

fn keys(store: &KvStore, now_ms: u64, pattern: &[u8], out: &mut Vec<u8>) {
    let max = store.max_keys_result;
    let mut found: Vec<&[u8]> = Vec::new();
    for (key, _) in store.iter_live(now_ms) {
        if glob_match(pattern, key, false) {
            if found.len() == max {
                let message = format!("ERR KEYS would return more than {max} keys; use a narrower pattern");
                return put_error(out, message.as_bytes());
            }
            found.push(key);
        }
    }
    put_array_header(out, found.len());
    for key in found {
        put_bulk(out, key);
    }
}

/// `SENATE.SESSION OPEN` (the new session's id) or `SENATE.SESSION CLOSE id` (1 if it was
/// open, else 0).
fn session_command(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    match args {
        [_, sub] if eq_nocase(sub, b"open") => {
            let id = store.sessions.open(now_ms);
            put_integer(out, id as i64);
        }
        [_, sub, id] if eq_nocase(sub, b"close") => match parse_u64(id) {
            Some(id) => put_integer(out, i64::from(store.sessions.close(id))),
            None => put_error(out, NOT_INTEGER),
        },
        _ => put_error(out, b"ERR SENATE.SESSION takes OPEN or CLOSE <id>"),
    }
}

/// `SENATE.EXEC session seq first_unacked command...`: runs the wrapped write unless its
/// session already ran `seq` (then its kept reply is sent again) or refuses it (see
/// `client_sessions`). A malformed wrapper is refused before the session is looked at.
fn exec_in_session(store: &mut KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    let (Some(id), Some(seq), Some(first_unacked)) = (parse_u64(args[1]), parse_u64(args[2]), parse_u64(args[3]))
    else {
        return put_error(out, b"ERR SENATE.EXEC session, seq and first_unacked must be integers >= 0");
    };
    let inner = &args[4..];
    let spec = match lookup(inner[0]) {
        Some(spec) if spec.class == Class::Write && !matches!(spec.cmd, Cmd::SenateExec | Cmd::SenateSession) => spec,
        _ => return put_error(out, b"ERR SENATE.EXEC wraps one write command (SET, INCR, DEL, ...)"),
    };
    if !spec.args_ok(inner.len()) {
        return put_error(out, &arity_error(spec.name));
    }
    match store.sessions.begin(id, seq, first_unacked, now_ms) {
        Verdict::Run => {
            let start = out.len();
            execute(store, now_ms, protocol, inner, out);
            store.sessions.record(id, seq, &out[start..]);
        }
        Verdict::Replay(reply) => out.extend_from_slice(&reply),
        Verdict::Refuse(message) => put_error(out, &message),
    }
}

fn parse_u64(arg: &[u8]) -> Option<u64> {
    parse_i64(arg).and_then(|n| u64::try_from(n).ok())
}
