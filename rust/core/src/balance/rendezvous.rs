//! Weighted rendezvous (highest random weight) hashing (Thaler and Ravishankar; weighted by
//! the logarithmic method of Schindelhauer and Schomaker): every eligible backend scores the
//! key, the highest score wins. The score of backend `i` is `weight_i / -ln(u_i)`, where `u_i`
//! in `(0, 1)` comes from mixing the key's hash with the name's hash; each backend then wins
//! with probability `weight_i / total_weight`, and when a backend leaves only its keys move.
//! When all weights are equal the raw mixed hash is the score (no logarithm).
//!
//! O(eligible) per pick: the right choice for tens of backends, not thousands.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::hash::{bounded, mix};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct Rendezvous {
    /// Draws the keys of keyless picks.
    rng: ChaCha8Rng,
    /// All configured weights equal: compare raw hashes.
    unweighted: bool,
}

impl Rendezvous {
    pub fn new(seed: u64) -> Rendezvous {
        Rendezvous { rng: ChaCha8Rng::seed_from_u64(seed), unweighted: true }
    }
}

/// The mixed hash of a key and a backend; ties broken by the name's hash.
#[inline]
fn score_hash(key_hash: u64, name_hash: u64) -> u64 {
    mix(key_hash ^ mix(name_hash))
}

impl Algorithm for Rendezvous {
    const USES_KEY: bool = true;

    fn rebuild(&mut self, backends: &Backends, _change: Change) {
        self.unweighted = (0..backends.len()).all(|i| backends.weight(i) == backends.weight(0));
    }

    /// A keyless pick: with equal weights a random key's winner is uniform over the eligible
    /// backends, so draw that directly (O(1) instead of scoring every backend); with weights,
    /// score a random key.
    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let draw = self.rng.next_u64();
        if self.unweighted {
            let eligible = backends.eligible();
            return (!eligible.is_empty()).then(|| eligible[bounded(draw, eligible.len())]);
        }
        self.pick_key(backends, draw)
    }

    fn pick_key(&mut self, backends: &Backends, key_hash: u64) -> Option<usize> {
        let eligible = backends.eligible();
        if self.unweighted {
            return eligible.iter().copied().max_by_key(|&i| {
                let name_hash = backends.name_hash(i);
                (score_hash(key_hash, name_hash), name_hash)
            });
        }
        let mut best: Option<(f64, u64, usize)> = None;
        for &i in eligible {
            let name_hash = backends.name_hash(i);
            // u in (0, 1): 53 random bits, centred in their interval.
            let u = ((score_hash(key_hash, name_hash) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = f64::from(backends.weight(i)) / -u.ln();
            if best.is_none_or(|(s, h, _)| (score, name_hash) > (s, h)) {
                best = Some((score, name_hash, i));
            }
        }
        best.map(|(_, _, i)| i)
    }
}
