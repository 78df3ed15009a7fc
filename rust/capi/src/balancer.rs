//! `senate_balancer`: every balancer of `senate_core::balance` behind one handle type, chosen
//! by `senate_algorithm` when it is made (as the Python classes `senate._core.RoundRobin`,
//! ..., `BoundedLoadHash`).
//!
//! Backends are known by name (NUL-terminated UTF-8) and by index (`[0, backend_count)`, the
//! core's order, which `add` and `remove` shift). Picks return an index; its name is
//! `senate_balancer_name`. Key hashes are the core's (XXH3-64), so a key's bytes pick the same
//! backend here as the same `bytes` or `str` key in Python, and a `uint64_t` key the same as
//! that `int` key.

use crate::call::{call, input, out, slice, string};
use crate::code::{senate_code, Error, Result};
use crate::handle::{self, opaque_handle};
use senate_core::balance::{
    self as core, Algorithm, Backends, BalanceError, Balancer, Health, PeakEwmaOptions, SlowStart,
};
use std::any::Any;
use std::ffi::{c_char, CString};

/// The algorithms, one per Python class of the same name.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_algorithm {
    /// The eligible backends in turn.
    RoundRobin = 0,
    /// Uniformly at random.
    Random = 1,
    /// At random by weight (alias method).
    WeightedRandom = 2,
    /// Smooth weighted round robin, as nginx.
    SmoothWeighted = 3,
    /// Fewer requests in flight of two random picks, weighted.
    LeastRequest = 4,
    /// Lower latency times load of two random picks.
    PeakEwma = 5,
    /// By key: a ring with virtual nodes.
    RingHash = 6,
    /// By key: a Maglev lookup table, weighted.
    Maglev = 7,
    /// By key: weighted rendezvous (highest random weight).
    Rendezvous = 8,
    /// By key: jump consistent hash.
    JumpHash = 9,
    /// By key, no backend over `1 + epsilon` times its share of the load.
    BoundedLoadHash = 10,
}

const ALGORITHMS: [senate_algorithm; 11] = [
    senate_algorithm::RoundRobin,
    senate_algorithm::Random,
    senate_algorithm::WeightedRandom,
    senate_algorithm::SmoothWeighted,
    senate_algorithm::LeastRequest,
    senate_algorithm::PeakEwma,
    senate_algorithm::RingHash,
    senate_algorithm::Maglev,
    senate_algorithm::Rendezvous,
    senate_algorithm::JumpHash,
    senate_algorithm::BoundedLoadHash,
];

fn algorithm_of(value: u32) -> Result<senate_algorithm> {
    ALGORITHMS
        .get(value as usize)
        .copied()
        .ok_or_else(|| Error::new(senate_code::InvalidArgument, format!("algorithm {value} is not a senate_algorithm")))
}

/// How to make a balancer. Fill it with `senate_balancer_options_default`, then change what
/// you need; fields an algorithm does not use are ignored.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_balancer_options {
    /// A `senate_algorithm` value (an integer, so that no C value is out of the enum's range).
    pub algorithm: u32,
    /// The seed of the balancer's generator (and of the hashing ones' layout).
    pub seed: u64,
    /// Below this share of backends up, all are eligible (Envoy's panic mode), in `[0, 1]`.
    pub panic_threshold: f64,
    /// A backend marked up or added ramps its weight up over this many ms (0: off).
    pub slow_start_ms: f64,
    /// The curve of the ramp (1: linear).
    pub slow_start_aggression: f64,
    /// The share of its weight a backend starts its ramp at.
    pub slow_start_min_weight_share: f64,
    /// Least request: how strongly in-flight requests count against weight.
    pub bias: f64,
    /// Peak-EWMA: the decay time of the latency estimate, ms.
    pub decay_ms: f64,
    /// Peak-EWMA: the estimate of a backend not measured yet, ms.
    pub initial_latency_ms: f64,
    /// Peak-EWMA: the latency a failed request counts as, ms.
    pub failure_latency_ms: f64,
    /// Ring hash and bounded-load hash: virtual nodes per unit of weight.
    pub vnodes: u32,
    /// Maglev: slots of the lookup table (a prime); 0 picks one from the number of backends.
    pub table_size: usize,
    /// Bounded-load hash: a backend takes at most `1 + epsilon` times its share.
    pub epsilon: f64,
}

/// A core balancer of any algorithm, as one type.
trait AnyBalancer: Send {
    fn pick(&mut self) -> Option<usize>;
    fn pick_key(&mut self, key_hash: u64) -> Option<usize>;
    fn add(&mut self, name: &str, weight: u32) -> std::result::Result<usize, BalanceError>;
    fn remove(&mut self, name: &str) -> std::result::Result<usize, BalanceError>;
    fn set_up(&mut self, name: &str, up: bool) -> std::result::Result<bool, BalanceError>;
    fn start(&mut self, name: &str) -> std::result::Result<usize, BalanceError>;
    fn finish(&mut self, name: &str, latency_ms: f64, ok: bool, now_ms: f64) -> std::result::Result<(), BalanceError>;
    fn advance(&mut self, now_ms: f64);
    fn backends(&self) -> &Backends;
    fn as_any(&self) -> &dyn Any;
}

impl<A: Algorithm + Send + 'static> AnyBalancer for Balancer<A> {
    #[inline]
    fn pick(&mut self) -> Option<usize> {
        Balancer::pick(self)
    }
    #[inline]
    fn pick_key(&mut self, key_hash: u64) -> Option<usize> {
        Balancer::pick_key(self, key_hash)
    }
    fn add(&mut self, name: &str, weight: u32) -> std::result::Result<usize, BalanceError> {
        Balancer::add(self, name, weight)
    }
    fn remove(&mut self, name: &str) -> std::result::Result<usize, BalanceError> {
        Balancer::remove(self, name)
    }
    fn set_up(&mut self, name: &str, up: bool) -> std::result::Result<bool, BalanceError> {
        Balancer::set_up(self, name, up)
    }
    fn start(&mut self, name: &str) -> std::result::Result<usize, BalanceError> {
        Balancer::start(self, name)
    }
    fn finish(&mut self, name: &str, latency_ms: f64, ok: bool, now_ms: f64) -> std::result::Result<(), BalanceError> {
        Balancer::finish(self, name, latency_ms, ok, now_ms)
    }
    fn advance(&mut self, now_ms: f64) {
        Balancer::advance(self, now_ms)
    }
    fn backends(&self) -> &Backends {
        Balancer::backends(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What a balancer handle holds: the core balancer and the backends' names as C strings.
pub struct BalancerState {
    inner: Box<dyn AnyBalancer>,
    /// `names[i]` is backend `i`'s name, kept in the core's index order.
    names: Vec<CString>,
}

/// A balancer of any algorithm. Not thread-safe: one thread at a time (a pick changes its
/// state), and it may move between threads.
#[allow(non_camel_case_types)]
pub struct senate_balancer {
    _opaque: [u8; 0],
}

opaque_handle!(senate_balancer, BalancerState, 3);

/// Fills `*options` with the defaults of `algorithm` (a `senate_algorithm`). Thread-safe.
///
/// # Safety
/// `options` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_options_default(
    algorithm: u32,
    options: *mut senate_balancer_options,
) -> senate_code {
    call(|| {
        let options = out(options, "options")?;
        algorithm_of(algorithm)?;
        let slow_start = SlowStart::default();
        *options = senate_balancer_options {
            algorithm,
            seed: 0,
            panic_threshold: core::DEFAULT_PANIC_THRESHOLD,
            slow_start_ms: 0.0,
            slow_start_aggression: slow_start.aggression,
            slow_start_min_weight_share: slow_start.min_weight_share,
            bias: core::DEFAULT_BIAS,
            decay_ms: core::DEFAULT_DECAY_MS,
            initial_latency_ms: core::DEFAULT_INITIAL_LATENCY_MS,
            failure_latency_ms: core::DEFAULT_FAILURE_LATENCY_MS,
            vnodes: core::DEFAULT_VNODES,
            table_size: 0,
            epsilon: core::DEFAULT_EPSILON,
        };
        Ok(())
    })
}

fn boxed<A: Algorithm + Send + 'static>(
    backends: &[(&str, u32)],
    health: Health,
    algorithm: std::result::Result<A, BalanceError>,
) -> Result<Box<dyn AnyBalancer>> {
    Ok(Box::new(Balancer::new(backends, health, algorithm?)?))
}

fn build(options: &senate_balancer_options, backends: &[(&str, u32)]) -> Result<Box<dyn AnyBalancer>> {
    let o = options;
    let health = Health {
        panic_threshold: o.panic_threshold,
        slow_start: SlowStart {
            window_ms: o.slow_start_ms,
            aggression: o.slow_start_aggression,
            min_weight_share: o.slow_start_min_weight_share,
        },
    };
    let ewma = PeakEwmaOptions {
        decay_ms: o.decay_ms,
        initial_latency_ms: o.initial_latency_ms,
        failure_latency_ms: o.failure_latency_ms,
    };
    let table_size = (o.table_size != 0).then_some(o.table_size);
    match algorithm_of(o.algorithm)? {
        senate_algorithm::RoundRobin => boxed(backends, health, Ok(core::RoundRobin::new(o.seed))),
        senate_algorithm::Random => boxed(backends, health, Ok(core::Random::new(o.seed))),
        senate_algorithm::WeightedRandom => boxed(backends, health, Ok(core::WeightedRandom::new(o.seed))),
        senate_algorithm::SmoothWeighted => boxed(backends, health, Ok(core::SmoothWeighted::new())),
        senate_algorithm::LeastRequest => boxed(backends, health, core::LeastRequest::new(o.seed, o.bias)),
        senate_algorithm::PeakEwma => boxed(backends, health, core::PeakEwma::new(o.seed, ewma)),
        senate_algorithm::RingHash => boxed(backends, health, core::RingHash::new(o.seed, o.vnodes)),
        senate_algorithm::Maglev => boxed(backends, health, core::Maglev::new(o.seed, table_size)),
        senate_algorithm::Rendezvous => boxed(backends, health, Ok(core::Rendezvous::new(o.seed))),
        senate_algorithm::JumpHash => boxed(backends, health, Ok(core::JumpHash::new(o.seed))),
        senate_algorithm::BoundedLoadHash => {
            boxed(backends, health, core::BoundedLoadHash::new(o.seed, o.vnodes, o.epsilon))
        }
    }
}

fn c_names(backends: &Backends) -> Vec<CString> {
    // A name reached the core from a C string, so it holds no NUL.
    backends.names().iter().map(|name| CString::new(name.as_str()).expect("a backend name holds no NUL")).collect()
}

/// Makes a balancer over `count` backends: backend `i` is named `names[i]` with weight
/// `weights[i]` (all 1 when `weights` is NULL). The handle goes to `*balancer`; free it with
/// `senate_balancer_free`. Bad options give `SENATE_CODE_INVALID_CONFIG` naming the field.
/// Thread-safe.
///
/// # Safety
/// `options` is NULL or valid for reads; `names` holds `count` NUL-terminated strings;
/// `weights` is NULL or holds `count` weights; `balancer` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_new(
    options: *const senate_balancer_options,
    names: *const *const c_char,
    weights: *const u32,
    count: usize,
    balancer: *mut *mut senate_balancer,
) -> senate_code {
    call(|| {
        let balancer = out(balancer, "balancer")?;
        let options = input(options, "options")?;
        let name_ptrs = slice(names, count, "names")?;
        let weights = if weights.is_null() { None } else { Some(slice(weights, count, "weights")?) };
        let mut backends = Vec::with_capacity(count);
        for (i, &name) in name_ptrs.iter().enumerate() {
            backends.push((string(name, &format!("names[{i}]"))?, weights.map_or(1, |w| w[i])));
        }
        let inner = build(options, &backends)?;
        let names = c_names(inner.backends());
        *balancer = handle::into_raw::<senate_balancer>(BalancerState { inner, names });
        Ok(())
    })
}

/// Frees a balancer; NULL is a no-op. Names borrowed from it become invalid.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_free(balancer: *mut senate_balancer) -> senate_code {
    call(|| handle::free(balancer, "balancer"))
}

unsafe fn state<'a>(balancer: *mut senate_balancer) -> Result<&'a mut BalancerState> {
    handle::get_mut(balancer, "balancer")
}

fn picked(index: Option<usize>) -> Result<usize> {
    index.ok_or_else(|| Error::new(senate_code::NoBackend, "no backend is eligible"))
}

/// Picks a backend for a request without a key; `*index` gets its index.
/// `SENATE_CODE_NO_BACKEND` when none is eligible.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `index` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_pick(balancer: *mut senate_balancer, index: *mut usize) -> senate_code {
    call(|| {
        let index = out(index, "index")?;
        *index = picked(state(balancer)?.inner.pick())?;
        Ok(())
    })
}

/// Picks a backend for the key of `len` bytes at `key` (balancers that do not hash ignore
/// the key); `*index` gets its index.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `key` holds `len` bytes; `index` is NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_pick_key(
    balancer: *mut senate_balancer,
    key: *const u8,
    len: usize,
    index: *mut usize,
) -> senate_code {
    call(|| {
        let index = out(index, "index")?;
        let key_hash = core::key_hash_bytes(slice(key, len, "key")?);
        *index = picked(state(balancer)?.inner.pick_key(key_hash))?;
        Ok(())
    })
}

/// Picks a backend for an integer key (as a Python `int` key); `*index` gets its index.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `index` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_pick_key_u64(
    balancer: *mut senate_balancer,
    key: u64,
    index: *mut usize,
) -> senate_code {
    call(|| {
        let index = out(index, "index")?;
        *index = picked(state(balancer)?.inner.pick_key(core::key_hash_u64(key)))?;
        Ok(())
    })
}

/// `*count` gets the number of backends.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `count` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_backend_count(
    balancer: *const senate_balancer,
    count: *mut usize,
) -> senate_code {
    call(|| {
        let count = out(count, "count")?;
        *count = handle::get(balancer, "balancer")?.names.len();
        Ok(())
    })
}

/// `*name` gets the name of backend `index` (below the backend count), borrowed from the
/// balancer: valid until the next `add`, `remove` or `free`.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_name(
    balancer: *const senate_balancer,
    index: usize,
    name: *mut *const c_char,
) -> senate_code {
    call(|| {
        let name = out(name, "name")?;
        let names = &handle::get(balancer, "balancer")?.names;
        let Some(found) = names.get(index) else {
            return Err(Error::new(
                senate_code::InvalidArgument,
                format!("backend {index} is past the end (there are {})", names.len()),
            ));
        };
        *name = found.as_ptr();
        Ok(())
    })
}

fn index_of(state: &BalancerState, name: &str) -> Result<usize> {
    state.inner.backends().index_of(name).ok_or_else(|| BalanceError::UnknownBackend { name: name.to_owned() }.into())
}

/// What the balancer knows of one backend.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_backend_info {
    /// Its index, in `[0, backend_count)`.
    pub index: usize,
    pub weight: u32,
    /// Marked up (a backend is up until marked down).
    pub is_up: bool,
    /// Requests started and not finished.
    pub in_flight: u32,
}

/// Fills `*info` for the backend named `name`; `SENATE_CODE_UNKNOWN_BACKEND` if none is.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or a NUL-terminated string;
/// `info` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_backend(
    balancer: *const senate_balancer,
    name: *const c_char,
    info: *mut senate_backend_info,
) -> senate_code {
    call(|| {
        let info = out(info, "info")?;
        let state = handle::get(balancer, "balancer")?;
        let index = index_of(state, string(name, "name")?)?;
        let backends = state.inner.backends();
        *info = senate_backend_info {
            index,
            weight: backends.weight(index),
            is_up: backends.is_up(index),
            in_flight: backends.in_flight(index),
        };
        Ok(())
    })
}

/// Adds a backend (up, ramping up when slow start is on). Indexes at and after its own shift.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_add(
    balancer: *mut senate_balancer,
    name: *const c_char,
    weight: u32,
) -> senate_code {
    call(|| {
        let state = state(balancer)?;
        let name = string(name, "name")?;
        let index = state.inner.add(name, weight)?;
        state.names.insert(index, CString::new(name).expect("a C string holds no NUL"));
        Ok(())
    })
}

/// Removes a backend. Indexes after its own shift down.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_remove(balancer: *mut senate_balancer, name: *const c_char) -> senate_code {
    call(|| {
        let state = state(balancer)?;
        let index = state.inner.remove(string(name, "name")?)?;
        state.names.remove(index);
        Ok(())
    })
}

/// Marks a backend up or down; `*changed` (may be NULL) tells whether that changed anything.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or a NUL-terminated string;
/// `changed` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_set_up(
    balancer: *mut senate_balancer,
    name: *const c_char,
    up: bool,
    changed: *mut bool,
) -> senate_code {
    call(|| {
        let was_changed = state(balancer)?.inner.set_up(string(name, "name")?, up)?;
        if let Some(changed) = changed.as_mut() {
            *changed = was_changed;
        }
        Ok(())
    })
}

/// Counts a request started on a backend (least request, Peak-EWMA and bounded-load hash
/// weigh them); end it with `senate_balancer_finish`.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_start(balancer: *mut senate_balancer, name: *const c_char) -> senate_code {
    call(|| state(balancer)?.inner.start(string(name, "name")?).map(drop).map_err(Into::into))
}

/// Ends a request started on a backend, which took `latency_ms` and succeeded or not (`ok`),
/// at `now_ms` on the caller's monotonic clock (NaN: the latest time the balancer saw).
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_finish(
    balancer: *mut senate_balancer,
    name: *const c_char,
    latency_ms: f64,
    ok: bool,
    now_ms: f64,
) -> senate_code {
    call(|| {
        let state = state(balancer)?;
        let now_ms = if now_ms.is_nan() { state.inner.backends().now_ms() } else { now_ms };
        Ok(state.inner.finish(string(name, "name")?, latency_ms, ok, now_ms)?)
    })
}

/// Moves the balancer's clock to `now_ms` (slow start ramps and latency decay follow it).
///
/// # Safety
/// `balancer` is NULL or a live balancer handle.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_advance(balancer: *mut senate_balancer, now_ms: f64) -> senate_code {
    call(|| {
        state(balancer)?.inner.advance(now_ms);
        Ok(())
    })
}

/// `*in_panic` becomes true when fewer than the panic threshold of backends are up, so all
/// are eligible.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `in_panic` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_in_panic(
    balancer: *const senate_balancer,
    in_panic: *mut bool,
) -> senate_code {
    call(|| {
        let in_panic = out(in_panic, "in_panic")?;
        *in_panic = handle::get(balancer, "balancer")?.inner.backends().in_panic();
        Ok(())
    })
}

fn algorithm<'a, A: Algorithm + 'static>(state: &'a BalancerState, what: &str) -> Result<&'a A> {
    state.inner.as_any().downcast_ref::<Balancer<A>>().map(Balancer::algorithm).ok_or_else(|| {
        Error::new(senate_code::Unsupported, format!("{what} applies only to {}", std::any::type_name::<A>()))
    })
}

/// Maglev only: `*table_size` gets the number of slots of the lookup table (a prime).
/// `SENATE_CODE_UNSUPPORTED` on another balancer.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `table_size` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_maglev_table_size(
    balancer: *const senate_balancer,
    table_size: *mut usize,
) -> senate_code {
    call(|| {
        let table_size = out(table_size, "table_size")?;
        *table_size = algorithm::<core::Maglev>(handle::get(balancer, "balancer")?, "table_size")?.table_size();
        Ok(())
    })
}

/// Peak-EWMA only: `*estimate_ms` gets the latency estimate of `name` decayed to `now_ms`
/// (NaN: the latest time seen). `SENATE_CODE_UNSUPPORTED` on another balancer.
///
/// # Safety
/// `balancer` is NULL or a live balancer handle; `name` is NULL or a NUL-terminated string;
/// `estimate_ms` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_balancer_latency_estimate_ms(
    balancer: *const senate_balancer,
    name: *const c_char,
    now_ms: f64,
    estimate_ms: *mut f64,
) -> senate_code {
    call(|| {
        let estimate_ms = out(estimate_ms, "estimate_ms")?;
        let state = handle::get(balancer, "balancer")?;
        let ewma = algorithm::<core::PeakEwma>(state, "latency_estimate_ms")?;
        let index = index_of(state, string(name, "name")?)?;
        let now_ms = if now_ms.is_nan() { state.inner.backends().now_ms() } else { now_ms };
        *estimate_ms = ewma.latency_estimate_ms(index, now_ms);
        Ok(())
    })
}
