//! The failure detectors: Akka's known phi values, properties (phi monotone in silence, the
//! fixed timeout's boundary, bounded samples), config and time validation, and the detection
//! quality figures from the seeded simulation.
//!
//! `cargo test -p senate-core --test detect -- --nocapture` prints the figures.

use proptest::prelude::*;
use senate_core::detect::phi_accrual::phi;
use senate_core::detect::sim::{self, DetectSimOptions, DetectSimReport};
use senate_core::detect::{
    DetectError, FailureDetector, HeartbeatConfig, HeartbeatDetector, PhiAccrualConfig, PhiAccrualDetector,
};

/// Akka's `phi(timeDiff, mean, stdDeviation)`, transcribed literally.
fn akka_phi(time_diff: f64, mean: f64, std_deviation: f64) -> f64 {
    let y = (time_diff - mean) / std_deviation;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if time_diff > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

/// The CDF that phi stands for: `1 - 10^-phi`.
fn cdf(phi: f64) -> f64 {
    1.0 - 10f64.powf(-phi)
}

/// The configuration of Akka's `PhiAccrualFailureDetectorSpec` (`createFailureDetector`).
fn akka_spec_config(threshold: f64) -> PhiAccrualConfig {
    PhiAccrualConfig {
        threshold,
        max_samples: 1000,
        min_std_deviation_ms: 10.0,
        acceptable_heartbeat_pause_ms: 0.0,
        first_heartbeat_estimate_ms: 1000.0,
    }
}

fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!((actual - expected).abs() <= tolerance, "{actual} is not within {tolerance} of {expected}");
}

// --- known values (Akka's PhiAccrualFailureDetectorSpec) ------------------------------------

#[test]
fn good_enough_cumulative_distribution_function() {
    for (x, expected) in [(0.0, 0.5), (6.0, 0.7257), (15.0, 0.9332), (20.0, 0.97725), (25.0, 0.99379), (35.0, 0.99977)]
    {
        assert_close(cdf(phi(x, 0.0, 10.0)), expected, 0.001);
    }
    assert_close(cdf(phi(40.0, 0.0, 10.0)), 0.99997, 0.0001);
    for x in 0..40 {
        assert!(phi(x as f64, 0.0, 10.0) < phi((x + 1) as f64, 0.0, 10.0));
    }
    assert_close(cdf(phi(22.0, 20.0, 3.0)), 0.7475, 0.001);
}

#[test]
fn outliers_keep_precision() {
    assert_close(phi(10.0, 0.0, 1.0), 38.0, 1.0);
    assert_eq!(phi(-25.0, 0.0, 1.0), 0.0);
    // Where Akka's exp underflows to an infinite phi, ours stays finite and keeps growing.
    assert!(akka_phi(30.0, 0.0, 1.0).is_infinite());
    assert!(phi(30.0, 0.0, 1.0).is_finite() && phi(30.0, 0.0, 1.0) > phi(10.0, 0.0, 1.0));
}

#[test]
fn realistic_phi_values() {
    for (time_diff, expected) in
        [(0.0, 0.0), (500.0, 0.1), (1000.0, 0.3), (1200.0, 1.6), (1400.0, 4.7), (1600.0, 10.8), (1700.0, 15.3)]
    {
        assert_close(phi(time_diff, 1000.0, 100.0), expected, 0.1);
    }
    assert!(phi(1100.0, 1000.0, 500.0) < phi(1100.0, 1000.0, 100.0));
}

#[test]
fn same_values_as_akkas_formula_wherever_it_is_finite() {
    for std_deviation in [1.0, 10.0, 100.0, 250.0, 1000.0] {
        for step in 0..=4000 {
            let time_diff = step as f64 * 2.5;
            let (ours, akka) = (phi(time_diff, 4000.0, std_deviation), akka_phi(time_diff, 4000.0, std_deviation));
            // Past phi ~300 Akka's `e` is subnormal and loses its digits.
            if akka < 300.0 {
                assert!((ours - akka).abs() <= 1e-9 * akka.max(1.0), "phi({time_diff}, 4000, {std_deviation})");
            }
        }
    }
}

#[test]
fn phi_is_zero_before_the_first_heartbeat() {
    let detector = PhiAccrualDetector::new(PhiAccrualConfig::default()).unwrap();
    assert_eq!(detector.phi(0.0).unwrap(), 0.0);
    assert_eq!(detector.phi(1e9).unwrap(), 0.0);
    assert!(detector.is_available(1e9).unwrap());
}

#[test]
fn phi_from_the_first_heartbeat_estimate() {
    let mut detector = PhiAccrualDetector::new(akka_spec_config(8.0)).unwrap();
    detector.heartbeat(0.0).unwrap();
    assert_close(detector.phi(1000.0).unwrap(), 0.3, 0.2);
    assert_close(detector.phi(2000.0).unwrap(), 4.5, 0.3);
    assert!(detector.phi(3000.0).unwrap() > 15.0);
    assert_eq!(detector.history().len(), 2);
    assert_close(detector.history().mean_ms(), 1000.0, 1e-9);
    assert_close(detector.history().std_deviation_ms(), 250.0, 1e-9);
}

#[test]
fn dead_after_missed_heartbeats() {
    let mut detector = PhiAccrualDetector::new(akka_spec_config(3.0)).unwrap();
    for t in [0.0, 1000.0, 1100.0] {
        detector.heartbeat(t).unwrap();
    }
    assert!(detector.is_available(1200.0).unwrap());
    assert!(!detector.is_available(8200.0).unwrap());
}

#[test]
fn available_again_when_heartbeats_resume() {
    let mut config = akka_spec_config(8.0);
    config.acceptable_heartbeat_pause_ms = 3000.0;
    let mut detector = PhiAccrualDetector::new(config).unwrap();
    let mut now = 0.0;
    detector.heartbeat(now).unwrap();
    for _ in 1..1000 {
        now += 1000.0;
        detector.heartbeat(now).unwrap();
    }
    let mut expect = |detector: &mut PhiAccrualDetector, gap: f64, available: bool| {
        now += gap;
        assert_eq!(detector.is_available(now).unwrap(), available, "after a gap of {gap} ms");
        detector.heartbeat(now).unwrap();
    };
    expect(&mut detector, 5.0 * 60.0 * 1000.0, false);
    for (gap, available) in [(100.0, true), (900.0, true), (100.0, true), (7000.0, false), (100.0, true)] {
        expect(&mut detector, gap, available);
    }
    // The intervals that ended a suspicion (5 min, 7 s) were not recorded.
    assert!(detector.history().mean_ms() < 1000.0);
}

// --- the fixed timeout --------------------------------------------------------------------

#[test]
fn fixed_timeout_boundary() {
    let mut detector = HeartbeatDetector::new(HeartbeatConfig { timeout_ms: 500.0 }).unwrap();
    assert!(detector.is_available(0.0).unwrap(), "available before the first heartbeat");
    detector.heartbeat(100.0).unwrap();
    assert!(detector.is_available(599.9).unwrap());
    assert!(!detector.is_available(600.0).unwrap());
    detector.heartbeat(700.0).unwrap();
    assert!(detector.is_available(700.0).unwrap());
    assert_eq!(detector.elapsed_ms(750.0).unwrap(), 50.0);
}

// --- validation -----------------------------------------------------------------------------

fn config_field(err: DetectError) -> &'static str {
    match err {
        DetectError::InvalidConfig { field, .. } => field,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn config_errors_name_the_field() {
    let phi_with = |change: fn(&mut PhiAccrualConfig)| {
        let mut config = PhiAccrualConfig::default();
        change(&mut config);
        config_field(PhiAccrualDetector::new(config).unwrap_err())
    };
    assert_eq!(phi_with(|c| c.threshold = 0.0), "threshold");
    assert_eq!(phi_with(|c| c.threshold = f64::NAN), "threshold");
    assert_eq!(phi_with(|c| c.max_samples = 0), "max_samples");
    assert_eq!(phi_with(|c| c.max_samples = 100_001), "max_samples");
    assert_eq!(phi_with(|c| c.min_std_deviation_ms = 0.0), "min_std_deviation_ms");
    assert_eq!(phi_with(|c| c.acceptable_heartbeat_pause_ms = -1.0), "acceptable_heartbeat_pause_ms");
    assert_eq!(phi_with(|c| c.first_heartbeat_estimate_ms = f64::INFINITY), "first_heartbeat_estimate_ms");
    let fixed = HeartbeatDetector::new(HeartbeatConfig { timeout_ms: -5.0 }).unwrap_err();
    assert_eq!(config_field(fixed), "timeout_ms");
    let sim_with = |change: fn(&mut DetectSimOptions)| {
        let mut options = DetectSimOptions::default();
        change(&mut options);
        config_field(sim::run(&options).unwrap_err())
    };
    assert_eq!(sim_with(|o| o.trials = 0), "trials");
    assert_eq!(sim_with(|o| o.loss_probability = 1.0), "loss_probability");
    assert_eq!(sim_with(|o| o.pause_probability = f64::NAN), "pause_probability");
    assert_eq!(sim_with(|o| o.stop_at_ms = 1e12), "stop_at_ms");
    assert_eq!(sim_with(|o| o.fixed.timeout_ms = 0.0), "timeout_ms");
}

#[test]
fn time_must_be_finite_and_never_go_backwards() {
    let mut phi_detector = PhiAccrualDetector::new(PhiAccrualConfig::default()).unwrap();
    let mut fixed = HeartbeatDetector::new(HeartbeatConfig::default()).unwrap();
    for detector in [&mut phi_detector as &mut dyn FailureDetector, &mut fixed] {
        assert!(matches!(detector.heartbeat(f64::NAN), Err(DetectError::InvalidTime { .. })));
        detector.heartbeat(1000.0).unwrap();
        assert!(matches!(detector.heartbeat(999.0), Err(DetectError::InvalidTime { .. })));
        assert!(matches!(detector.is_available(f64::INFINITY), Err(DetectError::InvalidTime { .. })));
        assert!(matches!(detector.is_available(500.0), Err(DetectError::InvalidTime { .. })));
        assert_eq!(detector.last_heartbeat_ms(), Some(1000.0), "a refused time changes nothing");
    }
}

// --- properties -----------------------------------------------------------------------------

fn phi_config() -> impl Strategy<Value = PhiAccrualConfig> {
    (0.1f64..50.0, 1usize..64, 0.001f64..1e4, 0.0f64..1e4, 0.001f64..1e4).prop_map(
        |(threshold, max_samples, min_std, pause, estimate)| PhiAccrualConfig {
            threshold,
            max_samples,
            min_std_deviation_ms: min_std,
            acceptable_heartbeat_pause_ms: pause,
            first_heartbeat_estimate_ms: estimate,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn phi_is_monotone_in_the_time_since_the_last_heartbeat(
        config in phi_config(),
        intervals in prop::collection::vec(0.0f64..1e5, 0..100),
        mut silences in prop::collection::vec(0.0f64..1e6, 2..20),
    ) {
        let mut detector = PhiAccrualDetector::new(config).unwrap();
        let mut now = 0.0;
        detector.heartbeat(now).unwrap();
        for interval in intervals {
            now += interval;
            detector.heartbeat(now).unwrap();
        }
        silences.sort_by(f64::total_cmp);
        let phis: Vec<f64> = silences.iter().map(|s| detector.phi(now + s).unwrap()).collect();
        for pair in phis.windows(2) {
            prop_assert!(pair[0] <= pair[1], "phi decreased: {phis:?} at silences {silences:?}");
        }
        prop_assert!(phis.iter().all(|p| p.is_finite() && *p >= 0.0));
    }

    #[test]
    fn fixed_detector_is_available_before_the_timeout_and_not_after(
        timeout_ms in 0.001f64..1e6,
        last in 0.0f64..1e9,
        before in 0.0f64..1.0,
        after in 0.0f64..1e6,
    ) {
        let mut detector = HeartbeatDetector::new(HeartbeatConfig { timeout_ms }).unwrap();
        detector.heartbeat(last).unwrap();
        let early = last + before * timeout_ms;
        // Rounding of `last + x` may land on the boundary; the contract is about elapsed time.
        prop_assert_eq!(detector.is_available(early).unwrap(), early - last < timeout_ms);
        prop_assert!(detector.is_available(last).unwrap());
        prop_assert!(!detector.is_available(last + timeout_ms + after).unwrap());
    }

    #[test]
    fn samples_are_bounded(
        config in phi_config(),
        intervals in prop::collection::vec(0.0f64..1e4, 0..300),
    ) {
        let mut detector = PhiAccrualDetector::new(config).unwrap();
        let mut now = 0.0;
        detector.heartbeat(now).unwrap();
        for interval in intervals {
            now += interval;
            detector.heartbeat(now).unwrap();
            prop_assert!(detector.history().len() <= config.max_samples);
            prop_assert!(detector.history().std_deviation_ms() >= 0.0);
        }
    }
}

// --- detection quality (the seeded simulation) ---------------------------------------------

fn print_report(name: &str, report: &DetectSimReport) {
    let hours = report.alive_ms / 3_600_000.0;
    println!(
        "{name}: seed {} trials {} alive {hours:.1} h, {} heartbeats ({} lost, {} pauses, longest gap {:.0} ms)",
        report.seed, report.trials, report.heartbeats_sent, report.heartbeats_lost, report.pauses, report.max_gap_ms
    );
    for (detector, f) in [("phi accrual", &report.phi), ("fixed timeout", &report.fixed)] {
        println!(
            "  {detector:13}: detect mean {:.0} ms, median {:.0} ms, max {:.0} ms ({} missed); \
             {} false positives ({:.2}/h), {:.0} ms suspected while alive",
            f.mean_detect_ms,
            f.median_detect_ms,
            f.max_detect_ms,
            f.missed,
            f.false_positives,
            f.false_positives_per_hour(report.alive_ms),
            f.suspected_alive_ms
        );
    }
}

#[test]
fn detection_quality_with_akka_defaults_and_a_5s_timeout() {
    let options = DetectSimOptions::default();
    let report = sim::run(&options).unwrap();
    print_report("default (1 s heartbeat, 100 ms jitter, 0.1% loss, 1% pauses of mean 1 s)", &report);
    assert_eq!(report, sim::run(&options).unwrap(), "a seed replays exactly");
    for f in [&report.phi, &report.fixed] {
        assert_eq!((f.detected, f.missed), (100, 0));
        // A stop is detected within the silence the detector tolerates, plus one interval.
        assert!(f.mean_detect_ms <= 5_500.0, "{f:?}");
        assert!(f.max_detect_ms <= 6_500.0, "{f:?}");
        // Only the rare pauses longer than ~3.5 s (3% of them) may raise a false suspicion.
        assert!(f.false_positives_per_hour(report.alive_ms) <= 2.0, "{f:?}");
    }
}

#[test]
fn a_tight_fixed_timeout_trades_false_positives_for_speed() {
    let mut options = DetectSimOptions { seed: 7, ..DetectSimOptions::default() };
    options.fixed.timeout_ms = 2_000.0;
    options.phi.acceptable_heartbeat_pause_ms = 1_000.0;
    let report = sim::run(&options).unwrap();
    print_report("tight (fixed 2 s, phi with a 1 s acceptable pause)", &report);
    for f in [&report.phi, &report.fixed] {
        assert!(f.max_detect_ms <= 3_500.0, "{f:?}");
    }
    // Every pause longer than ~1 s now shows as a false positive, about 0.37 per pause.
    assert!(report.fixed.false_positives_per_hour(report.alive_ms) >= 5.0, "{:?}", report.fixed);
    assert!(report.fixed.false_positives_per_hour(report.alive_ms) <= 30.0, "{:?}", report.fixed);
}

#[test]
fn regular_heartbeats_give_no_false_positives() {
    let options = DetectSimOptions { pause_probability: 0.0, loss_probability: 0.0, ..DetectSimOptions::default() };
    let report = sim::run(&options).unwrap();
    print_report("regular (no pauses, no loss)", &report);
    assert_eq!(report.phi.false_positives + report.fixed.false_positives, 0);
    assert!(report.max_gap_ms < 1_100.0);
}
