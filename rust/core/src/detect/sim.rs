//! A seeded simulation that measures the detectors: time to detect a stopped node, and false
//! positives while it is alive.
//!
//! Each trial draws one heartbeat trace and runs every detector over the same trace. The
//! sender emits a heartbeat every `interval_ms` until `stop_at_ms`; with `pause_probability`
//! before a heartbeat it stalls first for an exponentially distributed pause (mean
//! `mean_pause_ms`, at most `max_pause_ms`), as a process does in a GC pause, and its later
//! heartbeats shift by as much; each heartbeat is lost with `loss_probability`, else it
//! arrives after a delay uniform in `[0, jitter_ms)` (arrivals are taken in arrival order).
//!
//! Availability between two arrivals is monotone (phi only grows with silence), so each
//! detector is asked at each arrival whether it suspected the node before that heartbeat came,
//! and the moment suspicion began is found by bisection to [`RESOLUTION_MS`]:
//! * a **false positive** is a suspicion ended by a later heartbeat (the node was alive);
//! * the **time to detect** is from `stop_at_ms` to the moment the detector declares the node
//!   down for good (0 if it already suspected the silent node before the stop), searched for
//!   up to `detect_window_ms` after the last arrival; a trial with no detection by then is
//!   counted as `missed`.
//!
//! One `ChaCha8Rng` seeded with `seed` draws every trace in a fixed order: a seed replays.

use super::{check_ms, DetectError, FailureDetector, HeartbeatConfig, HeartbeatDetector};
use super::{PhiAccrualConfig, PhiAccrualDetector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Trials in one run, at most.
pub const MAX_TRIALS: u32 = 10_000;
/// Heartbeats one trial sends (`stop_at_ms / interval_ms`), at most.
pub const MAX_HEARTBEATS_PER_TRIAL: f64 = 1_000_000.0;
/// Precision of the moments at which suspicion begins.
pub const RESOLUTION_MS: f64 = 0.01;

/// One simulation run. The defaults model a 1 s heartbeat over a LAN with GC pauses: 100
/// trials of 10 minutes alive, up to 100 ms of delay jitter, 0.1% loss, and a pause before 1%
/// of heartbeats (one every 100 s or so) averaging one second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectSimOptions {
    pub seed: u64,
    /// Independent traces, in `[1, MAX_TRIALS]`.
    pub trials: u32,
    /// Heartbeat period of the sender, in `(0, inf)` ms.
    pub interval_ms: f64,
    /// Network delay is uniform in `[0, jitter_ms)`; `jitter_ms` in `[0, inf)`.
    pub jitter_ms: f64,
    /// Chance that a heartbeat is lost, in `[0, 1)`.
    pub loss_probability: f64,
    /// Chance that the sender pauses before a heartbeat, in `[0, 1]`.
    pub pause_probability: f64,
    /// Mean of the exponentially distributed pause, in `[0, inf)` ms.
    pub mean_pause_ms: f64,
    /// Longest pause, in `[0, inf)` ms.
    pub max_pause_ms: f64,
    /// The sender stops at this time (it is alive in `[0, stop_at_ms)`), in `(0, inf)` ms.
    pub stop_at_ms: f64,
    /// How long after the last arrival a detection is searched for, in `(0, inf)` ms.
    pub detect_window_ms: f64,
    pub phi: PhiAccrualConfig,
    pub fixed: HeartbeatConfig,
}

impl Default for DetectSimOptions {
    fn default() -> DetectSimOptions {
        DetectSimOptions {
            seed: 1,
            trials: 100,
            interval_ms: 1_000.0,
            jitter_ms: 100.0,
            loss_probability: 0.001,
            pause_probability: 0.01,
            mean_pause_ms: 1_000.0,
            max_pause_ms: 10_000.0,
            stop_at_ms: 600_000.0,
            detect_window_ms: 120_000.0,
            phi: PhiAccrualConfig::default(),
            fixed: HeartbeatConfig::default(),
        }
    }
}

fn check_probability(field: &'static str, value: f64, max_inclusive: bool) -> Result<(), DetectError> {
    let ok = value >= 0.0 && if max_inclusive { value <= 1.0 } else { value < 1.0 };
    if ok {
        return Ok(());
    }
    let range = if max_inclusive { "[0, 1]" } else { "[0, 1)" };
    Err(DetectError::InvalidConfig { field, problem: format!("must be a probability in {range}, got {value}") })
}

impl DetectSimOptions {
    /// Checks every field (and both detector configs); the error names the first bad one.
    pub fn validate(&self) -> Result<(), DetectError> {
        if !(1..=MAX_TRIALS).contains(&self.trials) {
            let problem = format!("must be in [1, {MAX_TRIALS}], got {}", self.trials);
            return Err(DetectError::InvalidConfig { field: "trials", problem });
        }
        check_ms("interval_ms", self.interval_ms, 0.0, true)?;
        check_ms("jitter_ms", self.jitter_ms, 0.0, false)?;
        check_probability("loss_probability", self.loss_probability, false)?;
        check_probability("pause_probability", self.pause_probability, true)?;
        check_ms("mean_pause_ms", self.mean_pause_ms, 0.0, false)?;
        check_ms("max_pause_ms", self.max_pause_ms, 0.0, false)?;
        check_ms("stop_at_ms", self.stop_at_ms, 0.0, true)?;
        if self.stop_at_ms / self.interval_ms > MAX_HEARTBEATS_PER_TRIAL {
            let problem = format!("stop_at_ms / interval_ms must be at most {MAX_HEARTBEATS_PER_TRIAL}");
            return Err(DetectError::InvalidConfig { field: "stop_at_ms", problem });
        }
        check_ms("detect_window_ms", self.detect_window_ms, 0.0, true)?;
        self.phi.validate()?;
        self.fixed.validate()
    }
}

/// How one detector did over every trial of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectorFigures {
    /// Trials whose stop was detected within `detect_window_ms` of the last arrival.
    pub detected: u32,
    /// Trials whose stop was not detected within the window.
    pub missed: u32,
    /// Time to detect over the detected trials (0 when none was).
    pub mean_detect_ms: f64,
    pub median_detect_ms: f64,
    pub max_detect_ms: f64,
    /// Suspicions of a live node (each ended by a later heartbeat).
    pub false_positives: u64,
    /// Time the live node spent suspected, summed over the false positives.
    pub suspected_alive_ms: f64,
}

impl DetectorFigures {
    /// False positives per hour of a live node, given the run's total alive time.
    pub fn false_positives_per_hour(&self, alive_ms: f64) -> f64 {
        self.false_positives as f64 / (alive_ms / 3_600_000.0)
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectSimReport {
    pub seed: u64,
    pub trials: u32,
    /// Simulated time the node was alive, over all trials (`trials * stop_at_ms`).
    pub alive_ms: f64,
    pub heartbeats_sent: u64,
    pub heartbeats_lost: u64,
    pub pauses: u64,
    /// The longest gap between two consecutive arrivals of a live node.
    pub max_gap_ms: f64,
    pub phi: DetectorFigures,
    pub fixed: DetectorFigures,
}

/// The outcome of one detector over one trace.
struct TrialOutcome {
    false_positives: u64,
    suspected_alive_ms: f64,
    detect_ms: Option<f64>,
}

/// Runs the simulation; fails only on invalid options.
pub fn run(options: &DetectSimOptions) -> Result<DetectSimReport, DetectError> {
    options.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut report = DetectSimReport {
        seed: options.seed,
        trials: options.trials,
        alive_ms: options.trials as f64 * options.stop_at_ms,
        ..DetectSimReport::default()
    };
    let mut phi_detects = Vec::with_capacity(options.trials as usize);
    let mut fixed_detects = Vec::with_capacity(options.trials as usize);
    let mut arrivals = Vec::new();
    for _ in 0..options.trials {
        draw_trace(options, &mut rng, &mut arrivals, &mut report);
        let phi = PhiAccrualDetector::new(options.phi)?;
        let outcome = evaluate(phi, &arrivals, options);
        tally(&mut report.phi, &mut phi_detects, outcome);
        let fixed = HeartbeatDetector::new(options.fixed)?;
        let outcome = evaluate(fixed, &arrivals, options);
        tally(&mut report.fixed, &mut fixed_detects, outcome);
    }
    summarize(&mut report.phi, &mut phi_detects);
    summarize(&mut report.fixed, &mut fixed_detects);
    Ok(report)
}

/// Draws one trial's arrival times, sorted, into `arrivals`.
fn draw_trace(options: &DetectSimOptions, rng: &mut ChaCha8Rng, arrivals: &mut Vec<f64>, report: &mut DetectSimReport) {
    arrivals.clear();
    let mut send_ms = 0.0;
    loop {
        if rng.gen_bool(options.pause_probability) {
            let u: f64 = rng.gen();
            let pause = (-options.mean_pause_ms * (1.0 - u).ln()).min(options.max_pause_ms);
            send_ms += pause;
            report.pauses += 1;
        }
        if send_ms >= options.stop_at_ms {
            break;
        }
        report.heartbeats_sent += 1;
        if rng.gen_bool(options.loss_probability) {
            report.heartbeats_lost += 1;
        } else {
            let delay = if options.jitter_ms > 0.0 { rng.gen_range(0.0..options.jitter_ms) } else { 0.0 };
            arrivals.push(send_ms + delay);
        }
        send_ms += options.interval_ms;
    }
    arrivals.sort_by(f64::total_cmp);
    for pair in arrivals.windows(2) {
        report.max_gap_ms = report.max_gap_ms.max(pair[1] - pair[0]);
    }
}

/// Feeds `arrivals` to `detector`, noting every suspicion a later heartbeat proved false,
/// then searches for the detection of the stop.
fn evaluate(mut detector: impl FailureDetector, arrivals: &[f64], options: &DetectSimOptions) -> TrialOutcome {
    let mut outcome = TrialOutcome { false_positives: 0, suspected_alive_ms: 0.0, detect_ms: None };
    for &arrival in arrivals {
        if !detector.is_available(arrival).expect("arrivals are sorted and finite") {
            let last = detector.last_heartbeat_ms().expect("a detector suspects only after a heartbeat");
            outcome.false_positives += 1;
            outcome.suspected_alive_ms += arrival - suspected_since(&detector, last, arrival);
        }
        detector.heartbeat(arrival).expect("arrivals are sorted and finite");
    }
    let last = detector.last_heartbeat_ms().unwrap_or(0.0);
    let horizon = last + options.detect_window_ms;
    if !detector.is_available(horizon).expect("the horizon follows the last arrival") {
        let down = suspected_since(&detector, last, horizon);
        outcome.detect_ms = Some((down - options.stop_at_ms).max(0.0));
    }
    outcome
}

/// The first moment in `(available_ms, down_ms]` at which `detector` suspects the node, to
/// within `RESOLUTION_MS`, given that it suspects it at `down_ms` and availability is monotone
/// in between. `available_ms` itself is returned if the node is suspected there already.
fn suspected_since(detector: &impl FailureDetector, available_ms: f64, down_ms: f64) -> f64 {
    let is_available = |t: f64| detector.is_available(t).expect("bisection stays after the last heartbeat");
    if !is_available(available_ms) {
        return available_ms;
    }
    let (mut lo, mut hi) = (available_ms, down_ms);
    while hi - lo > RESOLUTION_MS {
        let mid = lo + (hi - lo) / 2.0;
        if is_available(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

fn tally(figures: &mut DetectorFigures, detects: &mut Vec<f64>, outcome: TrialOutcome) {
    figures.false_positives += outcome.false_positives;
    figures.suspected_alive_ms += outcome.suspected_alive_ms;
    match outcome.detect_ms {
        Some(detect_ms) => {
            figures.detected += 1;
            detects.push(detect_ms);
        }
        None => figures.missed += 1,
    }
}

fn summarize(figures: &mut DetectorFigures, detects: &mut [f64]) {
    if detects.is_empty() {
        return;
    }
    detects.sort_by(f64::total_cmp);
    figures.mean_detect_ms = detects.iter().sum::<f64>() / detects.len() as f64;
    figures.median_detect_ms = detects[detects.len() / 2];
    figures.max_detect_ms = detects[detects.len() - 1];
}
