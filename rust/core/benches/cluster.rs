//! Committed entries per second in a fault-free 3-node simulated cluster (every message through
//! the codec, persistence into `MemStorage`), and the cost of one AppendEntries of 64 entries
//! stepped at a follower.
//!
//! Run briefly: `cargo bench -p senate-core --bench cluster -- --warm-up-time 1 --measurement-time 3`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use senate_core::codec::encode_message;
use senate_core::sim::{run_throughput, ThroughputOptions};
use senate_core::{Config, Entry, EntryKind, MemNode, Message, MessageType, ProtocolId};
use std::hint::black_box;

const NODES: usize = 3;
const PAYLOAD_BYTES: usize = 64;
const BATCHES: [usize; 4] = [1, 16, 256, 1024];
const ENTRIES_PER_APPEND: u64 = 64;

/// Entries per measured run: enough that election and setup are noise, few enough that one
/// run takes well under a second even at batch 1.
fn entries_per_run(batch: usize) -> u64 {
    if batch < 16 {
        20_000
    } else {
        200_000
    }
}

fn bench_cluster_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("cluster/3_nodes_64B");
    group.sample_size(10);
    for batch in BATCHES {
        let entries = entries_per_run(batch);
        let options = ThroughputOptions {
            protocol: ProtocolId::Raft,
            nodes: NODES,
            batch,
            payload_bytes: PAYLOAD_BYTES,
            entries,
        };
        group.throughput(Throughput::Elements(entries));
        group.bench_with_input(BenchmarkId::new("batch", batch), &options, |b, options| {
            b.iter(|| {
                let report = run_throughput(black_box(options));
                assert_eq!(report.error, None, "throughput run failed");
                black_box(report.committed_entries)
            })
        });
    }
    group.finish();
}

/// The AppendEntries a leader of term 1 sends a fresh follower: 64 entries of 64 bytes.
fn append_frame() -> Bytes {
    let mut msg = Message::new(MessageType::Append, 1, 2, 1);
    msg.entries = (1..=ENTRIES_PER_APPEND)
        .map(|index| Entry {
            term: 1,
            index,
            kind: EntryKind::Normal,
            data: Bytes::from(vec![index as u8; PAYLOAD_BYTES]),
        })
        .collect();
    let mut frame = Vec::new();
    encode_message(&msg, &mut frame);
    Bytes::from(frame)
}

fn fresh_follower() -> MemNode {
    MemNode::new(&Config::new(2, vec![1, 2, 3])).expect("the default config is valid")
}

fn bench_follower_append(c: &mut Criterion) {
    let frame = append_frame();
    let mut group = c.benchmark_group("follower/append_64x64B");
    group.throughput(Throughput::Elements(ENTRIES_PER_APPEND));
    group.bench_function("step", |b| {
        b.iter_batched_ref(fresh_follower, |node| node.step_frames(black_box(&frame)), BatchSize::SmallInput)
    });
    // The whole duty of the follower: step, persist, encode the acknowledgement, advance.
    group.bench_function("step_ready_advance", |b| {
        b.iter_batched_ref(
            fresh_follower,
            |node| {
                let stepped = node.step_frames(black_box(&frame));
                let ready = node.ready();
                node.advance();
                (stepped.is_ok(), ready.map(|r| r.messages.len()))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_cluster_commit, bench_follower_append);
criterion_main!(benches);
