//! The failure detectors (`PhiAccrualDetector`, `HeartbeatDetector`) and the seeded detection
//! simulation (`run_detect_sim`). Times are float milliseconds on the caller's monotonic clock.

use crate::errors::detect_error;
use pyo3::prelude::*;
use senate_core::detect::heartbeat::DEFAULT_TIMEOUT_MS;
use senate_core::detect::phi_accrual::{
    DEFAULT_ACCEPTABLE_HEARTBEAT_PAUSE_MS, DEFAULT_FIRST_HEARTBEAT_ESTIMATE_MS, DEFAULT_MAX_SAMPLES,
    DEFAULT_MIN_STD_DEVIATION_MS, DEFAULT_THRESHOLD,
};
use senate_core::detect::sim::{self, DetectSimOptions};
use senate_core::detect::{self as core, FailureDetector, HeartbeatConfig, PhiAccrualConfig};

/// `None` or the float, as Python's `repr` writes them.
fn python_float(value: Option<f64>) -> String {
    value.map_or_else(|| "None".to_string(), |v| format!("{v:?}"))
}

/// The phi accrual failure detector with Akka's defaults. See `_core.pyi`.
#[pyclass(module = "senate._core")]
pub struct PhiAccrualDetector {
    inner: core::PhiAccrualDetector,
}

#[pymethods]
impl PhiAccrualDetector {
    #[new]
    #[pyo3(signature = (
        *,
        threshold = DEFAULT_THRESHOLD,
        max_samples = DEFAULT_MAX_SAMPLES,
        min_std_deviation_ms = DEFAULT_MIN_STD_DEVIATION_MS,
        acceptable_heartbeat_pause_ms = DEFAULT_ACCEPTABLE_HEARTBEAT_PAUSE_MS,
        first_heartbeat_estimate_ms = DEFAULT_FIRST_HEARTBEAT_ESTIMATE_MS,
    ), text_signature = "(*, threshold=8.0, max_samples=1000, min_std_deviation_ms=100.0, acceptable_heartbeat_pause_ms=3000.0, first_heartbeat_estimate_ms=1000.0)")]
    fn new(
        threshold: f64,
        max_samples: usize,
        min_std_deviation_ms: f64,
        acceptable_heartbeat_pause_ms: f64,
        first_heartbeat_estimate_ms: f64,
    ) -> PyResult<PhiAccrualDetector> {
        let config = PhiAccrualConfig {
            threshold,
            max_samples,
            min_std_deviation_ms,
            acceptable_heartbeat_pause_ms,
            first_heartbeat_estimate_ms,
        };
        let inner = core::PhiAccrualDetector::new(config).map_err(detect_error)?;
        Ok(PhiAccrualDetector { inner })
    }

    fn heartbeat(&mut self, now_ms: f64) -> PyResult<()> {
        self.inner.heartbeat(now_ms).map_err(detect_error)
    }

    fn phi(&self, now_ms: f64) -> PyResult<f64> {
        self.inner.phi(now_ms).map_err(detect_error)
    }

    fn is_available(&self, now_ms: f64) -> PyResult<bool> {
        self.inner.is_available(now_ms).map_err(detect_error)
    }

    #[getter]
    fn last_heartbeat_ms(&self) -> Option<f64> {
        self.inner.last_heartbeat_ms()
    }

    #[getter]
    fn samples(&self) -> usize {
        self.inner.history().len()
    }

    #[getter]
    fn mean_ms(&self) -> f64 {
        self.inner.history().mean_ms()
    }

    #[getter]
    fn std_deviation_ms(&self) -> f64 {
        self.inner.history().std_deviation_ms()
    }

    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.config().threshold
    }

    #[getter]
    fn max_samples(&self) -> usize {
        self.inner.config().max_samples
    }

    #[getter]
    fn min_std_deviation_ms(&self) -> f64 {
        self.inner.config().min_std_deviation_ms
    }

    #[getter]
    fn acceptable_heartbeat_pause_ms(&self) -> f64 {
        self.inner.config().acceptable_heartbeat_pause_ms
    }

    #[getter]
    fn first_heartbeat_estimate_ms(&self) -> f64 {
        self.inner.config().first_heartbeat_estimate_ms
    }

    fn __repr__(&self) -> String {
        format!(
            "PhiAccrualDetector(threshold={:?}, samples={}, mean_ms={:.1}, std_deviation_ms={:.1}, last_heartbeat_ms={})",
            self.inner.config().threshold,
            self.inner.history().len(),
            self.inner.history().mean_ms(),
            self.inner.history().std_deviation_ms(),
            python_float(self.inner.last_heartbeat_ms())
        )
    }
}

/// The fixed-timeout heartbeat detector. See `_core.pyi`.
#[pyclass(module = "senate._core")]
pub struct HeartbeatDetector {
    inner: core::HeartbeatDetector,
}

#[pymethods]
impl HeartbeatDetector {
    #[new]
    #[pyo3(signature = (timeout_ms = DEFAULT_TIMEOUT_MS), text_signature = "(timeout_ms=5000.0)")]
    fn new(timeout_ms: f64) -> PyResult<HeartbeatDetector> {
        let inner = core::HeartbeatDetector::new(HeartbeatConfig { timeout_ms }).map_err(detect_error)?;
        Ok(HeartbeatDetector { inner })
    }

    fn heartbeat(&mut self, now_ms: f64) -> PyResult<()> {
        self.inner.heartbeat(now_ms).map_err(detect_error)
    }

    fn is_available(&self, now_ms: f64) -> PyResult<bool> {
        self.inner.is_available(now_ms).map_err(detect_error)
    }

    fn elapsed_ms(&self, now_ms: f64) -> PyResult<f64> {
        self.inner.elapsed_ms(now_ms).map_err(detect_error)
    }

    #[getter]
    fn last_heartbeat_ms(&self) -> Option<f64> {
        self.inner.last_heartbeat_ms()
    }

    #[getter]
    fn timeout_ms(&self) -> f64 {
        self.inner.config().timeout_ms
    }

    fn __repr__(&self) -> String {
        format!(
            "HeartbeatDetector(timeout_ms={:?}, last_heartbeat_ms={})",
            self.inner.config().timeout_ms,
            python_float(self.inner.last_heartbeat_ms())
        )
    }
}

/// How one detector did over every trial of a simulation run.
#[pyclass(frozen, get_all, module = "senate._core")]
pub struct DetectorFigures {
    detected: u32,
    missed: u32,
    mean_detect_ms: f64,
    median_detect_ms: f64,
    max_detect_ms: f64,
    false_positives: u64,
    false_positives_per_hour: f64,
    suspected_alive_ms: f64,
}

impl DetectorFigures {
    fn from_core(figures: &sim::DetectorFigures, alive_ms: f64) -> DetectorFigures {
        DetectorFigures {
            detected: figures.detected,
            missed: figures.missed,
            mean_detect_ms: figures.mean_detect_ms,
            median_detect_ms: figures.median_detect_ms,
            max_detect_ms: figures.max_detect_ms,
            false_positives: figures.false_positives,
            false_positives_per_hour: figures.false_positives_per_hour(alive_ms),
            suspected_alive_ms: figures.suspected_alive_ms,
        }
    }
}

#[pymethods]
impl DetectorFigures {
    fn __repr__(&self) -> String {
        format!(
            "DetectorFigures(detected={}, missed={}, mean_detect_ms={:.0}, max_detect_ms={:.0}, false_positives={}, false_positives_per_hour={:.2})",
            self.detected,
            self.missed,
            self.mean_detect_ms,
            self.max_detect_ms,
            self.false_positives,
            self.false_positives_per_hour
        )
    }
}

/// What one detection simulation run measured.
#[pyclass(frozen, get_all, module = "senate._core")]
pub struct DetectSimReport {
    seed: u64,
    trials: u32,
    alive_ms: f64,
    heartbeats_sent: u64,
    heartbeats_lost: u64,
    pauses: u64,
    max_gap_ms: f64,
    phi: Py<DetectorFigures>,
    fixed: Py<DetectorFigures>,
}

#[pymethods]
impl DetectSimReport {
    fn __repr__(&self) -> String {
        format!(
            "DetectSimReport(seed={}, trials={}, heartbeats_sent={}, phi={}, fixed={})",
            self.seed,
            self.trials,
            self.heartbeats_sent,
            self.phi.get().__repr__(),
            self.fixed.get().__repr__()
        )
    }
}

/// Runs the seeded detection simulation. Arguments left as `None` keep the core's defaults.
/// Releases the GIL.
#[pyfunction]
#[pyo3(signature = (
    seed = 1,
    *,
    trials = None,
    interval_ms = None,
    jitter_ms = None,
    loss_probability = None,
    pause_probability = None,
    mean_pause_ms = None,
    max_pause_ms = None,
    stop_at_ms = None,
    detect_window_ms = None,
    timeout_ms = None,
    threshold = None,
    max_samples = None,
    min_std_deviation_ms = None,
    acceptable_heartbeat_pause_ms = None,
    first_heartbeat_estimate_ms = None,
))]
#[allow(clippy::too_many_arguments)]
pub fn run_detect_sim(
    py: Python<'_>,
    seed: u64,
    trials: Option<u32>,
    interval_ms: Option<f64>,
    jitter_ms: Option<f64>,
    loss_probability: Option<f64>,
    pause_probability: Option<f64>,
    mean_pause_ms: Option<f64>,
    max_pause_ms: Option<f64>,
    stop_at_ms: Option<f64>,
    detect_window_ms: Option<f64>,
    timeout_ms: Option<f64>,
    threshold: Option<f64>,
    max_samples: Option<usize>,
    min_std_deviation_ms: Option<f64>,
    acceptable_heartbeat_pause_ms: Option<f64>,
    first_heartbeat_estimate_ms: Option<f64>,
) -> PyResult<DetectSimReport> {
    let mut o = DetectSimOptions { seed, ..DetectSimOptions::default() };
    o.trials = trials.unwrap_or(o.trials);
    o.phi.max_samples = max_samples.unwrap_or(o.phi.max_samples);
    let floats = [
        (&mut o.interval_ms, interval_ms),
        (&mut o.jitter_ms, jitter_ms),
        (&mut o.loss_probability, loss_probability),
        (&mut o.pause_probability, pause_probability),
        (&mut o.mean_pause_ms, mean_pause_ms),
        (&mut o.max_pause_ms, max_pause_ms),
        (&mut o.stop_at_ms, stop_at_ms),
        (&mut o.detect_window_ms, detect_window_ms),
        (&mut o.fixed.timeout_ms, timeout_ms),
        (&mut o.phi.threshold, threshold),
        (&mut o.phi.min_std_deviation_ms, min_std_deviation_ms),
        (&mut o.phi.acceptable_heartbeat_pause_ms, acceptable_heartbeat_pause_ms),
        (&mut o.phi.first_heartbeat_estimate_ms, first_heartbeat_estimate_ms),
    ];
    for (field, value) in floats {
        if let Some(value) = value {
            *field = value;
        }
    }
    let report = py.detach(|| sim::run(&o)).map_err(detect_error)?;
    Ok(DetectSimReport {
        seed: report.seed,
        trials: report.trials,
        alive_ms: report.alive_ms,
        heartbeats_sent: report.heartbeats_sent,
        heartbeats_lost: report.heartbeats_lost,
        pauses: report.pauses,
        max_gap_ms: report.max_gap_ms,
        phi: Py::new(py, DetectorFigures::from_core(&report.phi, report.alive_ms))?,
        fixed: Py::new(py, DetectorFigures::from_core(&report.fixed, report.alive_ms))?,
    })
}
