//! The backend set every balancer selects from: names, weights, health, requests in flight,
//! the panic threshold and slow start.
//!
//! A backend is known by its index, its position in insertion order: `add` appends, `remove`
//! shifts the later backends down by one (as `Vec::remove`). Names are unique.

use super::error::BalanceError;
use super::hash::name_hash;
use super::slow_start::SlowStart;
use std::collections::HashMap;

/// Backends in one set.
pub const MAX_BACKENDS: usize = 10_000;
/// Bytes of one backend's name (UTF-8), in `[1, MAX_NAME_BYTES]`.
pub const MAX_NAME_BYTES: usize = 1024;
/// Largest weight; weights are in `[1, MAX_WEIGHT]`.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// Envoy's default: when fewer than half the backends are up, select among all of them.
pub const DEFAULT_PANIC_THRESHOLD: f64 = 0.5;
/// Seed of the name hash the balancers share (ring points and Maglev use their own seeds).
const NAME_HASH_SEED: u64 = 0;

/// Options every balancer takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Health {
    /// Share of backends that must be up, in `[0, 1]`; below it every backend is eligible
    /// (Envoy's panic mode: better to load the sick than to overload the few healthy). 0 never
    /// panics: with every backend down, nothing is picked.
    pub panic_threshold: f64,
    pub slow_start: SlowStart,
}

impl Default for Health {
    fn default() -> Self {
        Health { panic_threshold: DEFAULT_PANIC_THRESHOLD, slow_start: SlowStart::default() }
    }
}

#[derive(Clone, Debug)]
pub struct Backends {
    /// Unique names, in insertion order; the index of a backend is its position here.
    names: Vec<String>,
    /// `index_of[names[i]] == i` for every `i`.
    index_of: HashMap<String, usize>,
    /// XXH3-64 of each name (seed 0), cached for the hash balancers.
    name_hashes: Vec<u64>,
    /// Configured weights, each in `[1, MAX_WEIGHT]`.
    weights: Vec<u32>,
    /// Whether each backend is up (marked by a detector or the user).
    up: Vec<bool>,
    /// Number of `true` in `up`.
    up_count: usize,
    /// Requests in flight per backend (`start` minus `finish`).
    in_flight: Vec<u32>,
    /// Sum of `in_flight`.
    total_in_flight: u64,
    /// When each backend was added, for the ones still ramping up (slow start).
    ramp_start_ms: Vec<Option<f64>>,
    health: Health,
    /// The largest time given to `advance` or `finish`, in milliseconds.
    now_ms: f64,
    /// `up_count < panic_threshold * len`: every backend is eligible.
    panic: bool,
    /// Indexes of the eligible backends (the up ones, or all in panic mode), ascending.
    eligible: Vec<usize>,
}

impl Backends {
    /// A set of `(name, weight)` backends, all up, none ramping.
    pub fn new<S: AsRef<str>>(backends: &[(S, u32)], health: Health) -> Result<Backends, BalanceError> {
        health.slow_start.validate()?;
        if !(0.0..=1.0).contains(&health.panic_threshold) {
            return Err(BalanceError::invalid(
                "panic_threshold",
                format!("{} is not in [0, 1]", health.panic_threshold),
            ));
        }
        if backends.len() > MAX_BACKENDS {
            return Err(BalanceError::invalid("backends", format!("more than MAX_BACKENDS ({MAX_BACKENDS})")));
        }
        let mut set = Backends {
            names: Vec::with_capacity(backends.len()),
            index_of: HashMap::with_capacity(backends.len()),
            name_hashes: Vec::with_capacity(backends.len()),
            weights: Vec::with_capacity(backends.len()),
            up: Vec::with_capacity(backends.len()),
            up_count: 0,
            in_flight: Vec::with_capacity(backends.len()),
            total_in_flight: 0,
            ramp_start_ms: Vec::with_capacity(backends.len()),
            health,
            now_ms: 0.0,
            panic: false,
            eligible: Vec::with_capacity(backends.len()),
        };
        for (name, weight) in backends {
            set.push(name.as_ref(), *weight, None)?;
        }
        set.update_eligible();
        Ok(set)
    }

    fn push(&mut self, name: &str, weight: u32, ramp_start_ms: Option<f64>) -> Result<usize, BalanceError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(BalanceError::invalid("name", format!("{name:.40?} is not 1 to {MAX_NAME_BYTES} bytes")));
        }
        if !(1..=MAX_WEIGHT).contains(&weight) {
            return Err(BalanceError::invalid("weight", format!("{weight} for {name:?} is not in [1, {MAX_WEIGHT}]")));
        }
        if self.index_of.contains_key(name) {
            return Err(BalanceError::DuplicateBackend { name: name.to_owned() });
        }
        if self.names.len() >= MAX_BACKENDS {
            return Err(BalanceError::invalid("backends", format!("more than MAX_BACKENDS ({MAX_BACKENDS})")));
        }
        let index = self.names.len();
        self.index_of.insert(name.to_owned(), index);
        self.names.push(name.to_owned());
        self.name_hashes.push(name_hash(name, NAME_HASH_SEED));
        self.weights.push(weight);
        self.up.push(true);
        self.up_count += 1;
        self.in_flight.push(0);
        self.ramp_start_ms.push(ramp_start_ms);
        Ok(index)
    }

    /// Appends a backend, up, ramping from now if slow start is on; returns its index.
    pub(crate) fn add(&mut self, name: &str, weight: u32) -> Result<usize, BalanceError> {
        let ramp = (self.health.slow_start.window_ms > 0.0).then_some(self.now_ms);
        let index = self.push(name, weight, ramp)?;
        self.update_eligible();
        Ok(index)
    }

    /// Removes the backend `name`; returns the index it had (later indexes shift down by one).
    pub(crate) fn remove(&mut self, name: &str) -> Result<usize, BalanceError> {
        let Some(index) = self.index_of.remove(name) else {
            return Err(BalanceError::UnknownBackend { name: name.to_owned() });
        };
        self.names.remove(index);
        self.name_hashes.remove(index);
        self.weights.remove(index);
        if self.up.remove(index) {
            self.up_count -= 1;
        }
        self.total_in_flight -= u64::from(self.in_flight.remove(index));
        self.ramp_start_ms.remove(index);
        for later in &self.names[index..] {
            *self.index_of.get_mut(later).expect("every name is indexed") -= 1;
        }
        self.update_eligible();
        Ok(index)
    }

    /// Marks backend `index` up or down; returns whether that changed anything.
    pub(crate) fn set_up(&mut self, index: usize, up: bool) -> bool {
        if self.up[index] == up {
            return false;
        }
        self.up[index] = up;
        if up {
            self.up_count += 1;
        } else {
            self.up_count -= 1;
        }
        self.update_eligible();
        true
    }

    fn update_eligible(&mut self) {
        let len = self.names.len();
        self.panic = (self.up_count as f64) < self.health.panic_threshold * len as f64;
        self.eligible.clear();
        self.eligible.extend((0..len).filter(|&i| self.panic || self.up[i]));
        debug_assert_eq!(self.up_count, self.up.iter().filter(|&&up| up).count());
    }

    /// Counts a request in flight to `index`.
    pub(crate) fn start(&mut self, index: usize) {
        self.in_flight[index] = self.in_flight[index].saturating_add(1);
        self.total_in_flight += 1;
    }

    /// Counts a request to `index` as finished.
    pub(crate) fn finish(&mut self, index: usize) -> Result<(), BalanceError> {
        if self.in_flight[index] == 0 {
            return Err(BalanceError::NotInFlight { name: self.names[index].clone() });
        }
        self.in_flight[index] -= 1;
        self.total_in_flight -= 1;
        Ok(())
    }

    /// Moves time on to `now_ms` (never back); returns whether an effective weight changed.
    pub(crate) fn advance(&mut self, now_ms: f64) -> bool {
        if now_ms.is_finite() && now_ms > self.now_ms {
            self.now_ms = now_ms;
        }
        let mut changed = false;
        for ramp in &mut self.ramp_start_ms {
            if let Some(start_ms) = *ramp {
                changed = true;
                if self.health.slow_start.factor(start_ms, self.now_ms).is_none() {
                    *ramp = None;
                }
            }
        }
        changed
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.names.len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    #[inline]
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }
    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index_of.get(name).copied()
    }
    #[inline]
    pub fn name_hash(&self, index: usize) -> u64 {
        self.name_hashes[index]
    }
    #[inline]
    pub fn weight(&self, index: usize) -> u32 {
        self.weights[index]
    }
    /// The weight slow start lets `index` have now, in `(0, weight]`.
    pub fn effective_weight(&self, index: usize) -> f64 {
        let weight = f64::from(self.weights[index]);
        match self.ramp_start_ms[index].and_then(|start| self.health.slow_start.factor(start, self.now_ms)) {
            Some(factor) => weight * factor,
            None => weight,
        }
    }
    /// Whether every configured weight is the same (the balancers' unweighted fast paths).
    pub fn weights_equal(&self) -> bool {
        self.weights.windows(2).all(|pair| pair[0] == pair[1]) && self.ramp_start_ms.iter().all(Option::is_none)
    }
    #[inline]
    pub fn is_up(&self, index: usize) -> bool {
        self.up[index]
    }
    pub fn up_count(&self) -> usize {
        self.up_count
    }
    /// Whether fewer than `panic_threshold` of the backends are up, so all are eligible.
    pub fn in_panic(&self) -> bool {
        self.panic
    }
    /// Whether `index` may be selected: it is up, or the set is in panic mode.
    #[inline]
    pub fn is_eligible(&self, index: usize) -> bool {
        self.panic || self.up[index]
    }
    /// The eligible indexes, ascending.
    #[inline]
    pub fn eligible(&self) -> &[usize] {
        &self.eligible
    }
    #[inline]
    pub fn in_flight(&self, index: usize) -> u32 {
        self.in_flight[index]
    }
    pub fn total_in_flight(&self) -> u64 {
        self.total_in_flight
    }
    pub fn now_ms(&self) -> f64 {
        self.now_ms
    }
    pub fn health(&self) -> Health {
        self.health
    }
}
