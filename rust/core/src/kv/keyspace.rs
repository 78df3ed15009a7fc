//! The commands over keys whatever their values: TYPE, TOUCH, RANDOMKEY, SCAN, TIME (reads);
//! RENAME, RENAMENX, COPY (writes; UNLINK is DEL), with Redis 7's replies and errors.

use super::exec::{eq_nocase, put_optional_bulk, NOT_INTEGER, SYNTAX};
use super::glob::glob_match;
use super::store::{KvStore, Value};
use crate::codec::resp::{parse_i64, put_array_header, put_bulk, put_error, put_integer, put_ok, put_simple, Protocol};

/// TYPE: `+string`, `+hash` or `+none`.
pub(crate) fn type_of(store: &KvStore, now_ms: u64, key: &[u8], out: &mut Vec<u8>) {
    put_simple(out, store.get(key, now_ms).map_or(b"none", Value::type_name));
}

/// TOUCH: how many of the keys are live (the store keeps no access times to update).
pub(crate) fn touch(store: &KvStore, now_ms: u64, keys: &[&[u8]], out: &mut Vec<u8>) {
    put_integer(out, keys.iter().filter(|key| store.get(key, now_ms).is_some()).count() as i64);
}

/// RANDOMKEY: a live key (picked by the clock), or null.
pub(crate) fn random_key(store: &KvStore, now_ms: u64, protocol: Protocol, out: &mut Vec<u8>) {
    let seed = xxhash_rust::xxh3::xxh3_64_with_seed(&now_ms.to_le_bytes(), store.stored_len() as u64);
    put_optional_bulk(out, protocol, store.pick_key(seed, now_ms));
}

/// TIME: the clock of the read (or of the log batch) as Unix seconds and microseconds.
pub(crate) fn time(now_ms: u64, out: &mut Vec<u8>) {
    put_array_header(out, 2);
    put_bulk(out, itoa::Buffer::new().format(now_ms / 1000).as_bytes());
    put_bulk(out, itoa::Buffer::new().format(now_ms % 1000 * 1000).as_bytes());
}

/// RENAME (`only_new` false: `+OK`) and RENAMENX (`:1`, or `:0` when the new name is
/// taken). The value keeps its deadline.
pub(crate) fn rename(store: &mut KvStore, now_ms: u64, args: &[&[u8]], only_new: bool, out: &mut Vec<u8>) {
    let (from, to) = (args[1], args[2]);
    let Some(value) = store.get(from, now_ms).cloned() else {
        return put_error(out, b"ERR no such key");
    };
    if from == to {
        return if only_new { put_integer(out, 0) } else { put_ok(out) };
    }
    if only_new && store.get(to, now_ms).is_some() {
        return put_integer(out, 0);
    }
    store.remove(from, now_ms);
    store.set(to, value, now_ms);
    if only_new {
        put_integer(out, 1)
    } else {
        put_ok(out)
    }
}

/// `COPY source destination [DB 0] [REPLACE]`: 1 when copied (with its deadline).
pub(crate) fn copy(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if eq_nocase(args[i], b"replace") {
            replace = true;
        } else if eq_nocase(args[i], b"db") && i + 1 < args.len() {
            match parse_i64(args[i + 1]) {
                Some(0) => {}
                Some(_) => return put_error(out, b"ERR DB index is out of range"),
                None => return put_error(out, NOT_INTEGER),
            }
            i += 1;
        } else {
            return put_error(out, SYNTAX);
        }
        i += 1;
    }
    let (from, to) = (args[1], args[2]);
    if from == to {
        return put_error(out, b"ERR source and destination objects are the same");
    }
    let Some(value) = store.get(from, now_ms).cloned() else {
        return put_integer(out, 0);
    };
    if !replace && store.get(to, now_ms).is_some() {
        return put_integer(out, 0);
    }
    store.set(to, value, now_ms);
    put_integer(out, 1);
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: the next cursor and the keys
/// the walk met from `cursor` that pass the filters (see `KvStore::scan`). COUNT is bounded
/// by the store's KEYS bound: a larger one returns that many and a cursor to go on from.
pub(crate) fn scan(store: &KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(cursor) = parse_cursor(args[1]) else {
        return put_error(out, b"ERR invalid cursor");
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let option = args[i];
        let Some(&argument) = args.get(i + 1) else {
            return put_error(out, SYNTAX);
        };
        if eq_nocase(option, b"count") {
            match parse_i64(argument) {
                Some(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => return put_error(out, SYNTAX),
                None => return put_error(out, NOT_INTEGER),
            }
        } else if eq_nocase(option, b"match") {
            pattern = Some(argument);
        } else if eq_nocase(option, b"type") {
            type_name = Some(argument);
        } else {
            return put_error(out, SYNTAX);
        }
        i += 2;
    }
    let (entries, next) = store.scan(cursor, count.min(store.max_keys_result.max(1)), now_ms);
    let keys: Vec<&[u8]> = entries
        .into_iter()
        .filter(|(_, value)| type_name.is_none_or(|name| eq_nocase(name, value.type_name())))
        .map(|(key, _)| key)
        .filter(|key| pattern.is_none_or(|pattern| pattern == b"*" || glob_match(pattern, key, false)))
        .collect();
    put_array_header(out, 2);
    put_bulk(out, itoa::Buffer::new().format(next).as_bytes());
    put_array_header(out, keys.len());
    for key in keys {
        put_bulk(out, key);
    }
}

/// A cursor as Redis reads one: an unsigned 64-bit decimal number, nothing else.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}
