//! The balancers: exact sequences, health and panic mode, slow start, in-flight accounting,
//! and the quality figures of the design (evenness, weight shares, disruption) on counts
//! small enough for a debug build. The 1,000,000-pick figures run against the release
//! extension in `tests/test_balance.py`.

use proptest::prelude::*;
use senate_core::balance::{
    jump, key_hash_u64, Algorithm, BalanceError, Balancer, BoundedLoadHash, Health, JumpHash, LeastRequest, Maglev,
    PeakEwma, PeakEwmaOptions, Random, Rendezvous, RingHash, RoundRobin, SlowStart, SmoothWeighted, WeightedRandom,
    DEFAULT_EPSILON, DEFAULT_VNODES,
};

// ---- helpers ----

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("backend-{i}")).collect()
}

fn weighted(pairs: &[(&str, u32)], algorithm: impl Algorithm) -> Balancer<impl Algorithm> {
    Balancer::new(pairs, Health::default(), algorithm).expect("valid backends")
}

fn named<A: Algorithm>(all: &[String], algorithm: A) -> Balancer<A> {
    Balancer::with_names(all, algorithm).expect("valid backends")
}

fn sequence<A: Algorithm>(balancer: &mut Balancer<A>, picks: usize) -> String {
    (0..picks)
        .map(|_| {
            let index = balancer.pick().expect("a backend");
            balancer.backends().name(index).to_owned()
        })
        .collect()
}

/// Picks per backend over `picks` keyed picks (keys `0..picks`).
fn keyed_counts<A: Algorithm>(balancer: &mut Balancer<A>, picks: u64) -> Vec<u64> {
    let mut counts = vec![0; balancer.backends().len()];
    for key in 0..picks {
        counts[balancer.pick_key(key_hash_u64(key)).expect("a backend")] += 1;
    }
    counts
}

/// Picks per backend when every pick starts a request that never finishes (the load the
/// in-flight balancers see grows with the count).
fn loaded_counts<A: Algorithm>(balancer: &mut Balancer<A>, picks: u64) -> Vec<u64> {
    let mut counts = vec![0; balancer.backends().len()];
    for key in 0..picks {
        let index = balancer.pick_key(key_hash_u64(key)).expect("a backend");
        let name = balancer.backends().name(index).to_owned();
        balancer.start(&name).expect("known");
        counts[index] += 1;
    }
    counts
}

fn max_over_mean(counts: &[u64]) -> f64 {
    let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
    *counts.iter().max().expect("not empty") as f64 / mean
}

/// The backend name of every key in `0..keys`.
fn owners<A: Algorithm>(balancer: &mut Balancer<A>, keys: u64) -> Vec<String> {
    (0..keys)
        .map(|key| {
            let index = balancer.pick_key(key_hash_u64(key)).expect("a backend");
            balancer.backends().name(index).to_owned()
        })
        .collect()
}

/// Share of `keys` keys that move when `backend-0` of `n` leaves, and the share that moved
/// without having been on it (keys that should have stayed).
fn disruption<A: Algorithm>(mut balancer: Balancer<A>, keys: u64) -> (f64, f64) {
    let before = owners(&mut balancer, keys);
    balancer.remove("backend-0").expect("present");
    let after = owners(&mut balancer, keys);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let needless = before.iter().zip(&after).filter(|(b, a)| b != a && b.as_str() != "backend-0").count();
    (moved as f64 / keys as f64, needless as f64 / keys as f64)
}

// ---- exact sequences ----

#[test]
fn smooth_weighted_interleaves_as_nginx() {
    let mut abc = weighted(&[("a", 5), ("b", 1), ("c", 1)], SmoothWeighted::new());
    assert_eq!(sequence(&mut abc, 14), "aabacaaaabacaa");
    let mut ab = weighted(&[("a", 5), ("b", 1)], SmoothWeighted::new());
    // nginx breaks ties towards the first backend: a a a b a a (a rotation of a a b a a a).
    assert_eq!(sequence(&mut ab, 12), "aaabaaaaabaa");
}

#[test]
fn round_robin_takes_turns_and_skips_down_backends() {
    let mut rr = Balancer::with_names(&["a", "b", "c", "d"], RoundRobin::new(7)).expect("valid");
    let first = sequence(&mut rr, 8);
    assert_eq!(&first[..4], &first[4..]);
    let mut letters: Vec<char> = first[..4].chars().collect();
    letters.sort_unstable();
    assert_eq!(letters, ['a', 'b', 'c', 'd']);
    rr.set_up("b", false).expect("known");
    let after = sequence(&mut rr, 6);
    assert!(!after.contains('b'));
    assert_eq!(&after[..3], &after[3..]);
}

#[test]
fn same_seed_same_picks() {
    let run = |seed| {
        let mut lb = Balancer::with_names(&names(50), LeastRequest::new(seed, 1.0).expect("valid")).expect("valid");
        (0..1000).map(|_| lb.pick().expect("a backend")).collect::<Vec<_>>()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

// ---- health, panic mode ----

/// Picks for a key (an index), `None` when nothing is eligible.
type Picker = Box<dyn FnMut(u64) -> Option<usize>>;

/// One picker per algorithm over `n` backends weighted 1 to 4 with `down` marked down;
/// even keys pick without a key, odd keys pick by key.
fn balancers_with_down(n: usize, down: &[usize], health: Health, seed: u64) -> Vec<(&'static str, Picker)> {
    let backends: Vec<(String, u32)> = names(n).into_iter().zip((0u32..).map(|w| w % 4 + 1)).collect();
    fn make<A: Algorithm + 'static>(
        backends: &[(String, u32)],
        down: &[usize],
        health: Health,
        algorithm: A,
    ) -> Picker {
        let mut balancer = Balancer::new(backends, health, algorithm).expect("valid");
        for &i in down {
            balancer.set_up(&backends[i].0, false).expect("known");
        }
        Box::new(move |key| if key % 2 == 0 { balancer.pick() } else { balancer.pick_key(key_hash_u64(key)) })
    }
    vec![
        ("round_robin", make(&backends, down, health, RoundRobin::new(seed))),
        ("random", make(&backends, down, health, Random::new(seed))),
        ("weighted_random", make(&backends, down, health, WeightedRandom::new(seed))),
        ("smooth_weighted", make(&backends, down, health, SmoothWeighted::new())),
        ("least_request", make(&backends, down, health, LeastRequest::new(seed, 1.0).expect("valid"))),
        ("peak_ewma", make(&backends, down, health, PeakEwma::new(seed, PeakEwmaOptions::default()).expect("valid"))),
        ("ring_hash", make(&backends, down, health, RingHash::new(seed, 40).expect("valid"))),
        ("maglev", make(&backends, down, health, Maglev::new(seed, Some(1009)).expect("valid"))),
        ("rendezvous", make(&backends, down, health, Rendezvous::new(seed))),
        ("jump_hash", make(&backends, down, health, JumpHash::new(seed))),
        ("bounded_load", make(&backends, down, health, BoundedLoadHash::new(seed, 40, 0.25).expect("valid"))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Outside panic mode a down backend is never picked; with every backend down and no panic
    /// threshold, nothing is.
    #[test]
    fn never_picks_a_down_backend(n in 1usize..12, down_bits in any::<u16>(), seed in any::<u64>()) {
        let down: Vec<usize> = (0..n).filter(|i| down_bits & (1 << i) != 0).collect();
        let health = Health { panic_threshold: 0.0, ..Health::default() };
        for (label, mut pick) in balancers_with_down(n, &down, health, seed) {
            for key in 0..64 {
                match pick(key) {
                    Some(i) => prop_assert!(!down.contains(&i), "{label} picked down backend {i}"),
                    None => prop_assert_eq!(down.len(), n, "{} picked nothing with backends up", label),
                }
            }
        }
    }

    /// Below the panic threshold every backend is eligible again, down ones included.
    #[test]
    fn panic_mode_selects_among_all(n in 4usize..10, seed in any::<u64>()) {
        let down: Vec<usize> = (0..n - 1).collect(); // one of n up: below a 50% threshold
        for (label, mut pick) in balancers_with_down(n, &down, Health::default(), seed) {
            let picked: Vec<usize> = (0..400).map(|key| pick(key).expect("panic mode picks")).collect();
            prop_assert!(picked.iter().any(|i| down.contains(i)), "{} never picked a down backend in panic", label);
        }
    }

    /// The Maglev table depends on the names and weights, never on their order.
    #[test]
    fn maglev_table_ignores_input_order(n in 1usize..40, rotate in 0usize..40, seed in any::<u64>()) {
        let backends: Vec<(String, u32)> = names(n).into_iter().zip((0u32..).map(|w| w % 3 + 1)).collect();
        let mut shuffled = backends.clone();
        shuffled.rotate_left(rotate % n);
        shuffled.reverse();
        let table = |list: &[(String, u32)], seed| {
            let lb = Balancer::new(list, Health::default(), Maglev::new(seed, Some(1009)).expect("prime")).expect("valid");
            lb.algorithm().table().iter().map(|&i| lb.backends().name(i as usize).to_owned()).collect::<Vec<_>>()
        };
        prop_assert_eq!(table(&backends, seed), table(&shuffled, seed ^ 1));
    }

    /// Ring and rendezvous choices depend on the names and weights, never on their order.
    #[test]
    fn hash_choices_ignore_input_order(n in 1usize..20, rotate in 0usize..20) {
        let backends: Vec<(String, u32)> = names(n).into_iter().zip((0u32..).map(|w| w % 3 + 1)).collect();
        let mut shuffled = backends.clone();
        shuffled.rotate_left(rotate % n);
        let mut a = Balancer::new(&backends, Health::default(), RingHash::new(1, 20).expect("valid")).expect("valid");
        let mut b = Balancer::new(&shuffled, Health::default(), RingHash::new(2, 20).expect("valid")).expect("valid");
        prop_assert_eq!(owners(&mut a, 500), owners(&mut b, 500));
        let mut a = Balancer::new(&backends, Health::default(), Rendezvous::new(1)).expect("valid");
        let mut b = Balancer::new(&shuffled, Health::default(), Rendezvous::new(2)).expect("valid");
        prop_assert_eq!(owners(&mut a, 500), owners(&mut b, 500));
    }

    /// Every backend owns some keys.
    #[test]
    fn every_backend_is_reachable(n in 1usize..30, seed in any::<u64>()) {
        let keys = 200 * n as u64;
        let all = names(n);
        let reached = |mut counts: Vec<u64>| counts.iter_mut().all(|c| *c > 0);
        prop_assert!(reached(keyed_counts(&mut Balancer::with_names(&all, RingHash::new(seed, DEFAULT_VNODES).expect("valid")).expect("valid"), keys)));
        prop_assert!(reached(keyed_counts(&mut Balancer::with_names(&all, Maglev::new(seed, None).expect("valid")).expect("valid"), keys)));
        prop_assert!(reached(keyed_counts(&mut Balancer::with_names(&all, Rendezvous::new(seed)).expect("valid"), keys)));
        prop_assert!(reached(keyed_counts(&mut Balancer::with_names(&all, JumpHash::new(seed)).expect("valid"), keys)));
    }

    /// Adding a bucket at the end moves about 1/(n+1) of the keys, all of them to it.
    #[test]
    fn jump_hash_moves_one_in_n(n in 1u32..200) {
        let keys = 20_000u64;
        let mut moved = 0;
        for key in 0..keys {
            let (before, after) = (jump(key_hash_u64(key), n), jump(key_hash_u64(key), n + 1));
            if before != after {
                prop_assert_eq!(after, n);
                moved += 1;
            }
        }
        let share = moved as f64 / keys as f64;
        let ideal = 1.0 / f64::from(n + 1);
        prop_assert!((share - ideal).abs() < 5.0 * (ideal / keys as f64).sqrt() + 0.002, "moved {share}, ideal {ideal}");
    }
}

// ---- in-flight, latency, slow start ----

#[test]
fn least_request_prefers_the_less_loaded() {
    let mut lb = Balancer::with_names(&["a", "b"], LeastRequest::new(1, 1.0).expect("valid")).expect("valid");
    for _ in 0..5 {
        lb.start("a").expect("known");
    }
    assert!((0..100).all(|_| lb.pick() == Some(1)));
    assert_eq!(lb.finish("b", 1.0, true, 0.0), Err(BalanceError::NotInFlight { name: "b".into() }));
}

#[test]
fn least_request_weighs_load_by_weight() {
    // b has 3x the weight: it wins while it holds fewer than 3x a's requests (plus one).
    let mut lb = weighted(&[("a", 1), ("b", 3)], LeastRequest::new(1, 1.0).expect("valid"));
    let counts = loaded_counts(&mut lb, 4000);
    let share = counts[1] as f64 / 4000.0;
    assert!((share - 0.75).abs() < 0.01, "b's share {share}");
}

#[test]
fn peak_ewma_shuns_a_slow_backend_and_tries_it_again_later() {
    let options = PeakEwmaOptions { decay_ms: 1000.0, ..PeakEwmaOptions::default() };
    let mut lb = Balancer::with_names(&["fast", "slow"], PeakEwma::new(1, options).expect("valid")).expect("valid");
    let mut now_ms = 0.0;
    for _ in 0..20 {
        for (name, latency_ms) in [("fast", 5.0), ("slow", 500.0)] {
            lb.start(name).expect("known");
            now_ms += 1.0;
            lb.finish(name, latency_ms, true, now_ms).expect("in flight");
        }
    }
    assert!((0..100).all(|_| lb.pick() == Some(0)), "the slow backend was picked");
    // A failure counts as at least failure_latency_ms, however fast.
    lb.start("fast").expect("known");
    lb.finish("fast", 0.1, false, now_ms).expect("in flight");
    assert!(lb.algorithm().latency_estimate_ms(0, now_ms) >= 1000.0);
    // Ten decay times later the estimates are tiny; the idle one is the cheaper again.
    lb.advance(now_ms + 10_000.0);
    assert!(lb.algorithm().latency_estimate_ms(1, now_ms + 10_000.0) < 1.0);
}

#[test]
fn slow_start_ramps_a_new_backend() {
    let health = Health { slow_start: SlowStart { window_ms: 10_000.0, ..SlowStart::default() }, ..Health::default() };
    let mut lb = Balancer::new(&[("a", 1), ("b", 1)], health, WeightedRandom::new(5)).expect("valid");
    lb.advance(1_000.0);
    lb.add("c", 1).expect("new");
    let share_of_c =
        |lb: &mut Balancer<WeightedRandom>| (0..20_000).filter(|_| lb.pick() == Some(2)).count() as f64 / 20_000.0;
    // At the start: 10% of its weight (min_weight_share), so 0.1 / 2.1 of the picks.
    assert!((share_of_c(&mut lb) - 0.1 / 2.1).abs() < 0.01);
    lb.advance(6_000.0);
    assert!((share_of_c(&mut lb) - 0.5 / 2.5).abs() < 0.015);
    lb.advance(11_000.0);
    assert!((share_of_c(&mut lb) - 1.0 / 3.0).abs() < 0.015);
    assert_eq!(lb.backends().effective_weight(2), 1.0);
}

#[test]
fn bounded_loads_cap_every_backend() {
    for n in [3usize, 10, 50] {
        let mut lb = Balancer::with_names(&names(n), BoundedLoadHash::new(2, DEFAULT_VNODES, 0.25).expect("valid"))
            .expect("valid");
        // A hot key: without the bound, all of it would land on one backend.
        for picks in 1..=(20 * n as u64) {
            let index = lb.pick_key(key_hash_u64(42)).expect("a backend");
            let name = lb.backends().name(index).to_owned();
            lb.start(&name).expect("known");
            let cap = (1.25 * picks as f64 / n as f64).ceil() as u32;
            assert!((0..n).all(|i| lb.backends().in_flight(i) <= cap), "over {cap} after {picks} picks");
        }
    }
}

#[test]
fn errors_are_typed() {
    let mut lb = Balancer::with_names(&["a"], Random::new(0)).expect("valid");
    assert_eq!(lb.add("a", 1), Err(BalanceError::DuplicateBackend { name: "a".into() }));
    assert_eq!(lb.remove("z"), Err(BalanceError::UnknownBackend { name: "z".into() }));
    assert!(matches!(lb.add("b", 0), Err(BalanceError::InvalidOption { field: "weight", .. })));
    assert!(matches!(Maglev::new(0, Some(65_536)), Err(BalanceError::InvalidOption { field: "table_size", .. })));
    assert!(matches!(
        Balancer::new(&[("a", 1)], Health { panic_threshold: 1.5, ..Health::default() }, Random::new(0)),
        Err(BalanceError::InvalidOption { field: "panic_threshold", .. })
    ));
    lb.remove("a").expect("present");
    assert_eq!(lb.pick(), None);
}

#[test]
fn jump_hash_reuses_a_removed_bucket() {
    let mut lb = Balancer::with_names(&names(10), JumpHash::new(0)).expect("valid");
    let before = owners(&mut lb, 5000);
    lb.remove("backend-3").expect("present");
    lb.add("backend-3", 1).expect("new");
    assert_eq!(owners(&mut lb, 5000), before);
    assert_eq!(lb.algorithm().buckets(), 10);
}

// ---- quality: evenness, weights, disruption ----

/// Max/mean load of `picks` keyed picks over n backends, for each algorithm that spreads
/// evenly by design, and the bound asserted. Bounds are about five standard deviations of the
/// sampling noise (`1 + 5 / sqrt(mean)`) plus the algorithm's own unevenness (the ring's
/// virtual nodes; Maglev's slot shares).
#[test]
fn evenness() {
    for n in [10usize, 100, 1000] {
        // O(n) algorithms get fewer picks at 1,000 backends to keep a debug build quick.
        let picks = if n == 1000 { 200_000 } else { 100_000 };
        let mean = picks as f64 / n as f64;
        let noise = 5.0 / mean.sqrt();
        let all = names(n);
        let mut figures = Vec::new();
        let mut check = |label: &str, counts: Vec<u64>, bound: f64| {
            let ratio = max_over_mean(&counts);
            figures.push(format!("{label} {ratio:.3}"));
            assert!(ratio <= bound, "{label} over {n} backends: max/mean {ratio:.3} > {bound:.3}");
        };
        check("round_robin", keyed_counts(&mut named(&all, RoundRobin::new(1)), picks), 1.0 + 1e-9);
        check(
            "smooth_weighted",
            keyed_counts(&mut named(&all, SmoothWeighted::new()), picks / 4),
            1.0 + 4.0 / (mean / 4.0),
        );
        check("random", keyed_counts(&mut named(&all, Random::new(1)), picks), 1.0 + noise);
        check("weighted_random", keyed_counts(&mut named(&all, WeightedRandom::new(1)), picks), 1.0 + noise);
        check(
            "least_request",
            loaded_counts(&mut named(&all, LeastRequest::new(1, 1.0).expect("valid")), picks),
            1.0 + 4.0 / mean,
        );
        check(
            "maglev",
            keyed_counts(&mut named(&all, Maglev::new(1, None).expect("valid")), picks),
            1.0 + noise + 0.02,
        );
        check("jump_hash", keyed_counts(&mut named(&all, JumpHash::new(1)), picks), 1.0 + noise);
        check(
            "rendezvous",
            keyed_counts(&mut named(&all, Rendezvous::new(1)), picks / 4),
            1.0 + 5.0 / (mean / 4.0).sqrt(),
        );
        // 160 points per backend: each share has a standard deviation of about 1/sqrt(160).
        check(
            "ring_hash",
            keyed_counts(&mut named(&all, RingHash::new(1, DEFAULT_VNODES).expect("valid")), picks),
            1.0 + noise + 0.4,
        );
        let bounded = BoundedLoadHash::new(1, DEFAULT_VNODES, DEFAULT_EPSILON).expect("valid");
        check("bounded_load", loaded_counts(&mut named(&all, bounded), picks), 1.0 + DEFAULT_EPSILON + 1.0 / mean);
        eprintln!("max/mean over {n} backends, {picks} picks: {}", figures.join(", "));
    }
}

/// Observed shares within one percentage point of the configured ones.
#[test]
fn weights_are_honoured() {
    let pairs = [("a", 1), ("b", 2), ("c", 3), ("d", 4)];
    let total = 10.0;
    let picks = 200_000u64;
    let check = |label: &str, counts: Vec<u64>| {
        for ((name, weight), count) in pairs.iter().zip(&counts) {
            let (want, got) = (f64::from(*weight) / total, *count as f64 / picks as f64);
            assert!((got - want).abs() <= 0.01, "{label}: {name} has {got:.4}, configured {want:.4}");
        }
    };
    check("weighted_random", keyed_counts(&mut weighted(&pairs, WeightedRandom::new(1)), picks));
    check("smooth_weighted", keyed_counts(&mut weighted(&pairs, SmoothWeighted::new()), picks));
    check("least_request", loaded_counts(&mut weighted(&pairs, LeastRequest::new(1, 1.0).expect("valid")), picks));
    check("maglev", keyed_counts(&mut weighted(&pairs, Maglev::new(1, None).expect("valid")), picks));
    check("rendezvous", keyed_counts(&mut weighted(&pairs, Rendezvous::new(1)), picks));
    check("ring_hash", keyed_counts(&mut weighted(&pairs, RingHash::new(1, 4000).expect("valid")), picks));
    let bounded = BoundedLoadHash::new(1, 4000, DEFAULT_EPSILON).expect("valid");
    check("bounded_load", keyed_counts(&mut weighted(&pairs, bounded), picks));
}

/// Share of keys moved when one of n backends leaves: the ideal is 1/n, all of them from
/// the backend that left. The ring, rendezvous and jump hash move no other key; Maglev moves
/// a few more (its excess).
#[test]
fn disruption_when_one_backend_leaves() {
    let keys = 100_000;
    for n in [10usize, 100] {
        let ideal = 1.0 / n as f64;
        let all = names(n);
        let figures = [
            ("ring_hash", disruption(named(&all, RingHash::new(1, DEFAULT_VNODES).expect("valid")), keys)),
            ("maglev", disruption(named(&all, Maglev::new(1, None).expect("valid")), keys)),
            ("rendezvous", disruption(named(&all, Rendezvous::new(1)), keys)),
            ("jump_hash", disruption(named(&all, JumpHash::new(1)), keys)),
        ];
        for (label, (moved, needless)) in figures {
            eprintln!("{label} over {n}: moved {moved:.4} (ideal {ideal:.4}), needless {needless:.4}");
            let max_needless = if label == "maglev" { 0.02 } else { 0.0 };
            assert!(needless <= max_needless, "{label} moved {needless} of keys needlessly");
            // The keys that did move are those of the leaving backend: its share, noise included.
            assert!((moved - needless) <= ideal * 1.5 + 0.005, "{label} moved {moved}");
        }
    }
}

/// nginx's `ngx_http_upstream_get_peer`, written out plainly.
fn nginx_sequence(weights: &[u32], picks: usize) -> Vec<usize> {
    let mut current = vec![0i64; weights.len()];
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    (0..picks)
        .map(|_| {
            let mut best = 0;
            for (i, &w) in weights.iter().enumerate() {
                current[i] += i64::from(w);
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            best
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The precomputed cycle (and, for large total weights, the loop) picks as nginx does.
    #[test]
    fn smooth_weighted_matches_nginx(weights in proptest::collection::vec(1u32..2000, 1..40)) {
        let backends: Vec<(String, u32)> = names(weights.len()).into_iter().zip(weights.iter().copied()).collect();
        let mut lb = Balancer::new(&backends, Health::default(), SmoothWeighted::new()).expect("valid");
        let total: u32 = weights.iter().sum();
        prop_assert_eq!(lb.algorithm().is_cyclic(), total as usize <= senate_core::balance::MAX_CYCLE_PICKS);
        let picks = (total as usize * 2).min(50_000);
        let ours: Vec<usize> = (0..picks).map(|_| lb.pick().expect("a backend")).collect();
        prop_assert_eq!(ours, nginx_sequence(&weights, picks));
    }
}

#[test]
fn smooth_weighted_leaves_its_cycle_for_a_ramp() {
    let health = Health { slow_start: SlowStart { window_ms: 1000.0, ..SlowStart::default() }, ..Health::default() };
    let mut lb = Balancer::new(&[("a", 2), ("b", 1)], health, SmoothWeighted::new()).expect("valid");
    assert!(lb.algorithm().is_cyclic());
    lb.pick();
    lb.add("c", 10).expect("new");
    lb.advance(100.0);
    assert!(!lb.algorithm().is_cyclic());
    let counts = keyed_counts(&mut lb, 1300);
    assert!(counts[2] > 0 && counts[2] < counts[0], "c ramps: {counts:?}");
    lb.advance(2000.0);
    assert!(lb.algorithm().is_cyclic());
    assert_eq!(keyed_counts(&mut lb, 1300), vec![200, 100, 1000]);
}
