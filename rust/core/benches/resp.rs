//! The RESP hot path: parsing and grouping a 16-command SET pipeline (also as an ACL user
//! with rules, whose every command is checked against its permissions), applying a batch of 16
//! SETs (plain, and each wrapped in `SENATE.EXEC` of one client session: the cost of the
//! exactly-once bookkeeping, as the ratio of the two), reading a batch of 16 GETs. Throughput is in commands, so criterion's time per
//! element is the time per command.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use senate_core::codec::RespLimits;
use senate_core::kv::{apply_batch, encode_batch, encode_command, read_batch, KvStore, RespSession, Users};
use std::hint::black_box;
use std::sync::Arc;

const PIPELINE: usize = 16;

fn commands(verb: &str, with_value: bool) -> Vec<Vec<Vec<u8>>> {
    (0..PIPELINE)
        .map(|i| {
            let mut c = vec![verb.as_bytes().to_vec(), format!("key:{i:08}").into_bytes()];
            if with_value {
                c.push(vec![b'v'; 100]);
            }
            c
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resp");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    let sets = commands("SET", true);
    let wire: Vec<u8> = sets.iter().flat_map(|c| encode_command(c)).collect();
    let mut session = RespSession::new(RespLimits::default(), 1024, 1).unwrap();
    group.bench_function("parse_group_16_sets", |b| b.iter(|| black_box(session.feed(black_box(&wire), 1))));
    let users = Users::new(&["user app on nopass ~* +@read +@write -@dangerous"], None).unwrap();
    let mut as_app = RespSession::new(RespLimits::default(), 1024, 1).unwrap().with_users(Arc::new(users));
    let auth = encode_command(&["AUTH", "app", "x"]);
    assert_eq!(as_app.feed(&auth, 1), [senate_core::kv::Group::Reply(b"+OK\r\n".to_vec())]);
    group.bench_function("parse_group_16_sets_acl_user", |b| b.iter(|| black_box(as_app.feed(black_box(&wire), 1))));

    let batch = encode_batch(1, &sets);
    group.bench_function("apply_batch_16_sets", |b| {
        b.iter_batched_ref(
            KvStore::default,
            |store| black_box(apply_batch(store, &batch).unwrap()),
            BatchSize::SmallInput,
        )
    });
    let mut warm = KvStore::default();
    group.bench_function("apply_batch_16_sets_overwrite", |b| {
        b.iter(|| black_box(apply_batch(&mut warm, &batch).unwrap()))
    });

    // The same overwrites, batch by batch, plain and in a session (new seqs each batch, the
    // earlier ones acknowledged, as a client with 16 writes in flight sends them).
    let mut plain = KvStore::default();
    group.bench_function("apply_batch_16_sets_batched", |b| {
        b.iter_batched(
            || batch.clone(),
            |batch| black_box(apply_batch(&mut plain, &batch).unwrap()),
            BatchSize::SmallInput,
        )
    });
    let mut in_session = KvStore::default();
    let id = in_session.sessions.open(0);
    let mut next_seq = 1u64;
    group.bench_function("apply_batch_16_sets_in_session", |b| {
        b.iter_batched(
            || {
                let first_unacked = next_seq;
                let wrapped: Vec<Vec<Vec<u8>>> = sets
                    .iter()
                    .map(|set| {
                        let mut c = vec![b"SENATE.EXEC".to_vec()];
                        for n in [id, next_seq, first_unacked] {
                            c.push(n.to_string().into_bytes());
                        }
                        next_seq += 1;
                        c.extend(set.iter().cloned());
                        c
                    })
                    .collect();
                encode_batch(1, &wrapped)
            },
            |batch| black_box(apply_batch(&mut in_session, &batch).unwrap()),
            BatchSize::SmallInput,
        )
    });

    let gets = encode_batch(1, &commands("GET", false));
    group.bench_function("read_batch_16_gets", |b| b.iter(|| black_box(read_batch(&warm, &gets, 1).unwrap())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
