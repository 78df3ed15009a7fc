//! Ring hash with virtual nodes (Karger et al., as libketama and Envoy's `RING_HASH`): each
//! backend puts points on a 64-bit ring, a key goes to the owner of the first point at or
//! after its hash, walking on past backends that are not eligible.
//!
//! Backend `i` gets `max(1, round(vnodes * n * weight_i / total_weight))` points, the hashes
//! XXH3-64 of its name under seeds `0, 1, ...`; so the ring depends on names and weights only,
//! never on the order backends were given in. When a backend leaves, only its keys move. A
//! bucket index over the top bits of the hash finds the first point in O(1) expected time.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::error::BalanceError;
use super::hash::name_hash;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Points per unit of mean weight, as libketama (40 MD5 digests of 4 points each).
pub const DEFAULT_VNODES: u32 = 160;
/// Largest `vnodes`.
pub const MAX_VNODES: u32 = 10_000;
/// Points on one ring; with many backends `vnodes` is lowered to fit.
pub const MAX_RING_POINTS: usize = 1 << 22;
/// Bits of the largest bucket index (`2^24 + 1` entries of 4 bytes).
const MAX_BUCKET_BITS: u32 = 24;

/// The points of a ring and who owns them.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    /// Point hashes, ascending.
    hashes: Vec<u64>,
    /// `owners[p]` is the backend index of point `p`.
    owners: Vec<u32>,
    /// Points whose hash has top bits `b` are `[bucket_start[b], bucket_start[b + 1])`.
    bucket_start: Vec<u32>,
    /// `64 - bucket bits`.
    bucket_shift: u32,
}

impl Ring {
    /// The ring of `backends` with `vnodes` points per unit of mean weight.
    pub fn build(backends: &Backends, vnodes: u32) -> Ring {
        let n = backends.len();
        if n == 0 {
            return Ring::default();
        }
        let vnodes = (vnodes as usize).min(MAX_RING_POINTS / n).max(1) as f64;
        let total: f64 = (0..n).map(|i| f64::from(backends.weight(i))).sum();
        let mut points: Vec<(u64, u32)> = Vec::with_capacity(n * vnodes as usize);
        for i in 0..n {
            let share = f64::from(backends.weight(i)) * n as f64 / total;
            let count = ((vnodes * share).round() as u64).max(1);
            points.extend((0..count).map(|seed| (name_hash(backends.name(i), seed), i as u32)));
        }
        // Equal hashes (vanishingly rare) are ordered by name, so input order never matters.
        points.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| backends.name(a.1 as usize).cmp(backends.name(b.1 as usize)))
        });
        let bits = (usize::BITS - (points.len() - 1).leading_zeros()).clamp(1, MAX_BUCKET_BITS);
        let bucket_shift = 64 - bits;
        let mut bucket_start = vec![0u32; (1 << bits) + 1];
        for &(hash, _) in &points {
            bucket_start[(hash >> bucket_shift) as usize + 1] += 1;
        }
        for b in 1..bucket_start.len() {
            bucket_start[b] += bucket_start[b - 1];
        }
        let (hashes, owners) = points.into_iter().unzip();
        Ring { hashes, owners, bucket_start, bucket_shift }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The first point at or after `hash` (wrapping round); the ring is not empty.
    #[inline]
    fn first_point(&self, hash: u64) -> usize {
        let bucket = (hash >> self.bucket_shift) as usize;
        let (lo, hi) = (self.bucket_start[bucket] as usize, self.bucket_start[bucket + 1] as usize);
        let point = lo + self.hashes[lo..hi].partition_point(|&p| p < hash);
        if point == self.hashes.len() {
            0
        } else {
            point
        }
    }

    /// The owner of the first point from `hash` on whose owner `accept`s, after at most one
    /// turn of the ring.
    #[inline]
    pub fn find(&self, hash: u64, mut accept: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.hashes.is_empty() {
            return None;
        }
        let start = self.first_point(hash);
        let owner = self.owners[start] as usize;
        if accept(owner) {
            return Some(owner);
        }
        let len = self.owners.len();
        (1..len).map(|step| self.owners[(start + step) % len] as usize).find(|&owner| accept(owner))
    }
}

/// Validates a `vnodes` option.
pub(crate) fn check_vnodes(vnodes: u32) -> Result<(), BalanceError> {
    if !(1..=MAX_VNODES).contains(&vnodes) {
        return Err(BalanceError::invalid("vnodes", format!("{vnodes} is not in [1, {MAX_VNODES}]")));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct RingHash {
    ring: Ring,
    vnodes: u32,
    /// Draws the keys of keyless picks.
    rng: ChaCha8Rng,
}

impl RingHash {
    pub fn new(seed: u64, vnodes: u32) -> Result<RingHash, BalanceError> {
        check_vnodes(vnodes)?;
        Ok(RingHash { ring: Ring::default(), vnodes, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

impl Algorithm for RingHash {
    const USES_KEY: bool = true;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        // Health needs no rebuild: the walk skips backends that are not eligible.
        if matches!(change, Change::All | Change::Added(_) | Change::Removed(_)) {
            self.ring = Ring::build(backends, self.vnodes);
        }
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let key_hash = self.rng.next_u64();
        self.pick_key(backends, key_hash)
    }

    #[inline]
    fn pick_key(&mut self, backends: &Backends, key_hash: u64) -> Option<usize> {
        self.ring.find(key_hash, |owner| backends.is_eligible(owner))
    }
}
