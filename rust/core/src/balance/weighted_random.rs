//! Weighted random by Walker's alias method (Vose's construction): O(1) per pick, one 64-bit
//! draw, whatever the number of backends; the table is rebuilt in O(n) on every change.

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::hash::bounded32;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The probability 1 in the alias table's fixed point.
const ONE: u64 = 1 << 32;

#[derive(Clone, Debug)]
pub struct WeightedRandom {
    rng: ChaCha8Rng,
    /// Column `c` picks `backend[c]` when a 32-bit coin is below `keep[c]` (in `[0, ONE]`),
    /// else `backend[alias[c]]`. One column per eligible backend.
    keep: Vec<u64>,
    alias: Vec<u32>,
    backend: Vec<usize>,
}

impl WeightedRandom {
    pub fn new(seed: u64) -> WeightedRandom {
        WeightedRandom {
            rng: ChaCha8Rng::seed_from_u64(seed),
            keep: Vec::new(),
            alias: Vec::new(),
            backend: Vec::new(),
        }
    }
}

impl Algorithm for WeightedRandom {
    const USES_KEY: bool = false;

    fn rebuild(&mut self, backends: &Backends, _change: Change) {
        let eligible = backends.eligible();
        let n = eligible.len();
        self.backend.clear();
        self.backend.extend_from_slice(eligible);
        self.keep.clear();
        self.alias.clear();
        self.alias.extend(0..n as u32);
        let total: f64 = eligible.iter().map(|&i| backends.effective_weight(i)).sum();
        // Scaled so that the mean column holds exactly 1.
        let mut scaled: Vec<f64> = eligible.iter().map(|&i| backends.effective_weight(i) * n as f64 / total).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&c| scaled[c] < 1.0);
        self.keep.resize(n, ONE);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            self.keep[s] = (scaled[s] * ONE as f64) as u64;
            self.alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left holds 1 up to rounding: it keeps its own column.
    }

    #[inline]
    fn pick(&mut self, _backends: &Backends) -> Option<usize> {
        let n = self.backend.len();
        if n == 0 {
            return None;
        }
        let r = self.rng.next_u64();
        let column = bounded32((r >> 32) as u32, n);
        let coin = r & 0xffff_ffff;
        let chosen = if coin < self.keep[column] { column } else { self.alias[column] as usize };
        Some(self.backend[chosen])
    }
}
