//! `HashValue`: the fields of one hash key, in an order every replica agrees on.
//!
//! The fields live in an `IndexMap` (insertion order, hashed with the store's XXH3) so that
//! HGETALL, HKEYS, HVALS and HSCAN list them in the same order on every replica and after a
//! snapshot. While a hash is small it keeps Redis's order too: Redis 7 holds a hash of at most
//! [`COMPACT_MAX_FIELDS`] fields, none longer than [`COMPACT_MAX_BYTES`], as a listpack
//! (fields in insertion order, a deleted one closing the gap, HSCAN returning all at once)
//! and converts it for good to a hash table past either bound. `compact` follows the same
//! rule, so a small hash answers as Redis's does; a converted one is listed in an order of
//! its own, as Redis's hash tables are (clients may not rely on it), deletes in O(1) and is
//! walked by HSCAN in a fixed order of the fields (see `scan`).

use super::store::BuildKeyHasher;
use indexmap::IndexMap;
use std::hash::BuildHasher;

/// Redis's `hash-max-listpack-entries` default.
pub const COMPACT_MAX_FIELDS: usize = 128;
/// Redis's `hash-max-listpack-value` default: the longest field or value of a compact hash.
pub const COMPACT_MAX_BYTES: usize = 64;
/// What the memory estimate adds per field beyond its bytes: the map's entry (its hash and
/// the two boxed slices: 40 bytes), its index slot (8 bytes at a 7/8 load factor, 10) and
/// the two allocations' rounding (about 8 each).
pub const FIELD_OVERHEAD_BYTES: usize = 64;
/// The estimate for the hash itself: the struct, its `Arc` counts and the empty map.
pub const HASH_OVERHEAD_BYTES: usize = 96;

type Fields = IndexMap<Box<[u8]>, Box<[u8]>, BuildKeyHasher>;
/// Fields and values met by one HSCAN call, and the cursor that follows.
pub type Scanned<'a> = (Vec<(&'a [u8], &'a [u8])>, u64);
/// A hash's fields and values in its order, as a snapshot holds them.
pub type FieldList = Vec<(Box<[u8]>, Box<[u8]>)>;

/// The fields of a hash and their values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HashValue {
    fields: Fields,
    /// Bytes of every field and value.
    payload_bytes: usize,
    /// Redis would hold it as a hash table by now (see the module doc): never false again
    /// once true.
    wide: bool,
}

impl HashValue {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether Redis would hold it as a listpack: insertion order, HSCAN in one call.
    pub fn is_compact(&self) -> bool {
        !self.wide
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.fields.get(field).map(|value| &**value)
    }

    /// The estimate of its heap bytes (`KvStore::memory_bytes` and `data_bytes`).
    pub fn weight_bytes(&self) -> usize {
        HASH_OVERHEAD_BYTES + self.payload_bytes + self.fields.len() * FIELD_OVERHEAD_BYTES
    }

    /// Sets `field` to `value` (a field already there keeps its place); true when it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if field.len() > COMPACT_MAX_BYTES || value.len() > COMPACT_MAX_BYTES {
            self.wide = true;
        }
        let added = match self.fields.get_mut(field) {
            Some(slot) => {
                self.payload_bytes = self.payload_bytes - slot.len() + value.len();
                *slot = Box::from(value);
                false
            }
            None => {
                self.payload_bytes += field.len() + value.len();
                self.fields.insert(Box::from(field), Box::from(value));
                true
            }
        };
        if self.fields.len() > COMPACT_MAX_FIELDS {
            self.wide = true;
        }
        added
    }

    /// Deletes `field`; true if it was there. A compact hash keeps its order (O(fields), at
    /// most [`COMPACT_MAX_FIELDS`]); a wide one moves its last field into the gap (O(1)).
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let removed =
            if self.wide { self.fields.swap_remove_entry(field) } else { self.fields.shift_remove_entry(field) };
        match removed {
            Some((field, value)) => {
                self.payload_bytes -= field.len() + value.len();
                true
            }
            None => false,
        }
    }

    /// Every field and value, in the hash's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|(field, value)| (&**field, &**value))
    }

    /// The `index`-th field and its value, `index` in `[0, len)`.
    pub fn at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.fields.get_index(index).map(|(field, value)| (&**field, &**value))
    }

    /// The fields whose scan position is at or after `cursor`, in position order: at least
    /// `count` unless the hash ends first (more when several share the last position), with
    /// the cursor that follows (0 at the end). A compact hash returns all at once with cursor
    /// 0, as Redis does with a listpack. A field's position is its hash (XXH3): it keeps it
    /// while it lives, so every field present for a whole walk is met exactly once whatever is
    /// written meanwhile. Each call hashes every field: O(fields).
    pub fn scan(&self, cursor: u64, count: usize) -> Scanned<'_> {
        if !self.wide {
            return (self.iter().collect(), 0);
        }
        let mut here: Vec<(u64, &[u8], &[u8])> = self
            .iter()
            .map(|(field, value)| (BuildKeyHasher.hash_one(field), field, value))
            .filter(|(position, _, _)| *position >= cursor)
            .collect();
        let count = count.max(1);
        if here.len() <= count {
            here.sort_unstable_by_key(|(position, _, _)| *position);
            return (here.into_iter().map(|(_, field, value)| (field, value)).collect(), 0);
        }
        // The `count` lowest positions without sorting the rest: O(fields + count log count)
        // per call, not O(fields log fields) (a walk of a wide hash at a small COUNT).
        here.select_nth_unstable_by_key(count - 1, |(position, _, _)| *position);
        let last = here[count - 1].0;
        let (lowest, rest) = here.split_at(count);
        let mut picked: Vec<(u64, &[u8], &[u8])> = lowest.to_vec();
        picked.extend(rest.iter().filter(|(position, _, _)| *position == last));
        picked.sort_unstable_by_key(|(position, _, _)| *position);
        let next = if last == u64::MAX { 0 } else { last + 1 };
        (picked.into_iter().map(|(_, field, value)| (field, value)).collect(), next)
    }

    /// A hash rebuilt from a snapshot: `fields` in their order, and whether it was wide.
    pub(crate) fn restored(fields: FieldList, wide: bool) -> Option<HashValue> {
        let mut hash =
            HashValue { fields: Fields::with_capacity_and_hasher(fields.len(), BuildKeyHasher), ..Default::default() };
        for (field, value) in fields {
            hash.payload_bytes += field.len() + value.len();
            if hash.fields.insert(field, value).is_some() {
                return None;
            }
        }
        hash.wide = wide || hash.fields.len() > COMPACT_MAX_FIELDS;
        Some(hash)
    }

    /// Whether it was converted (for the snapshot).
    pub(crate) fn is_wide(&self) -> bool {
        self.wide
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compact_hash_keeps_insertion_order_and_converts_for_good_past_its_bounds() {
        let mut hash = HashValue::default();
        for field in [b"a", b"b", b"c"] {
            assert!(hash.insert(field, b"1"));
        }
        assert!(!hash.insert(b"a", b"22"));
        assert!(hash.remove(b"b"));
        assert!(!hash.remove(b"b"));
        assert!(hash.insert(b"b", b"3"));
        let order: Vec<&[u8]> = hash.iter().map(|(field, _)| field).collect();
        assert_eq!(order, [b"a" as &[u8], b"c", b"b"]);
        assert_eq!(hash.weight_bytes(), HASH_OVERHEAD_BYTES + 3 + 4 + 3 * FIELD_OVERHEAD_BYTES);
        assert!(hash.is_compact());
        assert_eq!(hash.scan(0, 1).1, 0);
        hash.insert(b"long", &[b'x'; COMPACT_MAX_BYTES + 1]);
        assert!(!hash.is_compact());
        hash.remove(b"long");
        assert!(!hash.is_compact(), "a converted hash stays converted");
        let mut many = HashValue::default();
        for i in 0..=COMPACT_MAX_FIELDS {
            many.insert(format!("f{i}").as_bytes(), b"v");
        }
        assert!(!many.is_compact());
    }

    #[test]
    fn a_wide_hash_scan_meets_every_field_present_throughout_once() {
        let mut hash = HashValue::default();
        for i in 0..500 {
            hash.insert(format!("stay:{i}").as_bytes(), b"v");
        }
        let (mut cursor, mut seen, mut churn) = (0, Vec::new(), 0);
        loop {
            let (found, next) = hash.scan(cursor, 7);
            seen.extend(found.iter().map(|(field, _)| field.to_vec()));
            for _ in 0..5 {
                hash.insert(format!("churn:{churn}").as_bytes(), b"v");
                hash.remove(format!("churn:{}", churn / 2).as_bytes());
                churn += 1;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let stay: Vec<Vec<u8>> = seen.into_iter().filter(|field| field.starts_with(b"stay:")).collect();
        let mut unique = stay.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((stay.len(), unique.len()), (500, 500));
    }
}
