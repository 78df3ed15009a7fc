//! Jump consistent hash (Lamping and Veach, 2014): no table, O(ln n) arithmetic per key, and
//! when a bucket is added at the end exactly `1/n` of the keys move. Unweighted.
//!
//! Jump hash only knows buckets `[0, n)`, numbered in the order backends were added. A
//! removed backend leaves a tombstone in its bucket, which the next added backend takes, so
//! removing a backend from the middle moves only its own keys. A key whose bucket is a
//! tombstone or a backend that is not eligible is hashed again (up to `MAX_PROBES` times, then
//! it falls back to the eligible list): those keys spread evenly over the others, and no other
//! key moves.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::hash::{bounded, mix};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rehashes of a key whose bucket cannot take it before falling back to the eligible list.
pub const MAX_PROBES: u32 = 32;

/// Lamping and Veach's jump hash of `key` over `buckets > 0` buckets.
#[inline]
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut bucket: i64 = -1;
    let mut next: i64 = 0;
    while next < i64::from(buckets) {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        next = (((bucket + 1) as f64) * ((1u64 << 31) as f64 / (((key >> 33) + 1) as f64))) as i64;
    }
    bucket as u32
}

#[derive(Clone, Debug)]
pub struct JumpHash {
    /// `slots[b]` is the backend index in bucket `b`, or `None` (a tombstone).
    slots: Vec<Option<usize>>,
    /// Draws the keys of keyless picks.
    rng: ChaCha8Rng,
}

impl JumpHash {
    pub fn new(seed: u64) -> JumpHash {
        JumpHash { slots: Vec::new(), rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Buckets, tombstones included.
    pub fn buckets(&self) -> usize {
        self.slots.len()
    }
}

impl Algorithm for JumpHash {
    const USES_KEY: bool = true;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        match change {
            Change::All => self.slots = (0..backends.len()).map(Some).collect(),
            Change::Added(index) => match self.slots.iter().position(Option::is_none) {
                Some(tombstone) => self.slots[tombstone] = Some(index),
                None => self.slots.push(Some(index)),
            },
            Change::Removed(index) => {
                for slot in &mut self.slots {
                    match *slot {
                        Some(i) if i == index => *slot = None,
                        Some(i) if i > index => *slot = Some(i - 1),
                        _ => {}
                    }
                }
                while self.slots.last() == Some(&None) {
                    self.slots.pop(); // trailing tombstones: shrinking the range is exact
                }
            }
            Change::Health | Change::Weights => {}
        }
    }

    /// A keyless pick: a random key's bucket is uniform over the eligible backends, so draw
    /// that directly (O(1) instead of a jump and probes).
    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let eligible = backends.eligible();
        (!eligible.is_empty()).then(|| eligible[bounded(self.rng.next_u64(), eligible.len())])
    }

    #[inline]
    fn pick_key(&mut self, backends: &Backends, key_hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let buckets = self.slots.len() as u32;
        let mut key = key_hash;
        for probe in 0..=MAX_PROBES {
            if let Some(index) = self.slots[jump(key, buckets) as usize] {
                if backends.is_eligible(index) {
                    return Some(index);
                }
            }
            key = mix(key_hash.wrapping_add(u64::from(probe) + 1));
        }
        let eligible = backends.eligible();
        (!eligible.is_empty()).then(|| eligible[bounded(key, eligible.len())])
    }
}
