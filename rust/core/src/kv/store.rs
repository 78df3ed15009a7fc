//! `KvStore`: the replicated map of byte strings, with deterministic expiry.
//!
//! Keys hash with XXH3 (already the balancers' hash, so no new dependency): fast on short
//! keys, and the same on every replica and platform, so that iteration order (KEYS, the
//! snapshot bytes) depends only on the applied batches. A fixed hash is open to crafted
//! collisions by clients that know it; seeding it per cluster is the upgrade path.
//!
//! Growth: the map is split into [`SHARDS`] hash tables by bits of the key's hash that the
//! tables do not use (`shard_of`), and each table grows (doubles, moving all its entries at
//! once) at its own fill level, spread over `[1/2, 7/8)` by its position (`grow_at`). One table of 917,504 keys took 200 ms
//! to grow here (release build), during which the node's loop did nothing else: past an
//! election timeout on a busy machine. Split and staggered, the tables of a store growing
//! from 500,000 to 1,000,000 keys grow one every ~2,000 inserts, each moving ~4,000 entries.
//! The price: tables grown early hold more empty slots (the store's estimate at 1,000,000
//! keys of 100 bytes: 240 MB against 229 MB with one table), and the key is hashed twice.
//!
//! Copies: a clone of the store (`KvStore::clone`, taken for a snapshot) shares every table
//! and the expiry index with the original (`Arc`s: 257 reference counts, whatever the size);
//! the first write to a shared table after that copies that table alone (`Arc::make_mut`),
//! its keys and values still shared. A whole copy of 500,000 keys took 21–44 ms of the
//! event loop here, 1,000,000 keys 46–86 ms: now that work is spread over the writes that
//! follow, one table (`1/SHARDS` of the store) at a time, and tables nobody writes while the
//! snapshot is encoded are never copied. The expiry index is one B-tree: the first change of
//! a deadline after a clone copies it whole (as a clone used to); so are the tombstones
//! (at most `MAX_TOMBSTONES`) at the first deletion.
//!
//! Time: the store's clock is `now_ms = max(previous, batch.now_ms)` over the applied batches,
//! so it never goes backwards. An expired key counts as absent everywhere; each applied batch
//! then deletes at most [`MAX_EXPIRED_PER_BATCH`] expired keys, oldest deadline first, so every
//! replica deletes the same keys at the same log position.

use super::client_sessions::ClientSessions;
use super::hash_value::HashValue;
use super::tombstones::{Tombstones, MAX_TOMBSTONES};
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// The strong and weak counts at the head of each key's and value's shared allocation.
const SHARED_COUNTS_BYTES: usize = 2 * std::mem::size_of::<usize>();
/// Hash tables the map is split into (a power of two; `shard_of` masks with it).
pub const SHARDS: usize = 256;
type Table = HashMap<Key, Value, BuildKeyHasher>;
/// The store's tables, each shared with the store's clones until written.
type Tables = Box<[Arc<Table>]>;

/// The table of `key`, in `[0, SHARDS)`: bits 32 and up of the tables' own hash, which
/// hashbrown leaves alone (it picks the bucket from the low bits and the control byte from
/// the top seven), so a table's keys still spread over its buckets. Hashing twice costs
/// about 10% more instructions per lookup than one table did (cachegrind, 100,000 keys).
#[inline]
fn shard_of(key: &[u8]) -> usize {
    (BuildKeyHasher.hash_one(key) >> 32) as usize & (SHARDS - 1)
}

/// The length at which table `shard` of capacity `capacity` is made to grow before a new key
/// goes in: `capacity * (1/2 + 3/8 * shard / SHARDS)`, so that the tables, filled evenly by the
/// hash, grow one after another instead of all at about the same size.
#[inline]
fn grow_at(shard: usize, capacity: usize) -> usize {
    capacity / 2 + capacity * 3 * shard / (8 * SHARDS)
}

/// What `KvStore::clear` emptied: its tables and expiry index, for the caller to drop where
/// it costs nothing (`KvStore::take_retired`): dropping 1,000,000 keys took 255 ms here. A
/// copy of the store has none.
#[derive(Debug, Default)]
pub struct Retired(Option<(Tables, Arc<ExpiryIndex>)>);

/// `(deadline, key)` of every key with a deadline.
type ExpiryIndex = BTreeSet<(u64, Key)>;

impl Retired {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl Clone for Retired {
    fn clone(&self) -> Retired {
        Retired(None)
    }
}

/// Expired keys deleted after each applied write batch.
pub const MAX_EXPIRED_PER_BATCH: usize = 64;
/// Default bound of KEYS results.
pub const DEFAULT_MAX_KEYS_RESULT: usize = 100_000;

/// A key: its bytes, in one exact-size shared allocation. Keys and values are shared (`Arc`)
/// so that a copy of the store (`KvStore::clone`, for a snapshot) copies pointers, not bytes.
pub type Key = Arc<[u8]>;

/// XXH3 behind `Hasher`: `write` hashes each slice at once (keys are written as one slice
/// after their length), seeded with what came before.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasher {
    hash: u64,
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.hash = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.hash);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        // The length prefix of a slice: folded into the seed of the slice's hash.
        self.hash ^= (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct BuildKeyHasher;

impl BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher::default()
    }
}

/// What a key holds: a string or a hash. The string arm is the one pointer (and length) a
/// string always was, and the hash arm fits in the string's pointer with its niche, so a
/// `Value` is as small as a string's pointer, length, deadline and version (32 bytes on
/// 64-bit: `value_stays_small`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    String(Arc<[u8]>),
    /// Shared with the store's clones (and COPY's copy) until written (`Arc::make_mut`).
    Hash(Arc<HashValue>),
}

/// `WRONGTYPE`: a command met a key holding the other kind of value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// A stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub data: Data,
    /// Deadline in store milliseconds; `NO_EXPIRY` (0) for none (deadlines are at least 1).
    expires_at: u64,
    /// The store's `version` when the key last changed (set by the store, not by `new`):
    /// what WATCH compares. 8 bytes of every key: `size_of::<Value>()` went from 24 to 32.
    changed_at: u64,
}

const NO_EXPIRY: u64 = 0;

impl Value {
    /// A string.
    pub fn new(data: Arc<[u8]>, expires_at_ms: Option<u64>) -> Value {
        Value::of(Data::String(data), expires_at_ms)
    }

    pub fn of(data: Data, expires_at_ms: Option<u64>) -> Value {
        Value { data, expires_at: expires_at_ms.map_or(NO_EXPIRY, |t| t.max(1)), changed_at: 0 }
    }

    /// The store's version when the key last changed.
    pub fn changed_at(&self) -> u64 {
        self.changed_at
    }

    pub fn expires_at_ms(&self) -> Option<u64> {
        (self.expires_at != NO_EXPIRY).then_some(self.expires_at)
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.expires_at != NO_EXPIRY && self.expires_at <= now_ms
    }

    /// The string, or `WrongType`.
    #[inline]
    pub fn string(&self) -> Result<&Arc<[u8]>, WrongType> {
        match &self.data {
            Data::String(bytes) => Ok(bytes),
            Data::Hash(_) => Err(WrongType),
        }
    }

    /// The hash, or `WrongType`.
    pub fn hash(&self) -> Result<&HashValue, WrongType> {
        match &self.data {
            Data::Hash(hash) => Ok(hash),
            Data::String(_) => Err(WrongType),
        }
    }

    /// TYPE's name for it.
    pub fn type_name(&self) -> &'static [u8] {
        match self.data {
            Data::String(_) => b"string",
            Data::Hash(_) => b"hash",
        }
    }

    /// What it adds to the store's `data_bytes`: a string's bytes, a hash's estimate
    /// (`HashValue::weight_bytes`: its fields, values and their overhead).
    #[inline]
    pub fn weight_bytes(&self) -> usize {
        match &self.data {
            Data::String(bytes) => bytes.len(),
            Data::Hash(hash) => hash.weight_bytes(),
        }
    }
}

/// The key-value store of one replica. A clone shares the tables, and so every key and value,
/// with the original until either writes to a table (copy on write, per table): a snapshot is
/// encoded from a clone in another thread while the original goes on applying.
#[derive(Clone, Debug)]
pub struct KvStore {
    /// `SHARDS` tables; a key lives in table `shard_of(key)`. Shared with clones until
    /// written (`table_for_write`).
    tables: Tables,
    /// Exactly the map's keys with a deadline. Shared with clones until written.
    expiries: Arc<ExpiryIndex>,
    /// The store's clock: the largest `now_ms` of any applied batch.
    now_ms: u64,
    /// Bytes of all keys and values, a hash's its estimate with its fields' overhead
    /// (`Value::weight_bytes`; for the memory estimate).
    data_bytes: usize,
    /// Bytes of the keys in `expiries`.
    expiry_key_bytes: usize,
    /// KEYS refuses to return more keys than this.
    pub max_keys_result: usize,
    /// What the last `clear` emptied, until `take_retired` (a later `clear` drops it).
    retired: Retired,
    /// The clients' sessions (exactly-once writes); FLUSHDB keeps them.
    pub sessions: ClientSessions,
    /// The applied log batches: every change a batch makes is stamped with it (`changed_at`,
    /// `tombstones`), the same on every replica.
    version: u64,
    /// The versions of recently deleted keys (WATCH of a key that goes away). Shared with
    /// clones until written, as the expiry index is.
    tombstones: Arc<Tombstones>,
}

impl Default for KvStore {
    fn default() -> KvStore {
        KvStore::new(DEFAULT_MAX_KEYS_RESULT)
    }
}

impl KvStore {
    pub fn new(max_keys_result: usize) -> KvStore {
        KvStore {
            tables: Self::empty_tables(),
            expiries: Arc::default(),
            now_ms: 0,
            data_bytes: 0,
            expiry_key_bytes: 0,
            max_keys_result,
            retired: Retired::default(),
            sessions: ClientSessions::default(),
            version: 0,
            tombstones: Arc::default(),
        }
    }

    fn empty_tables() -> Tables {
        (0..SHARDS).map(|_| Arc::new(HashMap::with_hasher(BuildKeyHasher))).collect()
    }

    #[inline]
    fn table(&self, key: &[u8]) -> &Table {
        &self.tables[shard_of(key)]
    }

    /// Table `shard`, to write: copied first if a clone of the store still shares it.
    #[inline]
    fn table_for_write(&mut self, shard: usize) -> &mut Table {
        Arc::make_mut(&mut self.tables[shard])
    }

    /// The expiry index, to write: copied first if a clone of the store still shares it.
    #[inline]
    fn expiries_for_write(&mut self) -> &mut ExpiryIndex {
        Arc::make_mut(&mut self.expiries)
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Moves the clock to `max(now, now_ms)`; returns the clock.
    pub fn advance_clock(&mut self, now_ms: u64) -> u64 {
        self.now_ms = self.now_ms.max(now_ms);
        self.now_ms
    }

    /// Starts a log batch: the changes that follow get a version above every earlier one.
    #[inline]
    pub fn begin_batch(&mut self) {
        self.version += 1;
    }

    /// The version of the last applied batch.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// What WATCH records of `key` and EXEC compares: the version of its last change while
    /// present (expired or not), else of its deletion, else a version at or above that of
    /// every deletion no longer remembered (`Tombstones::floor`). Any change of the key
    /// after a batch gives it a version above that batch's; FLUSHDB is the exception (its
    /// keys get no tombstone: WATCH catches it by the key no longer being live).
    pub fn version_of(&self, key: &[u8]) -> u64 {
        match self.table(key).get(key) {
            Some(value) => value.changed_at,
            None => self.tombstones.version_of(key),
        }
    }

    /// Entries held, expired ones not yet deleted included.
    pub fn stored_len(&self) -> usize {
        self.tables.iter().map(|table| table.len()).sum()
    }

    /// Live keys at `now_ms` (DBSIZE).
    pub fn live_len(&self, now_ms: u64) -> usize {
        self.stored_len() - self.expired_len(now_ms)
    }

    /// Live keys with a deadline at `now_ms` (INFO's `expires`).
    pub fn live_expiring_len(&self, now_ms: u64) -> usize {
        self.expiries.len() - self.expired_len(now_ms)
    }

    /// Keys expired at `now_ms` and not deleted yet.
    fn expired_len(&self, now_ms: u64) -> usize {
        self.expiries.range(..(now_ms.saturating_add(1), Key::default())).count()
    }

    /// The live value of `key` at `now_ms`.
    #[inline]
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.table(key).get(key).filter(|v| !v.expired(now_ms))
    }

    /// Stores `value` under `key`, replacing any value and its deadline; returns the old
    /// live value.
    pub fn set(&mut self, key: &[u8], mut value: Value, now_ms: u64) -> Option<Value> {
        value.changed_at = self.version;
        let new_bytes = value.weight_bytes();
        let new_deadline = value.expires_at;
        let shard = shard_of(key);
        let table = self.table_for_write(shard);
        let old = match table.get_mut(key) {
            Some(slot) => {
                let old = std::mem::replace(slot, value);
                Some(old)
            }
            None => {
                let capacity = table.capacity();
                if table.len() >= grow_at(shard, capacity) {
                    // Doubles now, at this table's own fill level (see `grow_at`).
                    table.reserve(capacity + 1 - table.len());
                }
                table.insert(Key::from(key), value);
                None
            }
        };
        self.data_bytes = match &old {
            Some(old) => self.data_bytes - old.weight_bytes() + new_bytes,
            None => self.data_bytes + key.len() + new_bytes,
        };
        let old_deadline = old.as_ref().map_or(NO_EXPIRY, |v| v.expires_at);
        if old_deadline != new_deadline {
            self.unindex(old_deadline, key);
            self.index(new_deadline, key);
        }
        old.filter(|v| !v.expired(now_ms))
    }

    /// Replaces the bytes of a live key's value, keeping its deadline.
    pub fn set_data_keep_ttl(&mut self, key: &[u8], data: Arc<[u8]>) {
        let new_bytes = data.len();
        if let Some(slot) = Arc::make_mut(&mut self.tables[shard_of(key)]).get_mut(key) {
            slot.changed_at = self.version;
            let old_bytes = slot.weight_bytes();
            slot.data = Data::String(data);
            self.data_bytes = self.data_bytes - old_bytes + new_bytes;
        }
    }

    /// Runs `change` on the hash of `key`, made empty first when the key is absent (the
    /// caller has checked that a live key there is a hash); the key is deleted if the hash is
    /// left empty. A hash shared with a clone of the store is copied first (all its fields).
    pub fn update_hash<R>(&mut self, key: &[u8], now_ms: u64, change: impl FnOnce(&mut HashValue) -> R) -> R {
        if self.get(key, now_ms).is_none() {
            self.set(key, Value::of(Data::Hash(Arc::default()), None), now_ms);
        }
        let shard = shard_of(key);
        let version = self.version;
        let Some(Value { data: Data::Hash(hash), changed_at, .. }) = self.table_for_write(shard).get_mut(key) else {
            unreachable!("update_hash on a key that holds no hash");
        };
        // A change for WATCH, even if `change` changes nothing (HDEL of an absent field):
        // a false abort at worst.
        *changed_at = version;
        let hash = Arc::make_mut(hash);
        let old_bytes = hash.weight_bytes();
        let result = change(hash);
        let (new_bytes, empty) = (hash.weight_bytes(), hash.is_empty());
        self.data_bytes = self.data_bytes - old_bytes + new_bytes;
        if empty {
            self.remove(key, now_ms);
        }
        result
    }

    /// Deletes `key`; returns whether it was live.
    pub fn remove(&mut self, key: &[u8], now_ms: u64) -> bool {
        let shard = shard_of(key);
        if Arc::strong_count(&self.tables[shard]) > 1 && !self.tables[shard].contains_key(key) {
            return false; // a shared table is not copied for nothing
        }
        match self.table_for_write(shard).remove_entry(key) {
            Some((key, value)) => {
                self.data_bytes -= key.len() + value.weight_bytes();
                self.unindex(value.expires_at, &key);
                let live = !value.expired(now_ms);
                // Deleting an expired key changes nothing a client saw (as Redis 7.0 counts
                // it for WATCH): it keeps its version.
                let version = if live { self.version } else { value.changed_at };
                Arc::make_mut(&mut self.tombstones).record(key, version);
                live
            }
            None => false,
        }
    }

    /// Empties the store in O(1): the old entries are kept aside for `take_retired`.
    pub fn clear(&mut self) {
        // WATCH must see the keys go: each gets a tombstone at this version, as a DEL would
        // (present ones only: a key absent throughout is not changed, as in Redis). Past
        // what the tombstones keep, the floor rises to this version instead, without a walk
        // of the store: every absent key then answers it, a change for a WATCH made before.
        let version = self.version;
        if self.stored_len() <= MAX_TOMBSTONES {
            let keys: Vec<Key> = self.tables.iter().flat_map(|table| table.keys().cloned()).collect();
            let tombstones = Arc::make_mut(&mut self.tombstones);
            for key in keys {
                tombstones.record(key, version);
            }
        } else {
            Arc::make_mut(&mut self.tombstones).raise_floor(version);
        }
        let tables = std::mem::replace(&mut self.tables, Self::empty_tables());
        let expiries = std::mem::take(&mut self.expiries);
        self.retired = Retired(Some((tables, expiries)));
        self.data_bytes = 0;
        self.expiry_key_bytes = 0;
    }

    /// Deletes at most `limit` keys whose deadline is `<= now_ms`, earliest first; returns
    /// how many.
    pub fn expire_some(&mut self, now_ms: u64, limit: usize) -> usize {
        let mut deleted = 0;
        while deleted < limit {
            match self.expiries.first() {
                Some((deadline, _)) if *deadline <= now_ms => {}
                _ => break,
            }
            let Some((_, key)) = self.expiries_for_write().pop_first() else { break };
            self.expiry_key_bytes -= key.len();
            if let Some(value) = self.table_for_write(shard_of(&key)).remove(&key) {
                self.data_bytes -= key.len() + value.weight_bytes();
                Arc::make_mut(&mut self.tombstones).record(key, value.changed_at);
            }
            deleted += 1;
        }
        deleted
    }

    /// Every stored entry, expired ones included, in map order (table by table).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Value)> {
        self.tables.iter().flat_map(|table| table.iter().map(|(k, v)| (&**k, v)))
    }

    /// Live entries at `now_ms`.
    pub fn iter_live(&self, now_ms: u64) -> impl Iterator<Item = (&[u8], &Value)> {
        self.iter().filter(move |(_, v)| !v.expired(now_ms))
    }

    /// Bytes of keys and values (a hash's: `HashValue::weight_bytes`).
    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// An allocator-agnostic estimate of the heap bytes the store holds: the hash table's
    /// slots and control bytes at its capacity, the key and value bytes with their shared
    /// counts, and the expiry index (about one B-tree slot per entry plus its copy of the
    /// key). Allocator headers and rounding (typically 8-16 bytes per allocation, two
    /// allocations per key) are not in it.
    pub fn memory_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(Key, Value)>() + 1;
        // hashbrown keeps a power-of-two bucket count with a 7/8 load factor.
        let buckets: usize = self
            .tables
            .iter()
            .map(|t| if t.capacity() == 0 { 0 } else { (t.capacity() * 8 / 7).next_power_of_two() })
            .sum();
        let index_slot = std::mem::size_of::<(u64, Key)>() + 8;
        let allocations = 2 * self.stored_len() + self.expiries.len();
        self.tombstones.memory_bytes()
            + buckets * slot
            + self.data_bytes
            + allocations * SHARED_COUNTS_BYTES
            + self.expiries.len() * index_slot
            + self.expiry_key_bytes
    }

    fn index(&mut self, deadline: u64, key: &[u8]) {
        if deadline != NO_EXPIRY {
            self.expiry_key_bytes += key.len();
            self.expiries_for_write().insert((deadline, Key::from(key)));
        }
    }

    fn unindex(&mut self, deadline: u64, key: &[u8]) {
        if deadline != NO_EXPIRY && self.expiries_for_write().remove(&(deadline, Key::from(key))) {
            self.expiry_key_bytes -= key.len();
        }
    }

    /// Inserts an entry read from a snapshot, changed at `changed_at`; `false` if the key
    /// was already present.
    pub(crate) fn insert_restored(&mut self, key: Key, mut value: Value, changed_at: u64) -> bool {
        value.changed_at = changed_at;
        let shard = shard_of(&key);
        if self.tables[shard].contains_key(&key) {
            return false;
        }
        self.data_bytes += key.len() + value.weight_bytes();
        self.index(value.expires_at, &key);
        self.table_for_write(shard).insert(key, value);
        true
    }

    /// Makes room for `entries` more, spread evenly (a snapshot being decoded, in a worker
    /// thread: growing there costs the loop nothing).
    pub(crate) fn reserve(&mut self, entries: usize) {
        let per_table = entries.div_ceil(SHARDS) + entries.div_ceil(SHARDS * 8);
        for table in self.tables.iter_mut() {
            Arc::make_mut(table).reserve(per_table);
        }
    }

    /// What the last `clear` emptied, once; the caller drops it (in another thread: freeing
    /// every key and value takes a while).
    pub fn take_retired(&mut self) -> Retired {
        std::mem::take(&mut self.retired)
    }

    pub(crate) fn set_clock(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// The version and tombstones, from a snapshot.
    pub(crate) fn set_versions(&mut self, version: u64, tombstones: Tombstones) {
        self.version = version;
        self.tombstones = Arc::new(tombstones);
    }

    pub(crate) fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }
}

/// SCAN and RANDOMKEY: walking the keys by a position fixed for each key, so that a cursor
/// stays valid whatever is written between two calls.
impl KvStore {
    /// Sets the deadline of the live `key` (`None`: none), a change of the key; false if
    /// there is no live key.
    pub fn set_deadline(&mut self, key: &[u8], deadline_ms: Option<u64>, now_ms: u64) -> bool {
        let new = deadline_ms.map_or(NO_EXPIRY, |t| t.max(1));
        let shard = shard_of(key);
        let old = match self.tables[shard].get(key) {
            Some(value) if !value.expired(now_ms) => value.expires_at,
            _ => return false,
        };
        if old == NO_EXPIRY && new == NO_EXPIRY {
            return true; // nothing to remove: not a change (GETEX PERSIST, as in Redis)
        }
        if old != new {
            self.unindex(old, key);
            self.index(new, key);
        }
        // Setting a deadline is a change even when it is the same one (Redis's EXPIRE).
        let version = self.version;
        if let Some(value) = self.table_for_write(shard).get_mut(key) {
            value.expires_at = new;
            value.changed_at = version;
        }
        true
    }

    /// The live entries whose scan position is at or after `cursor`, in position order: at
    /// least `count` of them unless the store ends first (more when several share the last
    /// position, so that no position is split between two calls), with the cursor that
    /// follows them (0 once the walk is done).
    ///
    /// A key's position is its hash rotated so that its table's bits come first (see
    /// `scan_position`): a key keeps its position while it lives, so every key live for a
    /// whole walk is returned by it, exactly once, whatever else is written meanwhile (Redis
    /// promises at least once). Each call hashes the keys of the tables it visits: at least
    /// one, `1/SHARDS` of the store.
    pub fn scan(&self, cursor: u64, count: usize, now_ms: u64) -> (Vec<(&[u8], &Value)>, u64) {
        let count = count.max(1);
        let mut found: Vec<(&[u8], &Value)> = Vec::new();
        let mut from = cursor;
        for shard in (cursor >> SCAN_SHARD_SHIFT) as usize..SHARDS {
            let mut here: Vec<(u64, &[u8], &Value)> = self.tables[shard]
                .iter()
                .filter(|(_, value)| !value.expired(now_ms))
                .map(|(key, value)| (scan_position(key), &**key, value))
                .filter(|(position, _, _)| *position >= from)
                .collect();
            here.sort_unstable_by_key(|(position, _, _)| *position);
            let wanted = count - found.len();
            if here.len() > wanted {
                let last = here[wanted - 1].0;
                let end = wanted + here[wanted..].iter().take_while(|(position, _, _)| *position == last).count();
                found.extend(here[..end].iter().map(|(_, key, value)| (*key, *value)));
                return (found, last.wrapping_add(1));
            }
            found.extend(here.iter().map(|(_, key, value)| (*key, *value)));
            if found.len() == count {
                let next = (shard as u64 + 1) << SCAN_SHARD_SHIFT;
                return (found, if shard + 1 == SHARDS { 0 } else { next });
            }
            from = 0;
        }
        (found, 0)
    }

    /// A live key picked by `seed` (RANDOMKEY), if there is one: the `seed`-th live entry of
    /// the first table, from the `seed`-th on, that holds one.
    pub fn pick_key(&self, seed: u64, now_ms: u64) -> Option<&[u8]> {
        (0..SHARDS).map(|i| (seed as usize + i) % SHARDS).find_map(|shard| {
            let live = self.tables[shard].iter().filter(|(_, value)| !value.expired(now_ms));
            let len = live.clone().count();
            let nth = (seed >> 8) as usize % len.max(1);
            live.map(|(key, _)| &**key).nth(nth)
        })
    }
}

/// Bits a scan position is shifted by to give its table.
const SCAN_SHARD_SHIFT: u32 = 64 - SHARDS.trailing_zeros();

/// Where SCAN meets `key`: its hash with the bits that pick its table (`shard_of`) on top,
/// so that the keys of one table are one range of positions.
#[inline]
fn scan_position(key: &[u8]) -> u64 {
    BuildKeyHasher.hash_one(key).rotate_left(SCAN_SHARD_SHIFT - 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries the tables can hold before growing, all together.
    fn capacity(store: &KvStore) -> usize {
        store.tables.iter().map(|table| table.capacity()).sum()
    }

    #[test]
    fn value_stays_small() {
        // A string's pointer and length, the deadline and the version WATCH compares (8
        // bytes per key: 24 before it): the hash arm adds nothing.
        assert_eq!(std::mem::size_of::<Value>(), 4 * std::mem::size_of::<usize>());
    }

    #[test]
    fn clear_keeps_the_old_entries_aside_once_and_copies_do_not_share_them() {
        let mut store = KvStore::default();
        let value: Arc<[u8]> = Arc::from(&b"v"[..]);
        store.set(b"a", Value::new(value.clone(), None), 0);
        store.set(b"b", Value::new(value.clone(), Some(10)), 0);
        store.clear();
        assert_eq!((store.stored_len(), store.live_len(0), store.data_bytes()), (0, 0, 0));
        assert!(store.get(b"a", 0).is_none());
        assert!(store.clone().take_retired().is_empty());
        let Retired(Some((tables, expiries))) = store.take_retired() else { panic!("nothing retired") };
        assert_eq!(tables.iter().map(|table| table.len()).sum::<usize>(), 2);
        assert_eq!(expiries.len(), 1);
        assert!(store.take_retired().is_empty());
        assert_eq!(Arc::strong_count(&value), 3); // the retired entries still hold it
        drop(tables);
        assert_eq!(Arc::strong_count(&value), 1);
        // The store goes on as a new one.
        store.set(b"a", Value::new(value, None), 0);
        assert_eq!(store.stored_len(), 1);
    }

    /// Tables of `a` and `b` that are one and the same allocation.
    fn shared_tables(a: &KvStore, b: &KvStore) -> usize {
        a.tables.iter().zip(b.tables.iter()).filter(|(x, y)| Arc::ptr_eq(x, y)).count()
    }

    #[test]
    fn a_clone_shares_every_table_until_one_is_written_and_then_only_that_one_is_copied() {
        let mut store = KvStore::default();
        let value: Arc<[u8]> = Arc::from(&b"v"[..]);
        for i in 0..10_000 {
            store.set(format!("key:{i}").as_bytes(), Value::new(value.clone(), None), 0);
        }
        store.set(b"ttl", Value::new(value.clone(), Some(50)), 0);
        let copy = store.clone();
        assert_eq!(shared_tables(&store, &copy), SHARDS);
        assert!(Arc::ptr_eq(&store.expiries, &copy.expiries));
        // Reads, and deleting keys that are absent, copy nothing.
        assert!(store.get(b"key:1", 0).is_some());
        assert!(!store.remove(b"absent", 0));
        assert_eq!(shared_tables(&store, &copy), SHARDS);
        // Overwriting a key copies its table alone; the copy keeps the old value.
        store.set(b"key:1", Value::new(Arc::from(&b"new"[..]), None), 0);
        assert_eq!(shared_tables(&store, &copy), SHARDS - 1);
        assert!(!Arc::ptr_eq(&store.tables[shard_of(b"key:1")], &copy.tables[shard_of(b"key:1")]));
        assert_eq!(&**copy.get(b"key:1", 0).unwrap().string().unwrap(), b"v");
        assert_eq!(&**store.get(b"key:1", 0).unwrap().string().unwrap(), b"new");
        // A second write to the same table copies nothing more.
        store.set(b"key:1", Value::new(value.clone(), None), 0);
        assert_eq!(shared_tables(&store, &copy), SHARDS - 1);
        // The expiry index is copied on the first change of a deadline.
        assert!(Arc::ptr_eq(&store.expiries, &copy.expiries));
        store.set(b"key:2", Value::new(value.clone(), Some(70)), 0);
        assert!(!Arc::ptr_eq(&store.expiries, &copy.expiries));
        assert_eq!((store.expiries.len(), copy.expiries.len()), (2, 1));
        // Expiry deletes from the store alone.
        assert_eq!(store.expire_some(100, 10), 2);
        assert_eq!((store.stored_len(), copy.stored_len()), (9_999, 10_001));
        assert!(copy.get(b"ttl", 0).is_some());
        // Once the copy is gone, writes copy nothing: the tables are the store's own again.
        drop(copy);
        let before: Vec<*const Table> = store.tables.iter().map(Arc::as_ptr).collect();
        for i in 0..10_000 {
            store.set(format!("key:{i}").as_bytes(), Value::new(value.clone(), None), 0);
        }
        let after: Vec<*const Table> = store.tables.iter().map(Arc::as_ptr).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn tables_grow_one_at_a_time_spread_over_the_inserts() {
        let mut store = KvStore::default();
        let value: Arc<[u8]> = Arc::from(&b"v"[..]);
        let mut before = capacity(&store);
        // The insert index of every growth from 100,000 keys on.
        let mut growths = Vec::new();
        for i in 0..200_000usize {
            store.set(format!("key:{i}").as_bytes(), Value::new(value.clone(), None), 0);
            let after = capacity(&store);
            if after != before {
                // One table doubled: it moved its own entries, about a table's share.
                assert!(after - before <= 4 * store.stored_len() / SHARDS + 64, "{before} -> {after} at {i}");
                if i >= 100_000 {
                    growths.push(i);
                }
                before = after;
            }
        }
        assert_eq!(store.stored_len(), 200_000);
        // From 100,000 to 200,000 keys about every table grows once, and not all at once: no
        // 5,000 inserts see more than a fifth of the tables grow (at most about 30 did at
        // the staggered levels; grown at 7/8 each, filled evenly by the hash, 87 did).
        assert!(growths.len() >= SHARDS / 2, "{} growths", growths.len());
        let most_in_a_window =
            growths.iter().map(|&start| growths.iter().filter(|&&i| (start..start + 5_000).contains(&i)).count()).max();
        assert!(most_in_a_window <= Some(SHARDS / 5), "{most_in_a_window:?} growths within 5,000 inserts");
        for i in 0..200_000usize {
            assert!(store.get(format!("key:{i}").as_bytes(), 0).is_some());
        }
    }
}
