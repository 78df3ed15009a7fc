//! Random: a uniformly drawn eligible backend, ignoring weights.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::hash::bounded;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct Random {
    rng: ChaCha8Rng,
}

impl Random {
    pub fn new(seed: u64) -> Random {
        Random { rng: ChaCha8Rng::seed_from_u64(seed) }
    }
}

impl Algorithm for Random {
    const USES_KEY: bool = false;

    fn rebuild(&mut self, _backends: &Backends, _change: Change) {}

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let eligible = backends.eligible();
        if eligible.is_empty() {
            return None;
        }
        Some(eligible[bounded(self.rng.next_u64(), eligible.len())])
    }
}
