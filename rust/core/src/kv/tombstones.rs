//! `Tombstones`: the versions of recently deleted keys, so that WATCH sees a key that went
//! away (or came and went) after it was watched. Bounded: at most [`MAX_TOMBSTONES`] keys
//! of at most [`MAX_TOMBSTONE_KEY_BYTES`] in all (a key over 1/16 of that is not kept); the oldest is dropped first, and `floor`
//! keeps the highest version dropped, which every key without a tombstone answers. So a
//! dropped deletion is never missed, only a WATCH of an absent key whose EXEC comes after
//! more than `MAX_TOMBSTONES` deletions may fail without cause (a null EXEC, as for a change).
//!
//! Every replica must drop the same tombstone at the same log position (the floor decides
//! EXECs), whether it applied the deletions or restored them from a snapshot, which holds the
//! live tombstones only. So only live tombstones count against the bounds; the places a key
//! deleted again left behind in `order` (stale) are compacted away once they outnumber the
//! live ones, and share the live tombstone's key (no bytes of their own).

use super::store::Key;
use std::collections::{HashMap, VecDeque};

/// Most deleted keys remembered.
pub const MAX_TOMBSTONES: usize = 65_536;
/// Most bytes of deleted keys remembered (a key over 1/16 of it raises the floor at once).
pub const MAX_TOMBSTONE_KEY_BYTES: usize = 4 << 20;
/// Stale places `order` may hold besides as many as there are live tombstones.
const STALE_SLACK: usize = 1024;

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

    /// Records that `key` was deleted at `version`. Nothing is kept at version 0: the
    /// deletions of a log written before versions were kept (see `batch`), which a replica
    /// that restored a snapshot of that time never saw; every replica answers the floor.
    pub fn record(&mut self, key: Key, version: u64) {
        if version == 0 {
            return;
        }
        if key.len() > MAX_TOMBSTONE_KEY_BYTES / 16 {
            self.forget(&key);
            self.floor = self.floor.max(version);
            return;
        }
        let place = self.next_place;
        self.next_place += 1;
        // A key deleted again keeps its first allocation: its stale places share it.
        let key = match self.versions.get_key_value(&key) {
            Some((kept, _)) => kept.clone(),
            None => {
                self.key_bytes += key.len();
                key
            }
        };
        self.order.push_back((place, key.clone()));
        self.versions.insert(key, (version, place));
        while self.versions.len() > MAX_TOMBSTONES || self.key_bytes > MAX_TOMBSTONE_KEY_BYTES {
            self.drop_oldest();
        }
        if self.order.len() > 2 * self.versions.len() + STALE_SLACK {
            let versions = &self.versions;
            self.order.retain(|(place, key)| versions.get(key).is_some_and(|&(_, at)| at == *place));
        }
    }

    /// Raises the floor to `version` and forgets every tombstone (all at or below it).
    pub fn raise_floor(&mut self, version: u64) {
        let floor = self.floor.max(version);
        *self = Tombstones { floor, next_place: self.next_place, ..Tombstones::default() };
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
        let entry = std::mem::size_of::<(Key, (u64, u64))>() + 1;
        self.versions.capacity() * entry
            + self.order.capacity() * std::mem::size_of::<(u64, Key)>()
            + self.key_bytes
            + 16 * self.versions.len()
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
        // Nothing is kept at version 0 (a log of before versions): the key answers the floor.
        tombstones.record(Key::from(&b"old"[..]), 0);
        assert_eq!(tombstones.version_of(b"old"), tombstones.floor());
        // A huge key is not kept: the floor covers it.
        tombstones.record(Key::from(vec![b'x'; MAX_TOMBSTONE_KEY_BYTES]), 123_456_789);
        assert_eq!(tombstones.floor(), 123_456_789);
    }

    #[test]
    fn a_key_deleted_again_and_again_drops_nothing_and_a_restored_copy_stays_alike() {
        // A lock taken and released: the same key deleted 200,000 times, beside a few
        // others. Stale places never evict a live tombstone (the floor stays), never hold
        // bytes of their own, and a copy restored from the live tombstones midway goes on
        // deciding exactly as the original.
        let mut original = Tombstones::default();
        let mut version = 0;
        for i in 0..10u64 {
            version += 1;
            original.record(Key::from(format!("other{i}").as_bytes()), version);
        }
        let restore = |t: &Tombstones| Tombstones::restored(t.floor(), t.iter().map(|(k, v)| (Key::from(k), v)));
        let mut restored = restore(&original);
        for _ in 0..200_000 {
            version += 1;
            for t in [&mut original, &mut restored] {
                t.record(Key::from(&b"lock"[..]), version);
            }
        }
        assert_eq!(original.floor(), 0, "a live tombstone was dropped for stale places");
        assert_eq!(original.len(), 11);
        assert!(original.order.len() <= 2 * original.len() + STALE_SLACK + 1);
        assert_eq!(original.key_bytes, 10 * 6 + 4);
        for t in [&original, &restore(&original)] {
            assert_eq!(t.floor(), restored.floor());
            assert_eq!(t.iter().collect::<Vec<_>>(), restored.iter().collect::<Vec<_>>());
        }
        // Then enough other deletions to drop the oldest: both drop the same ones.
        for i in 0..(MAX_TOMBSTONES as u64) {
            version += 1;
            for t in [&mut original, &mut restored] {
                t.record(Key::from(format!("n{i}").as_bytes()), version);
            }
        }
        assert_eq!(original.floor(), restored.floor());
        assert!(original.floor() > 0);
        assert_eq!(original.iter().collect::<Vec<_>>(), restored.iter().collect::<Vec<_>>());
    }

    #[test]
    fn raising_the_floor_forgets_every_tombstone() {
        let mut tombstones = Tombstones::default();
        tombstones.record(Key::from(&b"a"[..]), 5);
        tombstones.raise_floor(9);
        assert_eq!((tombstones.len(), tombstones.floor(), tombstones.version_of(b"a")), (0, 9, 9));
        tombstones.raise_floor(4); // never lowered
        assert_eq!(tombstones.floor(), 9);
    }
}
