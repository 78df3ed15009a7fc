//! The balancers of `senate_core::balance`, one class per algorithm.
//!
//! Each class wraps a core `Balancer` and keeps one interned Python `str` per backend, in the
//! core's index order, so that `pick()` hands out a cached object (a reference count, no
//! allocation). The shared methods are written once in `Shared` and stamped onto every class
//! by `balancer_class!`; only the constructors differ. See `_core.pyi` for the contract.

use crate::errors::{ConfigError, SenateError};
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use senate_core::balance::{
    self as core, Algorithm, BalanceError, Balancer, Health, PeakEwmaOptions, SlowStart, DEFAULT_AGGRESSION,
    DEFAULT_MIN_WEIGHT_SHARE,
};

create_exception!(senate, NoBackendAvailable, SenateError, "No backend is eligible: none is left, or all are down.");
create_exception!(senate, UnknownBackend, SenateError, "No backend has that name; `name` is the name asked for.");
create_exception!(senate, DuplicateBackend, SenateError, "A backend of that name is already present (`name`).");
create_exception!(senate, NotInFlight, SenateError, "`finish` was called for a backend with no request in flight.");

// Constructor defaults are written as literals, so that Python's `inspect` (and stubtest)
// sees them; a compile-time assertion at the end keeps them equal to the core's constants.

/// Picks one `pick_many(n)` call makes at most (8 bytes each while the list is built).
pub const MAX_PICK_MANY: usize = 100_000_000;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("NoBackendAvailable", py.get_type::<NoBackendAvailable>())?;
    m.add("UnknownBackend", py.get_type::<UnknownBackend>())?;
    m.add("DuplicateBackend", py.get_type::<DuplicateBackend>())?;
    m.add("NotInFlight", py.get_type::<NotInFlight>())?;
    for class in ["UnknownBackend", "DuplicateBackend", "NotInFlight"] {
        m.getattr(class)?.setattr("name", py.None())?;
    }
    m.add_class::<RoundRobin>()?;
    m.add_class::<Random>()?;
    m.add_class::<WeightedRandom>()?;
    m.add_class::<SmoothWeighted>()?;
    m.add_class::<LeastRequest>()?;
    m.add_class::<PeakEwma>()?;
    m.add_class::<RingHash>()?;
    m.add_class::<Maglev>()?;
    m.add_class::<Rendezvous>()?;
    m.add_class::<JumpHash>()?;
    m.add_class::<BoundedLoadHash>()?;
    Ok(())
}

fn balance_error(py: Python<'_>, err: BalanceError) -> PyErr {
    let message = err.to_string();
    let (err, attributes): (PyErr, Vec<(&str, String)>) = match err {
        BalanceError::DuplicateBackend { name } => (DuplicateBackend::new_err(message), vec![("name", name)]),
        BalanceError::UnknownBackend { name } => (UnknownBackend::new_err(message), vec![("name", name)]),
        BalanceError::NotInFlight { name } => (NotInFlight::new_err(message), vec![("name", name)]),
        BalanceError::InvalidOption { field, problem } => {
            (ConfigError::new_err(message), vec![("field", field.to_owned()), ("problem", problem)])
        }
    };
    for (attribute, value) in attributes {
        if let Err(setattr_err) = err.value(py).setattr(attribute, value) {
            return setattr_err;
        }
    }
    err
}

fn no_backend() -> PyErr {
    NoBackendAvailable::new_err("no backend is eligible")
}

/// `(name, weight)` pairs from a list (or tuple) of names, weight 1 each, or a dict of name to
/// weight.
fn backends_arg(backends: &Bound<'_, PyAny>) -> PyResult<Vec<(String, u32)>> {
    if let Ok(dict) = backends.cast::<PyDict>() {
        return dict.iter().map(|(name, weight)| Ok((name.extract::<String>()?, weight_arg(&weight)?))).collect();
    }
    if backends.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("backends must be a list of names or a dict of name to weight, not a str"));
    }
    backends.try_iter()?.map(|name| Ok((name?.extract::<String>()?, 1))).collect()
}

fn weight_arg(weight: &Bound<'_, PyAny>) -> PyResult<u32> {
    // Out-of-range weights reach the core, which names the field; only non-ints stop here.
    let weight: i64 = weight.extract()?;
    Ok(u32::try_from(weight).unwrap_or(0))
}

/// The hash of a key: a `str` (as UTF-8), `bytes`, or an `int` (taken modulo 2**64).
#[inline]
fn key_hash(key: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(int) = key.cast::<PyInt>() {
        // SAFETY: `int` is a live int object; this call never fails for an int (it wraps
        // modulo 2**64), so there is no error indicator to check.
        let value = unsafe { pyo3::ffi::PyLong_AsUnsignedLongLongMask(int.as_ptr()) };
        return Ok(core::key_hash_u64(value));
    }
    if let Ok(text) = key.cast::<PyString>() {
        return Ok(core::key_hash_bytes(text.encode_utf8()?.as_bytes()));
    }
    if let Ok(bytes) = key.cast::<PyBytes>() {
        return Ok(core::key_hash_bytes(bytes.as_bytes()));
    }
    Err(PyTypeError::new_err(format!("a key is a str, bytes or int, not {}", key.get_type().name()?)))
}

fn health(panic_threshold: f64, slow_start_ms: f64, aggression: f64, min_weight_share: f64) -> Health {
    Health { panic_threshold, slow_start: SlowStart { window_ms: slow_start_ms, aggression, min_weight_share } }
}

/// What every class holds: the core balancer and the backends' names as Python strings.
struct Shared<A> {
    inner: Balancer<A>,
    /// `names[i]` is backend `i`'s name, interned.
    names: Vec<Py<PyString>>,
}

impl<A: Algorithm> Shared<A> {
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        health: Health,
        algorithm: Result<A, BalanceError>,
    ) -> PyResult<Self> {
        let algorithm = algorithm.map_err(|e| balance_error(py, e))?;
        let backends = backends_arg(backends)?;
        let inner = Balancer::new(&backends, health, algorithm).map_err(|e| balance_error(py, e))?;
        let names = inner.backends().names().iter().map(|name| PyString::intern(py, name).unbind()).collect();
        Ok(Shared { inner, names })
    }

    #[inline]
    fn pick(&mut self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyString>> {
        // Balancers that do not hash still refuse a key of the wrong type.
        let index = match key {
            Some(key) => self.inner.pick_key(key_hash(key)?),
            None => self.inner.pick(),
        };
        match index {
            Some(index) => Ok(self.names[index].clone_ref(py)),
            None => Err(no_backend()),
        }
    }

    fn pick_many<'py>(&mut self, py: Python<'py>, n_or_keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let mut indexes = Vec::new();
        if let Ok(n) = n_or_keys.cast::<PyInt>() {
            let n: usize = n.extract()?;
            if n > MAX_PICK_MANY {
                return Err(PyValueError::new_err(format!("n is more than MAX_PICK_MANY ({MAX_PICK_MANY})")));
            }
            indexes.reserve_exact(n);
            for _ in 0..n {
                indexes.push(self.inner.pick().ok_or_else(no_backend)?);
            }
        } else if let Ok(list) = n_or_keys.cast::<PyList>() {
            indexes.reserve_exact(list.len());
            for key in list.iter() {
                indexes.push(self.pick_index(&key)?);
            }
        } else if let Ok(tuple) = n_or_keys.cast::<PyTuple>() {
            indexes.reserve_exact(tuple.len());
            for key in tuple.iter() {
                indexes.push(self.pick_index(&key)?);
            }
        } else {
            for key in n_or_keys.try_iter()? {
                indexes.push(self.pick_index(&key?)?);
            }
        }
        PyList::new(py, indexes.iter().map(|&index| self.names[index].bind(py)))
    }

    #[inline]
    fn pick_index(&mut self, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.inner.pick_key(key_hash(key)?).ok_or_else(no_backend)
    }

    fn add(&mut self, py: Python<'_>, name: &str, weight: i64) -> PyResult<()> {
        let weight = u32::try_from(weight).unwrap_or(0);
        let index = self.inner.add(name, weight).map_err(|e| balance_error(py, e))?;
        self.names.insert(index, PyString::intern(py, name).unbind());
        Ok(())
    }

    fn remove(&mut self, py: Python<'_>, name: &str) -> PyResult<()> {
        let index = self.inner.remove(name).map_err(|e| balance_error(py, e))?;
        self.names.remove(index);
        Ok(())
    }

    fn set_up(&mut self, py: Python<'_>, name: &str, up: bool) -> PyResult<bool> {
        self.inner.set_up(name, up).map_err(|e| balance_error(py, e))
    }

    fn start(&mut self, py: Python<'_>, name: &str) -> PyResult<()> {
        self.inner.start(name).map(drop).map_err(|e| balance_error(py, e))
    }

    fn finish(&mut self, py: Python<'_>, name: &str, latency_ms: f64, ok: bool, now_ms: Option<f64>) -> PyResult<()> {
        let now_ms = now_ms.unwrap_or(self.inner.backends().now_ms());
        self.inner.finish(name, latency_ms, ok, now_ms).map_err(|e| balance_error(py, e))
    }

    fn index(&self, py: Python<'_>, name: &str) -> PyResult<usize> {
        let unknown = || BalanceError::UnknownBackend { name: name.to_owned() };
        self.inner.backends().index_of(name).ok_or_else(|| balance_error(py, unknown()))
    }
}

/// A balancer class: the constructor given, then the methods every balancer has.
macro_rules! balancer_class {
    ($class:ident, $algorithm:ty, $doc:literal, { $($constructor:tt)* }) => {
        #[doc = $doc]
        #[pyclass(module = "senate._core")]
        pub struct $class {
            shared: Shared<$algorithm>,
        }

        #[pymethods]
        impl $class {
            $($constructor)*

            #[pyo3(signature = (key = None))]
            #[inline]
            fn pick(&mut self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyString>> {
                self.shared.pick(py, key)
            }

            fn pick_many<'py>(&mut self, py: Python<'py>, n_or_keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
                self.shared.pick_many(py, n_or_keys)
            }

            #[pyo3(signature = (name, weight = 1))]
            fn add(&mut self, py: Python<'_>, name: &str, weight: i64) -> PyResult<()> {
                self.shared.add(py, name, weight)
            }

            fn remove(&mut self, py: Python<'_>, name: &str) -> PyResult<()> {
                self.shared.remove(py, name)
            }

            fn mark_down(&mut self, py: Python<'_>, name: &str) -> PyResult<bool> {
                self.shared.set_up(py, name, false)
            }

            fn mark_up(&mut self, py: Python<'_>, name: &str) -> PyResult<bool> {
                self.shared.set_up(py, name, true)
            }

            fn start(&mut self, py: Python<'_>, name: &str) -> PyResult<()> {
                self.shared.start(py, name)
            }

            #[pyo3(signature = (name, latency_ms = 0.0, ok = true, now_ms = None))]
            fn finish(&mut self, py: Python<'_>, name: &str, latency_ms: f64, ok: bool, now_ms: Option<f64>) -> PyResult<()> {
                self.shared.finish(py, name, latency_ms, ok, now_ms)
            }

            fn advance(&mut self, now_ms: f64) {
                self.shared.inner.advance(now_ms)
            }

            #[pyo3(signature = (key = None))]
            fn request<'py>(slf: &Bound<'py, Self>, key: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
                let py = slf.py();
                py.import("senate.balance")?.getattr("Request")?.call1((slf, key))
            }

            #[getter]
            fn backends<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
                PyList::new(py, self.shared.names.iter().map(|name| name.bind(py)))
            }

            #[getter]
            fn in_panic(&self) -> bool {
                self.shared.inner.backends().in_panic()
            }

            fn weight(&self, py: Python<'_>, name: &str) -> PyResult<u32> {
                let index = self.shared.index(py, name)?;
                Ok(self.shared.inner.backends().weight(index))
            }

            fn is_up(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
                let index = self.shared.index(py, name)?;
                Ok(self.shared.inner.backends().is_up(index))
            }

            fn in_flight(&self, py: Python<'_>, name: &str) -> PyResult<u32> {
                let index = self.shared.index(py, name)?;
                Ok(self.shared.inner.backends().in_flight(index))
            }

            fn __len__(&self) -> usize {
                self.shared.names.len()
            }

            fn __contains__(&self, name: &str) -> bool {
                self.shared.inner.backends().index_of(name).is_some()
            }

            fn __repr__(&self) -> String {
                let backends = self.shared.inner.backends();
                format!("{}({} backends, {} up)", stringify!($class), backends.len(), backends.up_count())
            }
        }
    };
}

balancer_class!(RoundRobin, core::RoundRobin, "Round robin over the eligible backends.", {
    #[new]
    #[pyo3(signature = (backends, *, seed = 0, panic_threshold = 0.5))]
    fn new(py: Python<'_>, backends: &Bound<'_, PyAny>, seed: u64, panic_threshold: f64) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        Ok(RoundRobin { shared: Shared::new(py, backends, health, Ok(core::RoundRobin::new(seed)))? })
    }
});

balancer_class!(Random, core::Random, "A uniformly random eligible backend.", {
    #[new]
    #[pyo3(signature = (backends, *, seed = 0, panic_threshold = 0.5))]
    fn new(py: Python<'_>, backends: &Bound<'_, PyAny>, seed: u64, panic_threshold: f64) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        Ok(Random { shared: Shared::new(py, backends, health, Ok(core::Random::new(seed)))? })
    }
});

balancer_class!(WeightedRandom, core::WeightedRandom, "A random backend drawn by weight (alias method).", {
    #[new]
    #[pyo3(signature = (
        backends, *, seed = 0, panic_threshold = 0.5, slow_start_ms = 0.0,
        slow_start_aggression = 1.0, slow_start_min_weight_share = 0.1,
    ))]
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        seed: u64,
        panic_threshold: f64,
        slow_start_ms: f64,
        slow_start_aggression: f64,
        slow_start_min_weight_share: f64,
    ) -> PyResult<Self> {
        let health = health(panic_threshold, slow_start_ms, slow_start_aggression, slow_start_min_weight_share);
        Ok(WeightedRandom { shared: Shared::new(py, backends, health, Ok(core::WeightedRandom::new(seed)))? })
    }
});

balancer_class!(SmoothWeighted, core::SmoothWeighted, "Smooth weighted round robin, as nginx.", {
    #[new]
    #[pyo3(signature = (
        backends, *, panic_threshold = 0.5, slow_start_ms = 0.0,
        slow_start_aggression = 1.0, slow_start_min_weight_share = 0.1,
    ))]
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        panic_threshold: f64,
        slow_start_ms: f64,
        slow_start_aggression: f64,
        slow_start_min_weight_share: f64,
    ) -> PyResult<Self> {
        let health = health(panic_threshold, slow_start_ms, slow_start_aggression, slow_start_min_weight_share);
        Ok(SmoothWeighted { shared: Shared::new(py, backends, health, Ok(core::SmoothWeighted::new()))? })
    }
});

balancer_class!(LeastRequest, core::LeastRequest, "Least request by the power of two choices, weighted.", {
    #[new]
    #[pyo3(signature = (
        backends, *, seed = 0, bias = 1.0, panic_threshold = 0.5,
        slow_start_ms = 0.0, slow_start_aggression = 1.0,
        slow_start_min_weight_share = 0.1,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        seed: u64,
        bias: f64,
        panic_threshold: f64,
        slow_start_ms: f64,
        slow_start_aggression: f64,
        slow_start_min_weight_share: f64,
    ) -> PyResult<Self> {
        let health = health(panic_threshold, slow_start_ms, slow_start_aggression, slow_start_min_weight_share);
        Ok(LeastRequest { shared: Shared::new(py, backends, health, core::LeastRequest::new(seed, bias))? })
    }
});

balancer_class!(PeakEwma, core::PeakEwma, "Peak-EWMA latency-aware power of two choices.", {
    #[new]
    #[pyo3(signature = (
        backends, *, seed = 0, decay_ms = 10000.0,
        initial_latency_ms = 30.0,
        failure_latency_ms = 1000.0, panic_threshold = 0.5,
    ))]
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        seed: u64,
        decay_ms: f64,
        initial_latency_ms: f64,
        failure_latency_ms: f64,
        panic_threshold: f64,
    ) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        let options = PeakEwmaOptions { decay_ms, initial_latency_ms, failure_latency_ms };
        Ok(PeakEwma { shared: Shared::new(py, backends, health, core::PeakEwma::new(seed, options))? })
    }

    /// The latency estimate of `name` decayed to `now_ms` (default: the latest time seen).
    #[pyo3(signature = (name, now_ms = None))]
    fn latency_estimate_ms(&self, py: Python<'_>, name: &str, now_ms: Option<f64>) -> PyResult<f64> {
        let index = self.shared.index(py, name)?;
        let now_ms = now_ms.unwrap_or(self.shared.inner.backends().now_ms());
        Ok(self.shared.inner.algorithm().latency_estimate_ms(index, now_ms))
    }
});

balancer_class!(RingHash, core::RingHash, "Ring hash with virtual nodes (Ketama style).", {
    #[new]
    #[pyo3(signature = (backends, *, seed = 0, vnodes = 160, panic_threshold = 0.5))]
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        seed: u64,
        vnodes: u32,
        panic_threshold: f64,
    ) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        Ok(RingHash { shared: Shared::new(py, backends, health, core::RingHash::new(seed, vnodes))? })
    }
});

balancer_class!(Maglev, core::Maglev, "Maglev consistent hashing, weighted.", {
    #[new]
    #[pyo3(signature = (backends, *, seed = 0, table_size = None, panic_threshold = 0.5))]
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        seed: u64,
        table_size: Option<usize>,
        panic_threshold: f64,
    ) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        Ok(Maglev { shared: Shared::new(py, backends, health, core::Maglev::new(seed, table_size))? })
    }

    /// `M`, the number of slots of the lookup table (prime).
    #[getter]
    fn table_size(&self) -> usize {
        self.shared.inner.algorithm().table_size()
    }
});

balancer_class!(Rendezvous, core::Rendezvous, "Weighted rendezvous (highest random weight) hashing.", {
    #[new]
    #[pyo3(signature = (backends, *, seed = 0, panic_threshold = 0.5))]
    fn new(py: Python<'_>, backends: &Bound<'_, PyAny>, seed: u64, panic_threshold: f64) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        Ok(Rendezvous { shared: Shared::new(py, backends, health, Ok(core::Rendezvous::new(seed)))? })
    }
});

balancer_class!(JumpHash, core::JumpHash, "Jump consistent hash.", {
    #[new]
    #[pyo3(signature = (backends, *, seed = 0, panic_threshold = 0.5))]
    fn new(py: Python<'_>, backends: &Bound<'_, PyAny>, seed: u64, panic_threshold: f64) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        Ok(JumpHash { shared: Shared::new(py, backends, health, Ok(core::JumpHash::new(seed)))? })
    }
});

balancer_class!(BoundedLoadHash, core::BoundedLoadHash, "Consistent hashing with bounded loads.", {
    #[new]
    #[pyo3(signature = (
        backends, *, seed = 0, vnodes = 160, epsilon = 0.25,
        panic_threshold = 0.5,
    ))]
    fn new(
        py: Python<'_>,
        backends: &Bound<'_, PyAny>,
        seed: u64,
        vnodes: u32,
        epsilon: f64,
        panic_threshold: f64,
    ) -> PyResult<Self> {
        let health = health(panic_threshold, 0.0, DEFAULT_AGGRESSION, DEFAULT_MIN_WEIGHT_SHARE);
        Ok(BoundedLoadHash {
            shared: Shared::new(py, backends, health, core::BoundedLoadHash::new(seed, vnodes, epsilon))?,
        })
    }
});

// The literal defaults of the constructors, checked against the core's constants at compile time.
const _: () = {
    assert!(core::DEFAULT_PANIC_THRESHOLD == 0.5);
    assert!(DEFAULT_AGGRESSION == 1.0);
    assert!(DEFAULT_MIN_WEIGHT_SHARE == 0.1);
    assert!(core::DEFAULT_BIAS == 1.0);
    assert!(core::DEFAULT_DECAY_MS == 10000.0);
    assert!(core::DEFAULT_INITIAL_LATENCY_MS == 30.0);
    assert!(core::DEFAULT_FAILURE_LATENCY_MS == 1000.0);
    assert!(core::DEFAULT_VNODES == 160);
    assert!(core::DEFAULT_EPSILON == 0.25);
};
