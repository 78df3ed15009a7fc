//! The failure detectors: `senate_phi_detector` (phi accrual, Akka's defaults) and
//! `senate_heartbeat_detector` (a fixed timeout), as `senate._core.PhiAccrualDetector` and
//! `HeartbeatDetector`. Times are ms on the caller's monotonic clock, never going backwards.

use crate::call::{call, input, out};
use crate::code::{senate_code, Result};
use crate::handle::{self, opaque_handle, Handle};
use senate_core::detect::{FailureDetector, HeartbeatConfig, PhiAccrualConfig};
use senate_core::{HeartbeatDetector, PhiAccrualDetector};

/// A phi accrual failure detector for one monitored node. Not thread-safe: one thread at
/// a time; it may move between threads.
#[allow(non_camel_case_types)]
pub struct senate_phi_detector {
    _opaque: [u8; 0],
}

opaque_handle!(senate_phi_detector, PhiAccrualDetector, 4);

/// A fixed-timeout heartbeat detector for one monitored node. Not thread-safe: one thread
/// at a time; it may move between threads.
#[allow(non_camel_case_types)]
pub struct senate_heartbeat_detector {
    _opaque: [u8; 0],
}

opaque_handle!(senate_heartbeat_detector, HeartbeatDetector, 5);

/// The settings of a phi accrual detector; `senate_phi_config_default` fills Akka's.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_phi_config {
    /// phi at or above which the node is down, in `(0, inf)`.
    pub threshold: f64,
    /// Inter-arrival intervals kept, at least 1.
    pub max_samples: usize,
    /// Floor of the standard deviation used, in `(0, inf)` ms.
    pub min_std_deviation_ms: f64,
    /// Added to the mean interval, in `[0, inf)` ms.
    pub acceptable_heartbeat_pause_ms: f64,
    /// Interval assumed before any was measured, in `(0, inf)` ms.
    pub first_heartbeat_estimate_ms: f64,
}

/// Fills `*config` with the defaults (Akka's). Thread-safe.
///
/// # Safety
/// `config` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_phi_config_default(config: *mut senate_phi_config) -> senate_code {
    call(|| {
        let d = PhiAccrualConfig::default();
        *out(config, "config")? = senate_phi_config {
            threshold: d.threshold,
            max_samples: d.max_samples,
            min_std_deviation_ms: d.min_std_deviation_ms,
            acceptable_heartbeat_pause_ms: d.acceptable_heartbeat_pause_ms,
            first_heartbeat_estimate_ms: d.first_heartbeat_estimate_ms,
        };
        Ok(())
    })
}

/// Makes a phi accrual detector; the handle goes to `*detector` (free it with
/// `senate_phi_detector_free`). `SENATE_CODE_INVALID_CONFIG` names a bad field. Thread-safe.
///
/// # Safety
/// `config` is NULL or valid for reads; `detector` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_phi_detector_new(
    config: *const senate_phi_config,
    detector: *mut *mut senate_phi_detector,
) -> senate_code {
    call(|| {
        let detector = out(detector, "detector")?;
        let c = input(config, "config")?;
        let inner = PhiAccrualDetector::new(PhiAccrualConfig {
            threshold: c.threshold,
            max_samples: c.max_samples,
            min_std_deviation_ms: c.min_std_deviation_ms,
            acceptable_heartbeat_pause_ms: c.acceptable_heartbeat_pause_ms,
            first_heartbeat_estimate_ms: c.first_heartbeat_estimate_ms,
        })?;
        *detector = handle::into_raw::<senate_phi_detector>(inner);
        Ok(())
    })
}

/// Frees a phi accrual detector; NULL is a no-op.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_phi_detector_free(detector: *mut senate_phi_detector) -> senate_code {
    call(|| handle::free(detector, "detector"))
}

/// Records a heartbeat that arrived at `now_ms`. `SENATE_CODE_INVALID_TIME` when the time is
/// not finite or before the last heartbeat.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind.
#[no_mangle]
pub unsafe extern "C" fn senate_phi_detector_heartbeat(detector: *mut senate_phi_detector, now_ms: f64) -> senate_code {
    call(|| heartbeat(detector, now_ms))
}

/// `*phi` gets the suspicion level at `now_ms` (0 before the first heartbeat).
///
/// # Safety
/// `detector` is NULL or a live handle of this kind; `phi` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_phi_detector_phi(
    detector: *const senate_phi_detector,
    now_ms: f64,
    phi: *mut f64,
) -> senate_code {
    call(|| {
        let phi = out(phi, "phi")?;
        *phi = handle::get(detector, "detector")?.phi(now_ms)?;
        Ok(())
    })
}

/// `*available` becomes true when phi at `now_ms` is below the threshold.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind; `available` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_phi_detector_is_available(
    detector: *const senate_phi_detector,
    now_ms: f64,
    available: *mut bool,
) -> senate_code {
    call(|| is_available(detector, now_ms, available))
}

/// `*has_heartbeat` tells whether a heartbeat arrived yet; if so `*last_ms` gets its time.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind; the out-pointers are NULL or valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn senate_phi_detector_last_heartbeat_ms(
    detector: *const senate_phi_detector,
    has_heartbeat: *mut bool,
    last_ms: *mut f64,
) -> senate_code {
    call(|| last_heartbeat_ms(detector, has_heartbeat, last_ms))
}

/// Makes a heartbeat detector that suspects a node `timeout_ms` after its last heartbeat;
/// the handle goes to `*detector` (free it with `senate_heartbeat_detector_free`).
/// Thread-safe.
///
/// # Safety
/// `detector` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_heartbeat_detector_new(
    timeout_ms: f64,
    detector: *mut *mut senate_heartbeat_detector,
) -> senate_code {
    call(|| {
        let detector = out(detector, "detector")?;
        let inner = HeartbeatDetector::new(HeartbeatConfig { timeout_ms })?;
        *detector = handle::into_raw::<senate_heartbeat_detector>(inner);
        Ok(())
    })
}

/// Frees a heartbeat detector; NULL is a no-op.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_heartbeat_detector_free(detector: *mut senate_heartbeat_detector) -> senate_code {
    call(|| handle::free(detector, "detector"))
}

/// Records a heartbeat that arrived at `now_ms`.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind.
#[no_mangle]
pub unsafe extern "C" fn senate_heartbeat_detector_heartbeat(
    detector: *mut senate_heartbeat_detector,
    now_ms: f64,
) -> senate_code {
    call(|| heartbeat(detector, now_ms))
}

/// `*available` becomes true when less than the timeout passed since the last heartbeat.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind; `available` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_heartbeat_detector_is_available(
    detector: *const senate_heartbeat_detector,
    now_ms: f64,
    available: *mut bool,
) -> senate_code {
    call(|| is_available(detector, now_ms, available))
}

/// `*elapsed_ms` gets the time since the last heartbeat at `now_ms` (0 before the first).
///
/// # Safety
/// `detector` is NULL or a live handle of this kind; `elapsed_ms` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_heartbeat_detector_elapsed_ms(
    detector: *const senate_heartbeat_detector,
    now_ms: f64,
    elapsed_ms: *mut f64,
) -> senate_code {
    call(|| {
        let elapsed_ms = out(elapsed_ms, "elapsed_ms")?;
        *elapsed_ms = handle::get(detector, "detector")?.elapsed_ms(now_ms)?;
        Ok(())
    })
}

/// `*has_heartbeat` tells whether a heartbeat arrived yet; if so `*last_ms` gets its time.
///
/// # Safety
/// `detector` is NULL or a live handle of this kind; the out-pointers are NULL or valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn senate_heartbeat_detector_last_heartbeat_ms(
    detector: *const senate_heartbeat_detector,
    has_heartbeat: *mut bool,
    last_ms: *mut f64,
) -> senate_code {
    call(|| last_heartbeat_ms(detector, has_heartbeat, last_ms))
}

unsafe fn heartbeat<H: Handle>(detector: *mut H, now_ms: f64) -> Result<()>
where
    H::Inner: FailureDetector,
{
    Ok(handle::get_mut(detector, "detector")?.heartbeat(now_ms)?)
}

unsafe fn is_available<H: Handle>(detector: *const H, now_ms: f64, available: *mut bool) -> Result<()>
where
    H::Inner: FailureDetector,
{
    let available = out(available, "available")?;
    *available = handle::get(detector, "detector")?.is_available(now_ms)?;
    Ok(())
}

unsafe fn last_heartbeat_ms<H: Handle>(detector: *const H, has_heartbeat: *mut bool, last_ms: *mut f64) -> Result<()>
where
    H::Inner: FailureDetector,
{
    let (has_heartbeat, last_ms) = (out(has_heartbeat, "has_heartbeat")?, out(last_ms, "last_ms")?);
    let last = handle::get(detector, "detector")?.last_heartbeat_ms();
    *has_heartbeat = last.is_some();
    *last_ms = last.unwrap_or(0.0);
    Ok(())
}
