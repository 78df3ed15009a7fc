//! The whole store as bytes, for snapshots:
//!
//! ```text
//! version: u8 (1, 2, 3 or 4)
//! now_ms:  u64 little-endian (the store's clock)
//! count:   u64 little-endian (entries that follow)
//! versions 1 and 2, strings only:
//!   count × { key_len: varint, key, value_len: varint, value, expires_at_ms: varint (0 = none) }
//! versions 3 and 4, typed:
//!   count × { key_len: varint, key, kind: u8, body, expires_at_ms: varint (0 = none),
//!             version 4 only: changed_at: varint }
//!   kind 0, a string: value_len: varint, value
//!   kind 1 (compact) or 2 (converted, see `hash_value`), a hash:
//!     fields: varint (>= 1), fields × { field_len: varint, field, value_len: varint, value }
//!     in the hash's order
//! versions 2, 3 and 4, the client sessions:
//!   next_id: varint, uses: varint, sessions: varint
//!   sessions × { id: varint, first_unacked: varint, last_use: varint, last_use_ms: varint,
//!                replies: varint, replies × { seq: varint, len: varint, reply } }
//! version 4 only, what WATCH compares (`KvStore::version_of`):
//!   version: varint, floor: varint, tombstones: varint,
//!   tombstones × { key_len: varint, key, version: varint } (oldest first)
//! ```
//!
//! Every store is written as version 4 once a batch that advances versions (batch version 3
//! or 4, see `batch`) was applied to it: the versions of its keys decide transactions alike
//! on every replica. Versions 1 to 3 are still read, as a store whose keys all have version
//! 0, and written for a store that only old batches changed, so the paragraph below holds for
//! those alone: builds before version 4 read neither new batches nor new snapshots (upgrade
//! every node at once).
//!
//! Expired entries not yet deleted are included: a restored replica deletes them at the same
//! log positions as the others. A store where no client session was ever opened is written as
//! version 1 (nodes that only know version 1 keep reading the snapshots of clusters that use
//! no sessions during a rolling upgrade); version 1 is read as a store without sessions.
//! Likewise a store without a hash is written as version 1 or 2, and version 3 only once a
//! hash exists.

use super::client_sessions::{ClientSessions, Session};
use super::error::{KvError, Result};
use super::hash_value::HashValue;
use super::store::{Data, KvStore, Value};
use super::tombstones::Tombstones;
use crate::codec::{get_varint, put_varint};
use std::sync::Arc;

/// Keys and values only.
pub const SNAPSHOT_VERSION_KEYS: u8 = 1;
/// Keys and values, then the client sessions.
pub const SNAPSHOT_VERSION_SESSIONS: u8 = 2;
/// Keys and typed values (strings and hashes), then the client sessions.
pub const SNAPSHOT_VERSION_TYPED: u8 = 3;
/// As version 3, with each key's version, then the store's version and tombstones.
pub const SNAPSHOT_VERSION_WATCH: u8 = 4;
const KIND_STRING: u8 = 0;
const KIND_COMPACT_HASH: u8 = 1;
const KIND_WIDE_HASH: u8 = 2;
const HEADER_BYTES: usize = 17;
/// The most bytes the varints of one entry take (its kind byte included). A hash's fields
/// take at most 20 bytes of varints each, within the overhead its `weight_bytes` counts.
const MAX_ENTRY_OVERHEAD_BYTES: usize = 31;

fn malformed(problem: &'static str) -> KvError {
    KvError::MalformedSnapshot { problem }
}

/// Encodes the store in one pass into a buffer sized up front.
pub fn encode_snapshot(store: &KvStore) -> Vec<u8> {
    let capacity = HEADER_BYTES + store.data_bytes() + store.stored_len() * MAX_ENTRY_OVERHEAD_BYTES;
    let with_versions = store.version() > 0;
    let typed = with_versions || store.iter().any(|(_, value)| value.hash().is_ok());
    let with_sessions = typed || !store.sessions.never_used();
    let capacity = capacity + if with_sessions { sessions_capacity(&store.sessions) } else { 0 };
    let tombstones = store.tombstones();
    let capacity = capacity
        + if with_versions {
            store.stored_len() * 10 + 30 + tombstones.iter().map(|(key, _)| key.len() + 20).sum::<usize>()
        } else {
            0
        };
    let mut out = Vec::with_capacity(capacity);
    out.push(match (with_versions, typed, with_sessions) {
        (true, _, _) => SNAPSHOT_VERSION_WATCH,
        (false, true, _) => SNAPSHOT_VERSION_TYPED,
        (false, false, true) => SNAPSHOT_VERSION_SESSIONS,
        (false, false, false) => SNAPSHOT_VERSION_KEYS,
    });
    out.extend_from_slice(&store.now_ms().to_le_bytes());
    out.extend_from_slice(&(store.stored_len() as u64).to_le_bytes());
    for (key, value) in store.iter() {
        put_varint(key.len() as u64, &mut out);
        out.extend_from_slice(key);
        match &value.data {
            Data::String(data) => {
                if typed {
                    out.push(KIND_STRING);
                }
                put_varint(data.len() as u64, &mut out);
                out.extend_from_slice(data);
            }
            Data::Hash(hash) => {
                out.push(if hash.is_wide() { KIND_WIDE_HASH } else { KIND_COMPACT_HASH });
                put_varint(hash.len() as u64, &mut out);
                for (field, value) in hash.iter() {
                    put_varint(field.len() as u64, &mut out);
                    out.extend_from_slice(field);
                    put_varint(value.len() as u64, &mut out);
                    out.extend_from_slice(value);
                }
            }
        }
        put_varint(value.expires_at_ms().unwrap_or(0), &mut out);
        if with_versions {
            put_varint(value.changed_at(), &mut out);
        }
    }
    if with_sessions {
        encode_sessions(&store.sessions, &mut out);
    }
    if with_versions {
        put_varint(store.version(), &mut out);
        put_varint(tombstones.floor(), &mut out);
        put_varint(tombstones.len() as u64, &mut out);
        for (key, version) in tombstones.iter() {
            put_varint(key.len() as u64, &mut out);
            out.extend_from_slice(key);
            put_varint(version, &mut out);
        }
    }
    debug_assert!(out.len() <= capacity, "snapshot outgrew its estimate");
    out
}

/// Decodes a snapshot into a new store (KEYS bound `max_keys_result`).
pub fn decode_snapshot(data: &[u8], max_keys_result: usize) -> Result<KvStore> {
    if data.len() < HEADER_BYTES {
        return Err(malformed("shorter than its header"));
    }
    let (typed, with_sessions, with_versions) = match data[0] {
        SNAPSHOT_VERSION_KEYS => (false, false, false),
        SNAPSHOT_VERSION_SESSIONS => (false, true, false),
        SNAPSHOT_VERSION_TYPED => (true, true, false),
        SNAPSHOT_VERSION_WATCH => (true, true, true),
        _ => return Err(malformed("unknown version")),
    };
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
        let kind = if typed { take_kind(&mut rest)? } else { KIND_STRING };
        let data = match kind {
            KIND_STRING => Data::String(Arc::from(take_bytes(&mut rest)?)),
            KIND_COMPACT_HASH | KIND_WIDE_HASH => Data::Hash(Arc::new(take_hash(&mut rest, kind == KIND_WIDE_HASH)?)),
            _ => return Err(malformed("unknown kind of value")),
        };
        let deadline = take_varint(&mut rest)?;
        let changed_at = if with_versions { take_varint(&mut rest)? } else { 0 };
        let value = Value::of(data, (deadline != 0).then_some(deadline));
        if !store.insert_restored(Arc::from(key), value, changed_at) {
            return Err(malformed("duplicate key"));
        }
    }
    if with_sessions {
        store.sessions = decode_sessions(&mut rest, store.sessions.limits)?;
    }
    if with_versions {
        let version = take_varint(&mut rest)?;
        let floor = take_varint(&mut rest)?;
        let count = take_varint(&mut rest)?;
        // Each tombstone takes at least two bytes.
        if count > (rest.len() / 2) as u64 {
            return Err(malformed("tombstone count exceeds the bytes left"));
        }
        let mut entries = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let key = take_bytes(&mut rest)?;
            entries.push((Arc::from(key), take_varint(&mut rest)?));
        }
        store.set_versions(version, Tombstones::restored(floor, entries));
    }
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after the last entry"));
    }
    Ok(store)
}

/// The most bytes the session section takes.
fn sessions_capacity(sessions: &ClientSessions) -> usize {
    let (_, _, all) = sessions.parts();
    3 * 10 + all.iter().map(|(_, s)| 6 * 10 + s.replies.iter().map(|(_, r)| 20 + r.len()).sum::<usize>()).sum::<usize>()
}

fn encode_sessions(sessions: &ClientSessions, out: &mut Vec<u8>) {
    let (next_id, uses, all) = sessions.parts();
    put_varint(next_id, out);
    put_varint(uses, out);
    put_varint(all.len() as u64, out);
    for (id, session) in all {
        for n in [id, session.first_unacked, session.last_use, session.last_use_ms, session.replies.len() as u64] {
            put_varint(n, out);
        }
        for (seq, reply) in session.replies.iter() {
            put_varint(seq, out);
            put_varint(reply.len() as u64, out);
            out.extend_from_slice(reply);
        }
    }
}

fn decode_sessions(rest: &mut &[u8], limits: super::SessionLimits) -> Result<ClientSessions> {
    let next_id = take_varint(rest)?;
    let uses = take_varint(rest)?;
    let count = take_varint(rest)?;
    // Each session takes at least five bytes.
    if count > (rest.len() / 5) as u64 {
        return Err(malformed("session count exceeds the bytes left"));
    }
    let mut sessions = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = take_varint(rest)?;
        let first_unacked = take_varint(rest)?;
        let last_use = take_varint(rest)?;
        let last_use_ms = take_varint(rest)?;
        let replies = take_varint(rest)?;
        if replies > (rest.len() / 2) as u64 {
            return Err(malformed("reply count exceeds the bytes left"));
        }
        let mut session = Session { first_unacked, last_use, last_use_ms, ..Session::default() };
        for _ in 0..replies {
            let seq = take_varint(rest)?;
            let reply = take_bytes(rest)?;
            if !session.replies.insert(seq, Arc::from(reply)) {
                return Err(malformed("a session's reply repeats a seq"));
            }
        }
        sessions.push((id, session));
    }
    ClientSessions::from_parts(limits, next_id, uses, sessions).ok_or(malformed("inconsistent sessions"))
}

fn take_kind(rest: &mut &[u8]) -> Result<u8> {
    let (&kind, tail) = rest.split_first().ok_or(malformed("an entry ends before its kind"))?;
    *rest = tail;
    Ok(kind)
}

fn take_hash(rest: &mut &[u8], wide: bool) -> Result<HashValue> {
    let count = take_varint(rest)?;
    // Each field takes at least two bytes.
    if count == 0 || count > (rest.len() / 2) as u64 {
        return Err(malformed("a hash's field count is 0 or exceeds the bytes left"));
    }
    let mut fields = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let field = Box::from(take_bytes(rest)?);
        fields.push((field, Box::from(take_bytes(rest)?)));
    }
    HashValue::restored(fields, wide).ok_or(malformed("a hash repeats a field"))
}

fn take_varint(rest: &mut &[u8]) -> Result<u64> {
    let (n, used) = get_varint(rest).map_err(|_| malformed("bad varint"))?;
    *rest = &rest[used..];
    Ok(n)
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
