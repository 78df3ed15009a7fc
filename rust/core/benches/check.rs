//! The linearizability checker: a 10,000-operation history over 100 keys from 50 clients
//! (target: under 1 s), and the memo's worth on a 1,000-operation single-key history from 10
//! concurrent clients (target: at least 100x faster than the same search without it, measured
//! in the same run in alternating rounds; the ratio is printed).
//!
//! `cargo bench -p senate-core --bench check`

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use senate_core::check::{check, CheckOptions, KvInput, KvOutput, KvRegister, Model, Operation, Outcome};
use std::hint::black_box;
use std::time::{Duration, Instant};

type KvOp = Operation<KvInput, KvOutput>;

/// What the generated workload looks like.
struct Workload {
    ops: usize,
    keys: usize,
    clients: usize,
    /// Per mille of operations that end indeterminate (half of those take effect).
    indeterminate_per_mille: u32,
    seed: u64,
}

/// A history recorded from a correct register: each client runs one operation at a time with
/// a random latency; each operation takes effect at a random point inside its interval (an
/// indeterminate one maybe later, maybe never), and its reply comes from the register then.
fn history(w: &Workload) -> Vec<KvOp> {
    let mut rng = ChaCha8Rng::seed_from_u64(w.seed);
    let mut client_now = vec![0u64; w.clients];
    let mut planned = Vec::with_capacity(w.ops);
    for id in 0..w.ops {
        // The client furthest behind goes next, so all of them stay concurrent.
        let client = (0..w.clients).min_by_key(|&c| (client_now[c], c)).expect("clients");
        let key = rng.gen_range(0..w.keys);
        let input = match rng.gen_range(0..10) {
            0..=3 => KvInput::Get,
            4..=5 => KvInput::Set(Bytes::from(format!("{}", rng.gen_range(0..5)))),
            6..=7 => KvInput::Incr(1),
            8 => KvInput::Append(Bytes::from_static(b"x")),
            _ => KvInput::SetIfAbsent(Bytes::from_static(b"0")),
        };
        let invoke_ns = client_now[client] + rng.gen_range(0..1_000);
        let point_ns = invoke_ns + rng.gen_range(0..10_000);
        let complete_ns = point_ns + rng.gen_range(0..10_000);
        client_now[client] = complete_ns + 1;
        let lost = rng.gen_range(0..1000) < w.indeterminate_per_mille;
        let applies = !lost || rng.gen_bool(0.5);
        planned.push((id, client, key, input, invoke_ns, point_ns, complete_ns, lost, applies));
    }
    let mut order: Vec<usize> = (0..w.ops).filter(|&i| planned[i].8).collect();
    order.sort_by_key(|&i| (planned[i].5, i));
    let mut registers: Vec<Option<Option<Bytes>>> = vec![Some(None); w.keys];
    let mut outputs: Vec<Option<KvOutput>> = vec![None; w.ops];
    for i in order {
        let (_, _, key, ref input, ..) = planned[i];
        let state = registers[key].clone().expect("a state");
        let output = reply(&state, input);
        registers[key] = KvRegister.step(&state, input, Some(&output));
        assert!(registers[key].is_some(), "the model refused a correct register's reply");
        outputs[i] = Some(output);
    }
    planned
        .into_iter()
        .map(|(id, client, key, input, invoke_ns, _, complete_ns, lost, _)| Operation {
            id: id as u64,
            client_id: client as u64,
            key: format!("key{key:03}"),
            input,
            outcome: if lost { Outcome::Indeterminate } else { Outcome::Ok(outputs[id].clone().expect("applied")) },
            invoke_ns,
            complete_ns: (!lost).then_some(complete_ns),
        })
        .collect()
}

/// What a correct register replies to `input` in `state` (the bench's own register: the
/// model only says whether a reply is possible).
fn reply(state: &Option<Bytes>, input: &KvInput) -> KvOutput {
    let integer = |v: &Option<Bytes>| match v {
        None => Some(0i64),
        Some(b) => std::str::from_utf8(b).ok()?.parse::<i64>().ok(),
    };
    match input {
        KvInput::Get => KvOutput::Value(state.clone()),
        KvInput::Set(_) => KvOutput::Done,
        KvInput::Incr(by) => integer(state).and_then(|n| n.checked_add(*by)).map_or(KvOutput::Error, KvOutput::Int),
        KvInput::Append(suffix) => KvOutput::Int((state.as_ref().map_or(0, |v| v.len()) + suffix.len()) as i64),
        KvInput::Delete => KvOutput::Int(i64::from(state.is_some())),
        KvInput::SetIfAbsent(_) => KvOutput::Stored(state.is_none()),
    }
}

/// Times `f` once.
fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn bench_many_keys(c: &mut Criterion) {
    let ops = history(&Workload { ops: 10_000, keys: 100, clients: 50, indeterminate_per_mille: 50, seed: 1 });
    let options = CheckOptions::default();
    assert!(check(&KvRegister, &ops, &options).expect("valid").is_ok());
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.bench_function("10000_ops_100_keys_50_clients", |b| {
        b.iter(|| black_box(check(&KvRegister, black_box(&ops), &options).expect("valid")))
    });
    group.finish();
}

/// Model steps the search without memo may take: it does not finish this history (the
/// concurrent reads it cannot tell apart make it exponential), so its time to spend this
/// budget is a lower bound of its time to answer, and the printed ratio a lower bound too.
const PLAIN_MAX_STEPS: u64 = 100_000_000;

fn bench_memo(c: &mut Criterion) {
    let ops = history(&Workload { ops: 1_000, keys: 1, clients: 10, indeterminate_per_mille: 20, seed: 2 });
    let memo = CheckOptions { threads: 1, ..CheckOptions::default() };
    let plain = CheckOptions { memoize: false, max_steps_per_part: PLAIN_MAX_STEPS, ..memo.clone() };
    let with = check(&KvRegister, &ops, &memo).expect("valid");
    let without = check(&KvRegister, &ops, &plain).expect("valid");
    assert!(with.is_ok(), "{:?}", with.verdict);
    // Alternating rounds, so both see the same machine.
    let (mut memo_times, mut plain_times) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        memo_times.push(time(|| drop(black_box(check(&KvRegister, &ops, &memo)))));
        plain_times.push(time(|| drop(black_box(check(&KvRegister, &ops, &plain)))));
    }
    let (m, p) = (median(memo_times), median(plain_times));
    let bound = if without.is_ok() { "" } else { ">= " };
    println!(
        "check/1000_ops_1_key_10_clients: memoized {m:.1?} ({} steps, {:?}); without memo {p:.2?} ({} steps, {:?}): \
         {bound}{:.0}x (medians of 3 alternating rounds)",
        with.steps,
        with.verdict,
        without.steps,
        without.verdict,
        p.as_secs_f64() / m.as_secs_f64()
    );
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.bench_function("1000_ops_1_key_10_clients_memoized", |b| {
        b.iter(|| black_box(check(&KvRegister, &ops, &memo).expect("valid")))
    });
    group.finish();
}

criterion_group!(benches, bench_many_keys, bench_memo);
criterion_main!(benches);
