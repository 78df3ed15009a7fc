//! Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018; as
//! HAProxy's `hash-balance-factor` and Vimeo's): a ring hash whose walk also skips backends
//! already at capacity, counting requests in flight. With `L` requests in flight over `n`
//! eligible backends, a backend of weight share `s` may hold
//! `ceil((1 + epsilon) * (L + 1) * s * n / n)`, that is `ceil((1 + epsilon) * (L + 1) * s)`
//! for share `s = weight / total_weight`: no backend ever holds more than `1 + epsilon` times
//! its fair share plus one, while a key still goes to its ring owner whenever that owner has
//! room. Callers must `start` and `finish` requests for the bound to mean anything.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::error::BalanceError;
use super::ring_hash::{check_vnodes, Ring};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The paper's and Vimeo's choice: 25% over the mean.
pub const DEFAULT_EPSILON: f64 = 0.25;
/// Largest `epsilon` (beyond it the bound rarely binds).
pub const MAX_EPSILON: f64 = 100.0;

#[derive(Clone, Debug)]
pub struct BoundedLoadHash {
    ring: Ring,
    vnodes: u32,
    /// In `(0, MAX_EPSILON]`.
    epsilon: f64,
    /// Sum of the eligible backends' weights.
    eligible_weight: f64,
    /// Draws the keys of keyless picks.
    rng: ChaCha8Rng,
}

impl BoundedLoadHash {
    pub fn new(seed: u64, vnodes: u32, epsilon: f64) -> Result<BoundedLoadHash, BalanceError> {
        check_vnodes(vnodes)?;
        if !(epsilon > 0.0 && epsilon <= MAX_EPSILON) {
            return Err(BalanceError::invalid("epsilon", format!("{epsilon} is not in (0, {MAX_EPSILON}]")));
        }
        Ok(BoundedLoadHash {
            ring: Ring::default(),
            vnodes,
            epsilon,
            eligible_weight: 0.0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// How many requests backend `index` may hold in flight now.
    pub fn capacity(&self, backends: &Backends, index: usize) -> u64 {
        let share = f64::from(backends.weight(index)) / self.eligible_weight;
        ((1.0 + self.epsilon) * (backends.total_in_flight() + 1) as f64 * share).ceil() as u64
    }
}

impl Algorithm for BoundedLoadHash {
    const USES_KEY: bool = true;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        if matches!(change, Change::All | Change::Added(_) | Change::Removed(_)) {
            self.ring = Ring::build(backends, self.vnodes);
        }
        self.eligible_weight = backends.eligible().iter().map(|&i| f64::from(backends.weight(i))).sum();
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let key_hash = self.rng.next_u64();
        self.pick_key(backends, key_hash)
    }

    fn pick_key(&mut self, backends: &Backends, key_hash: u64) -> Option<usize> {
        let room = |owner: usize| {
            backends.is_eligible(owner) && u64::from(backends.in_flight(owner)) < self.capacity(backends, owner)
        };
        // Some eligible backend is below its share, so the walk ends within one turn; the
        // second walk only guards against rounding.
        self.ring.find(key_hash, room).or_else(|| self.ring.find(key_hash, |owner| backends.is_eligible(owner)))
    }
}
