//! The hash commands: HSET, HMSET, HSETNX, HDEL, HINCRBY, HINCRBYFLOAT (writes); HGET, HMGET,
//! HGETALL, HKEYS, HVALS, HLEN, HEXISTS, HSTRLEN, HSCAN, HRANDFIELD (reads), with Redis 7's
//! replies and errors. A hash command on a string key, and a string command on a hash key,
//! get `WRONGTYPE`; a hash left without fields is deleted (`KvStore::update_hash`).

use super::exec::{eq_nocase, NOT_INTEGER, SYNTAX, WRONGTYPE};
use super::glob::glob_match;
use super::hash_value::HashValue;
use super::keyspace::parse_cursor;
use super::store::{KvStore, Value, WrongType};
use super::strings::{senate_incr_by_float, MAX_LONG_DOUBLE_CHARS};
use crate::codec::resp::{
    parse_i64, put_array_header, put_bulk, put_error, put_integer, put_map_header, put_null, put_ok, Protocol,
};
use rand::{RngCore, SeedableRng};

/// The live hash at `key`, `None` without a key, or `WrongType`.
fn hash_at<'a>(store: &'a KvStore, key: &[u8], now_ms: u64) -> Result<Option<&'a HashValue>, WrongType> {
    store.get(key, now_ms).map(Value::hash).transpose()
}

/// HSET (`:fields added`) and HMSET (`+OK`, `ok` true): `key field value [field value ...]`.
pub(crate) fn hset(store: &mut KvStore, now_ms: u64, args: &[&[u8]], ok: bool, out: &mut Vec<u8>) {
    if hash_at(store, args[1], now_ms).is_err() {
        return put_error(out, WRONGTYPE);
    }
    let added = store.update_hash(args[1], now_ms, |hash| {
        args[2..].chunks_exact(2).filter(|pair| hash.insert(pair[0], pair[1])).count()
    });
    if ok {
        put_ok(out)
    } else {
        put_integer(out, added as i64)
    }
}

/// `HSETNX key field value`: 1 when the field was set (it was absent).
pub(crate) fn hsetnx(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    match hash_at(store, args[1], now_ms) {
        Err(WrongType) => put_error(out, WRONGTYPE),
        Ok(Some(hash)) if hash.get(args[2]).is_some() => put_integer(out, 0),
        Ok(_) => {
            store.update_hash(args[1], now_ms, |hash| hash.insert(args[2], args[3]));
            put_integer(out, 1);
        }
    }
}

/// `HDEL key field [field ...]`: how many were there.
pub(crate) fn hdel(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    match hash_at(store, args[1], now_ms) {
        Err(WrongType) => put_error(out, WRONGTYPE),
        Ok(None) => put_integer(out, 0),
        Ok(Some(_)) => {
            let deleted =
                store.update_hash(args[1], now_ms, |hash| args[2..].iter().filter(|field| hash.remove(field)).count());
            put_integer(out, deleted as i64);
        }
    }
}

/// `HINCRBY key field increment`: the new value.
pub(crate) fn hincrby(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(by) = parse_i64(args[3]) else {
        return put_error(out, NOT_INTEGER);
    };
    let current = match hash_at(store, args[1], now_ms) {
        Err(WrongType) => return put_error(out, WRONGTYPE),
        Ok(hash) => hash.and_then(|hash| hash.get(args[2])),
    };
    let current = match current.map(parse_i64) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return put_error(out, b"ERR hash value is not an integer"),
    };
    let Some(new) = current.checked_add(by) else {
        return put_error(out, b"ERR increment or decrement would overflow");
    };
    let mut text = itoa::Buffer::new();
    let text = text.format(new).as_bytes();
    store.update_hash(args[1], now_ms, |hash| hash.insert(args[2], text));
    put_integer(out, new);
}

/// `HINCRBYFLOAT key field increment`: the new value as a bulk string, Redis's long double
/// arithmetic and text (`long_double.c`, as INCRBYFLOAT).
pub(crate) fn hincrbyfloat(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let mut text = vec![0u8; MAX_LONG_DOUBLE_CHARS + 64];
    let by = args[3];
    // The increment alone first: Redis refuses it before it looks at the key.
    match incr_by_float(None, by, &mut text) {
        -1 => return put_error(out, b"ERR value is not a valid float"),
        -2 => return put_error(out, b"ERR value is NaN or Infinity"),
        _ => {}
    }
    let current = match hash_at(store, args[1], now_ms) {
        Err(WrongType) => return put_error(out, WRONGTYPE),
        Ok(hash) => hash.and_then(|hash| hash.get(args[2])),
    };
    let len = incr_by_float(current, by, &mut text);
    let Ok(len) = usize::try_from(len) else {
        return put_error(
            out,
            match len {
                -2 => b"ERR increment would produce NaN or Infinity",
                _ => b"ERR hash value is not a float",
            },
        );
    };
    let text = &text[..len];
    store.update_hash(args[1], now_ms, |hash| hash.insert(args[2], text));
    put_bulk(out, text);
}

/// `current + by` written into `text` (see `senate_incr_by_float`): its length or a negative
/// code.
fn incr_by_float(current: Option<&[u8]>, by: &[u8], text: &mut [u8]) -> std::os::raw::c_long {
    let (current_ptr, current_len) = current.map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
    // SAFETY: every pointer is valid for the length given beside it (`current` and `by`
    // for reading, `text` for writing) for the whole call, which keeps none of them.
    unsafe { senate_incr_by_float(current_ptr, current_len, by.as_ptr(), by.len(), text.as_mut_ptr(), text.len()) }
}

/// `HGET key field`.
pub(crate) fn hget(store: &KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    match hash_at(store, args[1], now_ms) {
        Err(WrongType) => put_error(out, WRONGTYPE),
        Ok(hash) => match hash.and_then(|hash| hash.get(args[2])) {
            Some(value) => put_bulk(out, value),
            None => put_null(out, protocol),
        },
    }
}

/// `HMGET key field [field ...]`: a value or null for each field.
pub(crate) fn hmget(store: &KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    let Ok(hash) = hash_at(store, args[1], now_ms) else {
        return put_error(out, WRONGTYPE);
    };
    put_array_header(out, args.len() - 2);
    for field in &args[2..] {
        match hash.and_then(|hash| hash.get(field)) {
            Some(value) => put_bulk(out, value),
            None => put_null(out, protocol),
        }
    }
}

/// What HGETALL, HKEYS and HVALS list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// HGETALL: a map of fields to values (RESP2: a flat array).
    All,
    Keys,
    Values,
}

/// HGETALL, HKEYS, HVALS, in the hash's order.
pub(crate) fn list(store: &KvStore, now_ms: u64, protocol: Protocol, key: &[u8], what: Listing, out: &mut Vec<u8>) {
    let Ok(hash) = hash_at(store, key, now_ms) else {
        return put_error(out, WRONGTYPE);
    };
    let len = hash.map_or(0, HashValue::len);
    match what {
        Listing::All => put_map_header(out, len, protocol),
        Listing::Keys | Listing::Values => put_array_header(out, len),
    }
    for (field, value) in hash.into_iter().flat_map(HashValue::iter) {
        if what != Listing::Values {
            put_bulk(out, field);
        }
        if what != Listing::Keys {
            put_bulk(out, value);
        }
    }
}

/// HLEN, HEXISTS (`field` given) and HSTRLEN (`field` given, `strlen`).
pub(crate) fn count(store: &KvStore, now_ms: u64, key: &[u8], field: Option<&[u8]>, strlen: bool, out: &mut Vec<u8>) {
    let Ok(hash) = hash_at(store, key, now_ms) else {
        return put_error(out, WRONGTYPE);
    };
    let n = match field {
        None => hash.map_or(0, HashValue::len),
        Some(field) => match hash.and_then(|hash| hash.get(field)) {
            None => 0,
            Some(value) if strlen => value.len(),
            Some(_) => 1,
        },
    };
    put_integer(out, n as i64);
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and the fields (each
/// with its value) met from `cursor` (see `HashValue::scan`). COUNT is bounded by the
/// store's KEYS bound. NOVALUES (Redis 7.4) is not known.
pub(crate) fn hscan(store: &KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(cursor) = parse_cursor(args[2]) else {
        return put_error(out, b"ERR invalid cursor");
    };
    let hash = match hash_at(store, args[1], now_ms) {
        Err(WrongType) => return put_error(out, WRONGTYPE),
        // Redis answers an absent key before it reads the options.
        Ok(None) => return out.extend_from_slice(b"*2\r\n$1\r\n0\r\n*0\r\n"),
        Ok(Some(hash)) => hash,
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let Some(&argument) = args.get(i + 1) else {
            return put_error(out, SYNTAX);
        };
        if eq_nocase(args[i], b"count") {
            match parse_i64(argument) {
                Some(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => return put_error(out, SYNTAX),
                None => return put_error(out, NOT_INTEGER),
            }
        } else if eq_nocase(args[i], b"match") {
            pattern = Some(argument);
        } else {
            return put_error(out, SYNTAX);
        }
        i += 2;
    }
    let (entries, next) = hash.scan(cursor, count.min(store.max_keys_result.max(1)));
    let entries: Vec<(&[u8], &[u8])> = entries
        .into_iter()
        .filter(|(field, _)| pattern.is_none_or(|pattern| pattern == b"*" || glob_match(pattern, field, false)))
        .collect();
    put_array_header(out, 2);
    put_bulk(out, itoa::Buffer::new().format(next).as_bytes());
    put_array_header(out, 2 * entries.len());
    for (field, value) in entries {
        put_bulk(out, field);
        put_bulk(out, value);
    }
}

/// `HRANDFIELD key [count [WITHVALUES]]`: fields picked by the clock, the key and the store
/// (as RANDOMKEY picks: every replica would pick the same). A positive count gives distinct
/// fields (the whole hash when it has no more), a negative one `-count` picks that may
/// repeat; neither may pass the store's KEYS bound (Redis has no bound: it would build a
/// reply of any size on the node's loop).
pub(crate) fn hrandfield(store: &KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(&count) = args.get(2) else {
        return match hash_at(store, args[1], now_ms) {
            Err(WrongType) => put_error(out, WRONGTYPE),
            Ok(None) => put_null(out, protocol),
            Ok(Some(hash)) => {
                let index = rng(store, args[1], now_ms).next_u64() % hash.len() as u64;
                put_bulk(out, hash.at(index as usize).map_or(&[], |(field, _)| field));
            }
        };
    };
    let count = match parse_i64(count) {
        None => return put_error(out, NOT_INTEGER),
        Some(i64::MIN) => {
            return put_error(
                out,
                b"ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            )
        }
        Some(count) => count,
    };
    let with_values = match args.get(3) {
        None => false,
        Some(option) if args.len() == 4 && eq_nocase(option, b"withvalues") => true,
        Some(_) => return put_error(out, SYNTAX),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return put_error(out, b"ERR value is out of range");
    }
    let hash = match hash_at(store, args[1], now_ms) {
        Err(WrongType) => return put_error(out, WRONGTYPE),
        Ok(None) => return put_array_header(out, 0),
        Ok(Some(hash)) => hash,
    };
    let len = hash.len();
    let wanted = count.unsigned_abs().min(if count > 0 { len as u64 } else { u64::MAX });
    let max = store.max_keys_result as u64;
    if wanted > max {
        let message = format!("ERR HRANDFIELD would return more than {max} fields; use a smaller count");
        return put_error(out, message.as_bytes());
    }
    let wanted = wanted as usize;
    let mut rng = rng(store, args[1], now_ms);
    let picks: Vec<usize> = if count < 0 {
        (0..wanted).map(|_| (rng.next_u64() % len as u64) as usize).collect()
    } else if wanted == len {
        (0..len).collect()
    } else {
        let mut picks = rand::seq::index::sample(&mut rng, len, wanted).into_vec();
        picks.sort_unstable();
        picks
    };
    put_array_header(out, if with_values && protocol == Protocol::Resp2 { 2 * wanted } else { wanted });
    for (field, value) in picks.into_iter().filter_map(|index| hash.at(index)) {
        if with_values && protocol != Protocol::Resp2 {
            put_array_header(out, 2);
        }
        put_bulk(out, field);
        if with_values {
            put_bulk(out, value);
        }
    }
}

/// The picks of HRANDFIELD: seeded by the clock of the read, the key, the store's size and
/// version, so the same read on any replica picks the same fields, and a write in between
/// changes the picks even within one millisecond (two calls with none between still agree).
fn rng(store: &KvStore, key: &[u8], now_ms: u64) -> rand_chacha::ChaCha8Rng {
    let mixed = now_ms ^ (store.stored_len() as u64).rotate_left(32) ^ store.version().rotate_left(16);
    let seed = xxhash_rust::xxh3::xxh3_64_with_seed(key, mixed);
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}
