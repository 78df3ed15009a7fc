//! Maglev hashing (Eisenbud et al., NSDI 2016), weighted as Envoy's `MAGLEV`: a lookup table
//! of prime size `M` in which each eligible backend fills slots in the order of its own
//! permutation `(offset + j * skip) mod M`, taking turns in proportion to its weight, until
//! every slot is owned. A key goes to `table[key_hash * M >> 64]`: one multiplication and one
//! load.
//!
//! Backends take their turns sorted by name, and offset and skip come from the name's hash, so
//! the table is the same whatever order the backends were given in. The table is rebuilt over
//! the eligible backends whenever membership or health changes (Envoy does the same): a
//! backend that goes down gives its slots to the others, and the keys of the others move
//! little (the paper's "minimal disruption"). With `M >= 100 n` each backend's share of slots
//! is within about 1% of its weight's share.
//!
//! The default `M` is the smallest prime at least `max(65,537, 100 n)` for the `n` backends
//! given at construction; it stays fixed afterwards (a new size would move every key).

use super::backends::Backends;
use super::balancer::{Algorithm, Change};
use super::error::BalanceError;
use super::hash::{bounded, mix};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The default table size (prime), as Envoy's.
pub const DEFAULT_TABLE_SIZE: usize = 65_537;
/// Table slots per backend the default size aims for.
pub const SLOTS_PER_BACKEND: usize = 100;
/// Largest table (the default for `MAX_BACKENDS` is 1,000,003).
pub const MAX_TABLE_SIZE: usize = 4_194_301;
/// Seeds of the offset and skip hashes.
const OFFSET_SEED: u64 = 0x6d61_676c_6576_6f66;
const SKIP_SEED: u64 = 0x6d61_676c_6576_736b;
/// An unfilled slot while building.
const EMPTY: u32 = u32::MAX;

/// Whether `n` is prime (trial division; `n <= MAX_TABLE_SIZE`).
pub fn is_prime(n: usize) -> bool {
    if n < 2 {
        return false;
    }
    (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
}

/// The smallest prime `>= n`.
pub fn next_prime(n: usize) -> usize {
    (n.max(2)..).find(|&m| is_prime(m)).expect("primes are unbounded")
}

/// The default table size for `backends` backends.
pub fn default_table_size(backends: usize) -> usize {
    next_prime(DEFAULT_TABLE_SIZE.max(SLOTS_PER_BACKEND * backends))
}

#[derive(Clone, Debug)]
pub struct Maglev {
    /// `M`: prime, in `[2, MAX_TABLE_SIZE]`; 0 until the first build picks the default.
    size: usize,
    /// `M` slots, each an eligible backend's index; empty when none is eligible.
    table: Vec<u32>,
    /// Draws the keys of keyless picks.
    rng: ChaCha8Rng,
}

/// One backend's state while the table is built.
struct Filler {
    backend: u32,
    /// Current position of its permutation, in `[0, M)`.
    position: u64,
    /// In `[1, M)`.
    skip: u64,
    weight: u64,
    /// Turns are taken while `iteration * weight >= target`; grows by the largest weight.
    target: u64,
}

impl Maglev {
    /// A Maglev balancer; `table_size` must be prime (`None`: the default for the backends
    /// given at construction).
    pub fn new(seed: u64, table_size: Option<usize>) -> Result<Maglev, BalanceError> {
        let size = match table_size {
            None => 0,
            Some(size) if size <= MAX_TABLE_SIZE && is_prime(size) => size,
            Some(size) => {
                return Err(BalanceError::invalid("table_size", format!("{size} is not a prime <= {MAX_TABLE_SIZE}")))
            }
        };
        Ok(Maglev { size, table: Vec::new(), rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// `M`.
    pub fn table_size(&self) -> usize {
        self.size
    }

    /// The table: `M` backend indexes (empty when no backend is eligible).
    pub fn table(&self) -> &[u32] {
        &self.table
    }

    fn build(&mut self, backends: &Backends) {
        let m = self.size as u64;
        let mut fillers: Vec<Filler> = backends
            .eligible()
            .iter()
            .map(|&i| {
                let hash = backends.name_hash(i);
                Filler {
                    backend: i as u32,
                    position: mix(hash ^ OFFSET_SEED) % m,
                    skip: mix(hash ^ SKIP_SEED) % (m - 1) + 1,
                    weight: u64::from(backends.weight(i)),
                    target: 0,
                }
            })
            .collect();
        self.table.clear();
        if fillers.is_empty() {
            return;
        }
        fillers.sort_unstable_by(|a, b| backends.name(a.backend as usize).cmp(backends.name(b.backend as usize)));
        let max_weight = fillers.iter().map(|f| f.weight).max().expect("not empty");
        self.table.resize(self.size, EMPTY);
        let mut filled = 0;
        let mut iteration = 1u64;
        while filled < self.size {
            for filler in &mut fillers {
                if iteration * filler.weight < filler.target {
                    continue;
                }
                filler.target += max_weight;
                while self.table[filler.position as usize] != EMPTY {
                    filler.position += filler.skip;
                    if filler.position >= m {
                        filler.position -= m;
                    }
                }
                self.table[filler.position as usize] = filler.backend;
                filled += 1;
                if filled == self.size {
                    break;
                }
            }
            iteration += 1;
        }
    }
}

impl Algorithm for Maglev {
    const USES_KEY: bool = true;

    fn rebuild(&mut self, backends: &Backends, change: Change) {
        if change == Change::Weights {
            return; // configured weights only: slow start does not move keys
        }
        if self.size == 0 {
            self.size = default_table_size(backends.len());
        }
        self.build(backends);
    }

    #[inline]
    fn pick(&mut self, backends: &Backends) -> Option<usize> {
        let key_hash = self.rng.next_u64();
        self.pick_key(backends, key_hash)
    }

    #[inline]
    fn pick_key(&mut self, _backends: &Backends, key_hash: u64) -> Option<usize> {
        self.table.get(bounded(key_hash, self.table.len())).map(|&b| b as usize)
    }
}
