//! The string commands beyond GET and SET: SETNX, MSETNX, INCRBYFLOAT, GETDEL, SETRANGE
//! (writes), GETRANGE, LCS (reads), with Redis 7's replies and errors.

use super::exec::{eq_nocase, put_optional_bulk, NOT_INTEGER, SYNTAX, WRONGTYPE};
use super::store::{KvStore, Value, WrongType};
use crate::codec::resp::{
    parse_i64, put_array_header, put_bulk, put_error, put_integer, put_map_header, Protocol, DEFAULT_MAX_VALUE_BYTES,
};
use std::sync::Arc;

/// The longest string SETRANGE and APPEND make: Redis's proto-max-bulk-len default, a
/// constant so that every replica refuses the same writes (a node's own `max_value_bytes`
/// bounds what its clients send).
pub(crate) const MAX_STRING_BYTES: usize = DEFAULT_MAX_VALUE_BYTES;
pub(crate) const STRING_TOO_LONG: &[u8] = b"ERR string exceeds maximum allowed size (proto-max-bulk-len)";
/// The most cells of LCS's table (4 bytes each): the command runs on the node's loop.
pub(crate) const MAX_LCS_CELLS: u64 = 1 << 22;
/// The longest reply of INCRBYFLOAT, and longest float it reads (Redis's
/// `MAX_LONG_DOUBLE_CHARS`).
pub(crate) const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

extern "C" {
    /// `long_double.c`: the sum of two floats given as text (`current` NULL: 0), written as
    /// Redis writes it; its length, or -1 (not a float), -2 (NaN or infinite), -3 (too long).
    pub(crate) fn senate_incr_by_float(
        current: *const u8,
        current_len: usize,
        by: *const u8,
        by_len: usize,
        out: *mut u8,
        out_len: usize,
    ) -> std::os::raw::c_long;
}

/// The live string at `key` (shared, not copied), `None` without one, or `WrongType`.
pub(crate) fn string_at(store: &KvStore, key: &[u8], now_ms: u64) -> Result<Option<Arc<[u8]>>, WrongType> {
    store.get(key, now_ms).map(|value| value.string().cloned()).transpose()
}

/// SETNX: 1 when the key was set (it was absent).
pub(crate) fn setnx(store: &mut KvStore, now_ms: u64, key: &[u8], data: &[u8], out: &mut Vec<u8>) {
    let absent = store.get(key, now_ms).is_none();
    if absent {
        store.set(key, Value::new(Arc::from(data), None), now_ms);
    }
    put_integer(out, i64::from(absent));
}

/// MSETNX: sets every pair when no key exists (1), else none (0).
pub(crate) fn msetnx(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let pairs = args[1..].chunks_exact(2);
    if pairs.clone().any(|pair| store.get(pair[0], now_ms).is_some()) {
        return put_integer(out, 0);
    }
    for pair in pairs {
        store.set(pair[0], Value::new(Arc::from(pair[1]), None), now_ms);
    }
    put_integer(out, 1);
}

/// INCRBYFLOAT: the new value as a bulk string, Redis's long double arithmetic and text.
pub(crate) fn incr_by_float(store: &mut KvStore, now_ms: u64, key: &[u8], by: &[u8], out: &mut Vec<u8>) {
    let current = match string_at(store, key, now_ms) {
        Ok(current) => current,
        Err(WrongType) => return put_error(out, WRONGTYPE),
    };
    let mut text = vec![0u8; MAX_LONG_DOUBLE_CHARS + 64];
    let (current_ptr, current_len) = current.as_deref().map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
    // SAFETY: every pointer is valid for the length given beside it (`current` and `by`
    // for reading, `text` for writing) for the whole call, which keeps none of them.
    let len =
        unsafe { senate_incr_by_float(current_ptr, current_len, by.as_ptr(), by.len(), text.as_mut_ptr(), text.len()) };
    let Ok(len) = usize::try_from(len) else {
        return put_error(
            out,
            match len {
                -2 => b"ERR increment would produce NaN or Infinity",
                _ => b"ERR value is not a valid float",
            },
        );
    };
    text.truncate(len);
    let text: Arc<[u8]> = Arc::from(text);
    match current {
        Some(_) => store.set_data_keep_ttl(key, text.clone()),
        None => {
            store.set(key, Value::new(text.clone(), None), now_ms);
        }
    }
    put_bulk(out, &text);
}

/// GETDEL: the value, deleted.
pub(crate) fn getdel(store: &mut KvStore, now_ms: u64, protocol: Protocol, key: &[u8], out: &mut Vec<u8>) {
    let value = match string_at(store, key, now_ms) {
        Ok(value) => value,
        Err(WrongType) => return put_error(out, WRONGTYPE),
    };
    if value.is_some() {
        store.remove(key, now_ms);
    }
    put_optional_bulk(out, protocol, value.as_deref());
}

/// `GETRANGE key start end`: the bytes `[start, end]`, counted from the end when negative.
pub(crate) fn getrange(store: &KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let (Some(mut start), Some(mut end)) = (parse_i64(args[2]), parse_i64(args[3])) else {
        return put_error(out, NOT_INTEGER);
    };
    let data: &[u8] = match store.get(args[1], now_ms).map(Value::string) {
        None => &[],
        Some(Ok(data)) => data,
        Some(Err(WrongType)) => return put_error(out, WRONGTYPE),
    };
    let len = data.len() as i64;
    if start < 0 && end < 0 && start > end {
        return put_bulk(out, b"");
    }
    if start < 0 {
        start = start.saturating_add(len).max(0);
    }
    if end < 0 {
        end = end.saturating_add(len).max(0);
    }
    end = end.min(len - 1);
    if start > end || len == 0 {
        return put_bulk(out, b"");
    }
    put_bulk(out, &data[start as usize..=end as usize]);
}

/// `SETRANGE key offset value`: the value overwritten from `offset` (zero bytes fill any
/// gap); its new length.
pub(crate) fn setrange(store: &mut KvStore, now_ms: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let Some(offset) = parse_i64(args[2]) else {
        return put_error(out, NOT_INTEGER);
    };
    if offset < 0 {
        return put_error(out, b"ERR offset is out of range");
    }
    let (key, patch) = (args[1], args[3]);
    let current = match string_at(store, key, now_ms) {
        Ok(current) => current,
        Err(WrongType) => return put_error(out, WRONGTYPE),
    };
    if patch.is_empty() {
        return put_integer(out, current.map_or(0, |data| data.len()) as i64);
    }
    let offset = offset as u64;
    if offset.saturating_add(patch.len() as u64) > MAX_STRING_BYTES as u64 {
        return put_error(out, STRING_TOO_LONG);
    }
    let offset = offset as usize;
    let old: &[u8] = current.as_deref().unwrap_or_default();
    let mut data = old.to_vec();
    if data.len() < offset + patch.len() {
        data.resize(offset + patch.len(), 0);
    }
    data[offset..offset + patch.len()].copy_from_slice(patch);
    let len = data.len();
    match current {
        Some(_) => store.set_data_keep_ttl(key, Arc::from(data)),
        None => {
            store.set(key, Value::new(Arc::from(data), None), now_ms);
        }
    }
    put_integer(out, len as i64);
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common
/// subsequence, its length, or its matching ranges, walked as Redis 7 walks them. Refused
/// when its table would pass [`MAX_LCS_CELLS`].
pub(crate) fn lcs(store: &KvStore, now_ms: u64, protocol: Protocol, args: &[&[u8]], out: &mut Vec<u8>) {
    // Redis looks at the keys' types before the options.
    let (Ok(a), Ok(b)) = (string_at(store, args[1], now_ms), string_at(store, args[2], now_ms)) else {
        return put_error(out, b"ERR The specified keys must contain string values");
    };
    let (mut get_idx, mut get_len, mut with_match_len, mut min_match_len) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let option = args[j];
        let more = j + 1 < args.len();
        if eq_nocase(option, b"idx") {
            get_idx = true;
        } else if eq_nocase(option, b"len") {
            get_len = true;
        } else if eq_nocase(option, b"withmatchlen") {
            with_match_len = true;
        } else if eq_nocase(option, b"minmatchlen") && more {
            let Some(n) = parse_i64(args[j + 1]) else {
                return put_error(out, NOT_INTEGER);
            };
            min_match_len = n.max(0);
            j += 1;
        } else {
            return put_error(out, SYNTAX);
        }
        j += 1;
    }
    if get_idx && get_len {
        return put_error(out, b"ERR If you want both the length and indexes, please just use IDX.");
    }
    let (a, b): (&[u8], &[u8]) = (a.as_deref().unwrap_or_default(), b.as_deref().unwrap_or_default());
    let (alen, blen) = (a.len(), b.len());
    if (alen as u64 + 1).saturating_mul(blen as u64 + 1) > MAX_LCS_CELLS {
        return put_error(out, b"ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let width = blen + 1;
    let mut table = vec![0u32; (alen + 1) * width];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if get_len {
        return put_integer(out, i64::from(total));
    }
    let mut result = vec![0u8; total as usize];
    let mut matches: Vec<[usize; 5]> = Vec::new();
    let (mut i, mut j, mut idx) = (alen, blen, total as usize);
    // A range being grown backwards: `a_start == alen` when none.
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = a_end - a_start + 1;
            if min_match_len == 0 || match_len as i64 >= min_match_len {
                matches.push([a_start, a_end, b_start, b_end, match_len]);
            }
            a_start = alen;
        }
    }
    if !get_idx {
        return put_bulk(out, &result);
    }
    put_map_header(out, 2, protocol);
    put_bulk(out, b"matches");
    put_array_header(out, matches.len());
    for [a_start, a_end, b_start, b_end, match_len] in matches {
        put_array_header(out, 2 + usize::from(with_match_len));
        for (start, end) in [(a_start, a_end), (b_start, b_end)] {
            put_array_header(out, 2);
            put_integer(out, start as i64);
            put_integer(out, end as i64);
        }
        if with_match_len {
            put_integer(out, match_len as i64);
        }
    }
    put_bulk(out, b"len");
    put_integer(out, i64::from(total));
}
