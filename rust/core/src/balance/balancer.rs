//! `Balancer`: a backend set plus one selection algorithm, and the `Algorithm` trait each
//! algorithm implements.
//!
//! The backend set owns names, weights, health and requests in flight; an algorithm owns only
//! what it derives from them (a table, a ring, counters) and is told of every change through
//! [`Algorithm::rebuild`]. So adding a backend, marking one down or ending a slow-start ramp is
//! written once, here.

use super::backends::{Backends, Health};
use super::error::BalanceError;

/// What changed in the backend set since the last `rebuild`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Everything (construction).
    All,
    /// A backend was appended at this index.
    Added(usize),
    /// The backend at this index was removed; later indexes moved down by one.
    Removed(usize),
    /// A backend went up or down (so the eligible set may have changed).
    Health,
    /// Effective weights moved (slow start).
    Weights,
}

/// A selection algorithm over a [`Backends`] set.
pub trait Algorithm {
    /// Whether `pick_key` uses the key (hash balancers); the others ignore it.
    const USES_KEY: bool;

    /// Brings the derived state up to date after `change`.
    fn rebuild(&mut self, backends: &Backends, change: Change);

    /// An eligible backend's index, or `None` when no backend is eligible. Hash balancers
    /// hash a key drawn from their seeded generator.
    fn pick(&mut self, backends: &Backends) -> Option<usize>;

    /// The eligible backend for the key whose hash is `key_hash` (see `hash::key_hash_*`).
    fn pick_key(&mut self, backends: &Backends, key_hash: u64) -> Option<usize> {
        let _ = key_hash;
        self.pick(backends)
    }

    /// A request to `index` finished after `latency_ms`, at `now_ms`; `ok` is its outcome.
    fn observe(&mut self, backends: &Backends, index: usize, latency_ms: f64, ok: bool, now_ms: f64) {
        let _ = (backends, index, latency_ms, ok, now_ms);
    }
}

/// A backend set and the algorithm that selects from it.
#[derive(Clone, Debug)]
pub struct Balancer<A> {
    backends: Backends,
    algorithm: A,
}

impl<A: Algorithm> Balancer<A> {
    /// A balancer over `(name, weight)` backends.
    pub fn new<S: AsRef<str>>(backends: &[(S, u32)], health: Health, mut algorithm: A) -> Result<Self, BalanceError> {
        let backends = Backends::new(backends, health)?;
        algorithm.rebuild(&backends, Change::All);
        Ok(Balancer { backends, algorithm })
    }

    /// A balancer over equally weighted backends with default health options.
    pub fn with_names<S: AsRef<str>>(names: &[S], algorithm: A) -> Result<Self, BalanceError> {
        let backends: Vec<(&str, u32)> = names.iter().map(|name| (name.as_ref(), 1)).collect();
        Balancer::new(&backends, Health::default(), algorithm)
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// An eligible backend's index; `None` when no backend is eligible.
    #[inline]
    pub fn pick(&mut self) -> Option<usize> {
        self.algorithm.pick(&self.backends)
    }

    /// The backend for a key hash (balancers that do not hash ignore it and `pick`).
    #[inline]
    pub fn pick_key(&mut self, key_hash: u64) -> Option<usize> {
        if A::USES_KEY {
            self.algorithm.pick_key(&self.backends, key_hash)
        } else {
            self.algorithm.pick(&self.backends)
        }
    }

    /// Adds a backend at the end (index `len - 1`); it ramps up if slow start is on.
    pub fn add(&mut self, name: &str, weight: u32) -> Result<usize, BalanceError> {
        let index = self.backends.add(name, weight)?;
        self.algorithm.rebuild(&self.backends, Change::Added(index));
        Ok(index)
    }

    /// Removes a backend; returns the index it had. Later indexes move down by one.
    pub fn remove(&mut self, name: &str) -> Result<usize, BalanceError> {
        let index = self.backends.remove(name)?;
        self.algorithm.rebuild(&self.backends, Change::Removed(index));
        Ok(index)
    }

    /// Marks a backend up (`true`) or down; returns whether that changed its state.
    pub fn set_up(&mut self, name: &str, up: bool) -> Result<bool, BalanceError> {
        let index = self.index(name)?;
        let changed = self.backends.set_up(index, up);
        if changed {
            self.algorithm.rebuild(&self.backends, Change::Health);
        }
        Ok(changed)
    }

    /// Counts a request to `name` in flight (least request, Peak-EWMA and bounded loads use it).
    pub fn start(&mut self, name: &str) -> Result<usize, BalanceError> {
        let index = self.index(name)?;
        self.backends.start(index);
        Ok(index)
    }

    /// Counts a request to `name` finished after `latency_ms` with outcome `ok`, at `now_ms`
    /// (which also moves time on, as `advance`).
    pub fn finish(&mut self, name: &str, latency_ms: f64, ok: bool, now_ms: f64) -> Result<(), BalanceError> {
        if !(latency_ms.is_finite() && latency_ms >= 0.0) {
            return Err(BalanceError::invalid("latency_ms", format!("{latency_ms} is not in [0, inf)")));
        }
        let index = self.index(name)?;
        self.backends.finish(index)?;
        self.advance(now_ms);
        self.algorithm.observe(&self.backends, index, latency_ms, ok, self.backends.now_ms());
        Ok(())
    }

    /// Moves time on to `now_ms` (milliseconds on any fixed origin; earlier times are ignored):
    /// slow-start ramps progress, Peak-EWMA estimates decay.
    pub fn advance(&mut self, now_ms: f64) {
        if self.backends.advance(now_ms) {
            self.algorithm.rebuild(&self.backends, Change::Weights);
        }
    }

    fn index(&self, name: &str) -> Result<usize, BalanceError> {
        self.backends.index_of(name).ok_or_else(|| BalanceError::UnknownBackend { name: name.to_owned() })
    }
}
