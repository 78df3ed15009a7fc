//! `Tombstones`: the versions of recently deleted keys, so that WATCH sees a key that went
//! away (or came and went) after it was watched. Bounded: at most [`MAX_TOMBSTONES`] keys
//! of at most [`MAX_TOMBSTONE_KEY_BYTES`] in all (a key over 1/16 of that is not kept); the oldest is dropped first, and `floor`
//! keeps the highest version dropped, which every key without a tombstone answers. So a
//! dropped deletion is never missed, only a WATCH of an absent key whose EXEC comes after
//! more than `MAX_TOMBSTONES` deletions may fail without cause (a null EXEC, as for a change).

use super::store::Key;
use std::collections::{HashMap, VecDeque};

/// Most deleted keys remembered.
pub const MAX_TOMBSTONES: usize = 65_536;
/// Most bytes of deleted keys remembered (a key over 1/16 of it raises the floor at once).
pub const MAX_TOMBSTONE_KEY_BYTES: usize = 4 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    /// key -> (version of its deletion, its place in `order`).
    versions: HashMap<Key, (u64, u64)>,
    /// `(place, key)` oldest first; a place no longer in `versions` is stale.
    order: VecDeque<(u64, Key)>,
    next_place: u64,
    /// At or above the version of every deletion not in `versions`.
    floor: u64,
    key_bytes: usize,
}

impl Tombstones {
    /// The version of the deletion of `key` (absent from the store), or the floor.
    pub fn version_of(&self, key: &[u8]) -> u64 {
        self.versions.get(key).map_or(self.floor, |&(version, _)| version)
    }

    pub fn floor(&self) -> u64 {
        self.floor
    }

    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Records that `key` was deleted at `version`.
    pub fn record(&mut self, key: Key, version: u64) {
        if key.len() > MAX_TOMBSTONE_KEY_BYTES / 16 {
            self.forget(&key);
            self.floor = self.floor.max(version);
            return;
        }
        let place = self.next_place;
        self.next_place += 1;
        self.key_bytes += key.len();
        self.order.push_back((place, key.clone()));
        if let Some((_, _)) = self.versions.insert(key.clone(), (version, place)) {
            self.key_bytes -= key.len(); // counted once, in `versions`
        }
        while self.versions.len() > MAX_TOMBSTONES
            || self.key_bytes > MAX_TOMBSTONE_KEY_BYTES
            || self.order.len() > 2 * MAX_TOMBSTONES
        {
            self.drop_oldest();
        }
    }

    fn forget(&mut self, key: &[u8]) {
        if let Some((version, _)) = self.versions.remove(key) {
            self.key_bytes -= key.len();
            self.floor = self.floor.max(version);
        }
    }

    fn drop_oldest(&mut self) {
        let Some((place, key)) = self.order.pop_front() else { return };
        if self.versions.get(&key).is_some_and(|&(_, at)| at == place) {
            self.forget(&key);
        }
    }

    /// Every tombstone `(key, version)`, oldest first (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.order.iter().filter_map(|(place, key)| match self.versions.get(key) {
            Some(&(version, at)) if at == *place => Some((&**key, version)),
            _ => None,
        })
    }

    /// Tombstones read back in the order `iter` gave them, with `floor`.
    pub fn restored(floor: u64, entries: impl IntoIterator<Item = (Key, u64)>) -> Tombstones {
        let mut tombstones = Tombstones::default();
        for (key, version) in entries {
            tombstones.record(key, version);
        }
        tombstones.floor = tombstones.floor.max(floor);
        tombstones
    }

    /// An estimate of the heap bytes held (as `KvStore::memory_bytes` counts them).
    pub fn memory_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(Key, (u64, u64))>() + 1 + std::mem::size_of::<(u64, Key)>();
        self.versions.capacity() * entry + self.key_bytes + 16 * self.versions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_deletions_raise_the_floor_and_are_never_missed() {
        let mut tombstones = Tombstones::default();
        for i in 0..(MAX_TOMBSTONES as u64 + 10) {
            tombstones.record(Key::from(format!("k{i}").as_bytes()), i + 1);
        }
        assert_eq!(tombstones.len(), MAX_TOMBSTONES);
        assert_eq!(tombstones.floor(), 10);
        // The oldest are gone: they answer the floor, which is at or above their version.
        assert_eq!(tombstones.version_of(b"k0"), 10);
        assert_eq!(tombstones.version_of(b"k10"), 11);
        // The same key deleted again keeps one entry, its last version.
        tombstones.record(Key::from(&b"k10"[..]), 99_999_999);
        assert_eq!(tombstones.version_of(b"k10"), 99_999_999);
        assert_eq!(tombstones.len(), MAX_TOMBSTONES);
        let restored = Tombstones::restored(tombstones.floor(), tombstones.iter().map(|(k, v)| (Key::from(k), v)));
        assert_eq!(restored.floor(), tombstones.floor());
        assert_eq!(restored.iter().collect::<Vec<_>>(), tombstones.iter().collect::<Vec<_>>());
        // A huge key is not kept: the floor covers it.
        tombstones.record(Key::from(vec![b'x'; MAX_TOMBSTONE_KEY_BYTES]), 123_456_789);
        assert_eq!(tombstones.floor(), 123_456_789);
    }
}
