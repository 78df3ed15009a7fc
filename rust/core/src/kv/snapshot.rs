//! The whole store as bytes, for Raft snapshots:
//!
//! ```text
//! version: u8 (= SNAPSHOT_VERSION)
//! now_ms:  u64 little-endian (the store's clock)
//! count:   u64 little-endian (entries that follow)
//! count × { key_len: varint, key, value_len: varint, value, expires_at_ms: varint (0 = none) }
//! ```
//!
//! Expired entries not yet deleted are included: a restored replica deletes them at the same
//! log positions as the others.

use super::error::{KvError, Result};
use super::store::{KvStore, Value};
use crate::codec::{get_varint, put_varint};
use std::sync::Arc;

pub const SNAPSHOT_VERSION: u8 = 1;
const HEADER_BYTES: usize = 17;
/// The most bytes the varints of one entry take.
const MAX_ENTRY_OVERHEAD_BYTES: usize = 30;

fn malformed(problem: &'static str) -> KvError {
    KvError::MalformedSnapshot { problem }
}

/// Encodes the store in one pass into a buffer sized up front.
pub fn encode_snapshot(store: &KvStore) -> Vec<u8> {
    let capacity = HEADER_BYTES + store.data_bytes() + store.stored_len() * MAX_ENTRY_OVERHEAD_BYTES;
    let mut out = Vec::with_capacity(capacity);
    out.push(SNAPSHOT_VERSION);
    out.extend_from_slice(&store.now_ms().to_le_bytes());
    out.extend_from_slice(&(store.stored_len() as u64).to_le_bytes());
    for (key, value) in store.iter() {
        put_varint(key.len() as u64, &mut out);
        out.extend_from_slice(key);
        put_varint(value.data.len() as u64, &mut out);
        out.extend_from_slice(&value.data);
        put_varint(value.expires_at_ms().unwrap_or(0), &mut out);
    }
    debug_assert!(out.len() <= capacity, "snapshot outgrew its estimate");
    out
}

/// Decodes a snapshot into a new store (KEYS bound `max_keys_result`).
pub fn decode_snapshot(data: &[u8], max_keys_result: usize) -> Result<KvStore> {
    if data.len() < HEADER_BYTES {
        return Err(malformed("shorter than its header"));
    }
    if data[0] != SNAPSHOT_VERSION {
        return Err(malformed("unknown version"));
    }
    let now_ms = u64::from_le_bytes(data[1..9].try_into().map_err(|_| malformed("header"))?);
    let count = u64::from_le_bytes(data[9..17].try_into().map_err(|_| malformed("header"))?);
    let mut rest = &data[HEADER_BYTES..];
    // Each entry takes at least three bytes: refuse a count the bytes cannot hold.
    if count > (rest.len() / 3) as u64 {
        return Err(malformed("entry count exceeds the bytes left"));
    }
    let mut store = KvStore::new(max_keys_result);
    store.set_clock(now_ms);
    store.reserve(count as usize);
    for _ in 0..count {
        let key = take_bytes(&mut rest)?;
        let data = take_bytes(&mut rest)?;
        let (deadline, used) = get_varint(rest).map_err(|_| malformed("bad varint"))?;
        rest = &rest[used..];
        let value = Value::new(Arc::from(data), (deadline != 0).then_some(deadline));
        if !store.insert_restored(Arc::from(key), value) {
            return Err(malformed("duplicate key"));
        }
    }
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after the last entry"));
    }
    Ok(store)
}

fn take_bytes<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8]> {
    let (len, used) = get_varint(rest).map_err(|_| malformed("bad varint"))?;
    let body = &rest[used..];
    if len > body.len() as u64 {
        return Err(malformed("length exceeds the bytes left"));
    }
    let (bytes, tail) = body.split_at(len as usize);
    *rest = tail;
    Ok(bytes)
}
