//! Round robin: the eligible backends in turn, ignoring weights.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct RoundRobin {
    /// Position of the next pick in the eligible list; in `[0, eligible.len())` when any is.
    cursor: usize,
    /// Draws the starting position, so that many clients do not all start at backend 0.
    rng: ChaCha8Rng,
}

impl RoundRobin {
    pub fn new(seed: u64) -> RoundRobin {
        RoundRobin { cursor: 0, rng: ChaCha8Rng::seed_from_u64(seed) }
    }
}

impl Algorithm for RoundRobin {
    const USES_KEY: bool = false;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        let len = backends.eligible().len();
        if change == Change::All && len > 0 {
            self.cursor = super::hash::bounded(self.rng.next_u64(), len);
        } else if self.cursor >= len {
            self.cursor = 0;
        }
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let eligible = backends.eligible();
        let index = *eligible.get(self.cursor)?;
        self.cursor += 1;
        if self.cursor == eligible.len() {
            self.cursor = 0;
        }
        Some(index)
    }
}
