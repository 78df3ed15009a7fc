//! Load balancers: pick a backend for each request, by turn, by chance, by load, by latency
//! or by key.
//!
//! Every balancer is a [`Balancer`] over a [`Backends`] set (names, weights, up/down health,
//! requests in flight, the panic threshold and slow start) with one [`Algorithm`]:
//!
//! | algorithm | picks | per pick |
//! | --- | --- | --- |
//! | [`RoundRobin`] | the eligible backends in turn | O(1) |
//! | [`Random`] | uniformly | O(1) |
//! | [`WeightedRandom`] | by weight, alias method | O(1) |
//! | [`SmoothWeighted`] | by weight, interleaved as nginx | O(n) |
//! | [`LeastRequest`] | fewer requests in flight of two random, weighted | O(1) |
//! | [`PeakEwma`] | lower latency times load of two random | O(1) |
//! | [`RingHash`] | by key: ring with virtual nodes | O(1) expected |
//! | [`Maglev`] | by key: Maglev table | O(1) |
//! | [`Rendezvous`] | by key: highest random weight, weighted | O(n) |
//! | [`JumpHash`] | by key: jump consistent hash | O(ln n) |
//! | [`BoundedLoadHash`] | by key, no backend over `1 + epsilon` of its share | O(1) expected |
//!
//! The core is deterministic: randomness comes from a seeded ChaCha8 generator, time is an
//! argument (`advance`, `finish`), and keys are hashed with XXH3-64 ([`key_hash_bytes`],
//! [`key_hash_u64`]), the same on every platform.
//!
//! Only *eligible* backends are picked: the ones marked up, or, when fewer than
//! `panic_threshold` of them are up, all of them (Envoy's panic mode).

mod backends;
mod balancer;
mod bounded_load;
mod error;
mod hash;
mod jump_hash;
mod least_request;
mod maglev;
mod peak_ewma;
mod random;
mod rendezvous;
mod ring_hash;
mod round_robin;
mod slow_start;
mod smooth_weighted;
mod weighted_random;

pub use backends::{Backends, Health, DEFAULT_PANIC_THRESHOLD, MAX_BACKENDS, MAX_NAME_BYTES, MAX_WEIGHT};
pub use balancer::{Algorithm, Balancer, Change};
pub use bounded_load::{BoundedLoadHash, DEFAULT_EPSILON, MAX_EPSILON};
pub use error::BalanceError;
pub use hash::{key_hash_bytes, key_hash_u64};
pub use jump_hash::{jump, JumpHash, MAX_PROBES};
pub use least_request::{LeastRequest, DEFAULT_BIAS};
pub use maglev::{
    default_table_size, is_prime, next_prime, Maglev, DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, SLOTS_PER_BACKEND,
};
pub use peak_ewma::{
    PeakEwma, PeakEwmaOptions, DEFAULT_DECAY_MS, DEFAULT_FAILURE_LATENCY_MS, DEFAULT_INITIAL_LATENCY_MS,
};
pub use random::Random;
pub use rendezvous::Rendezvous;
pub use ring_hash::{Ring, RingHash, DEFAULT_VNODES, MAX_RING_POINTS, MAX_VNODES};
pub use round_robin::RoundRobin;
pub use slow_start::{SlowStart, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE};
pub use smooth_weighted::{SmoothWeighted, MAX_CYCLE_PICKS};
pub use weighted_random::WeightedRandom;
