//! The balancers' hot paths: one pick per algorithm over 100 backends, a keyed lookup on the
//! ring and the Maglev table over 1,000 backends, and a Maglev table build for 1,000 backends.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use senate_core::balance::{
    key_hash_u64, Algorithm, Balancer, BoundedLoadHash, JumpHash, LeastRequest, Maglev, PeakEwma, PeakEwmaOptions,
    Random, Rendezvous, RingHash, RoundRobin, SmoothWeighted, WeightedRandom, DEFAULT_EPSILON, DEFAULT_TABLE_SIZE,
    DEFAULT_VNODES,
};
use std::hint::black_box;
use std::time::Duration;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("backend-{i}")).collect()
}

fn bench_one<A: Algorithm>(c: &mut Criterion, label: &str, n: usize, algorithm: A) {
    let mut balancer = Balancer::with_names(&names(n), algorithm).expect("valid backends");
    let mut key = 0u64;
    c.bench_function(&format!("pick/{label}/{n}"), |b| {
        b.iter(|| {
            key += 1;
            black_box(balancer.pick_key(key_hash_u64(key)))
        })
    });
}

fn bench_picks(c: &mut Criterion) {
    let n = 100;
    bench_one(c, "round_robin", n, RoundRobin::new(1));
    bench_one(c, "random", n, Random::new(1));
    bench_one(c, "weighted_random", n, WeightedRandom::new(1));
    bench_one(c, "smooth_weighted", n, SmoothWeighted::new());
    bench_one(c, "least_request", n, LeastRequest::new(1, 1.0).expect("valid"));
    bench_one(c, "peak_ewma", n, PeakEwma::new(1, PeakEwmaOptions::default()).expect("valid"));
    bench_one(c, "ring_hash", n, RingHash::new(1, DEFAULT_VNODES).expect("valid"));
    bench_one(c, "maglev", n, Maglev::new(1, None).expect("valid"));
    bench_one(c, "rendezvous", n, Rendezvous::new(1));
    bench_one(c, "jump_hash", n, JumpHash::new(1));
    bench_one(c, "bounded_load", n, BoundedLoadHash::new(1, DEFAULT_VNODES, DEFAULT_EPSILON).expect("valid"));
    bench_one(c, "ring_hash", 1000, RingHash::new(1, DEFAULT_VNODES).expect("valid"));
    bench_one(c, "maglev", 1000, Maglev::new(1, None).expect("valid"));
}

fn bench_maglev_build(c: &mut Criterion) {
    let backends = names(1000);
    c.bench_function("maglev_build/1000/65537", |b| {
        b.iter_batched(
            || Maglev::new(1, Some(DEFAULT_TABLE_SIZE)).expect("prime"),
            |maglev| black_box(Balancer::with_names(&backends, maglev).expect("valid")),
            BatchSize::LargeInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    targets = bench_picks, bench_maglev_build
}
criterion_main!(benches);
