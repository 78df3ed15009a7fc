//! The peer codec on its hot path: an AppendEntries carrying 64 entries of 64-byte payloads,
//! the batch shape behind the target of >1M committed entries/s in a 3-node cluster.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use senate_core::codec::{decode_message, encode_message, DEFAULT_MAX_FRAME_BYTES};
use senate_core::{Entry, EntryKind, Message, MessageType};
use std::hint::black_box;

const ENTRIES_PER_APPEND: u64 = 64;
const PAYLOAD_BYTES: usize = 64;

fn append_64x64() -> Message {
    let mut msg = Message::new(MessageType::Append, 1, 2, 3);
    msg.log_term = 3;
    msg.index = 1_000_000;
    msg.commit = 999_900;
    msg.entries = (1..=ENTRIES_PER_APPEND)
        .map(|offset| Entry {
            term: 3,
            index: msg.index + offset,
            kind: EntryKind::Normal,
            data: Bytes::from(vec![offset as u8; PAYLOAD_BYTES]),
        })
        .collect();
    msg
}

fn bench_append(c: &mut Criterion) {
    let msg = append_64x64();
    let mut frame = Vec::new();
    encode_message(&msg, &mut frame);
    let frame = Bytes::from(frame);

    let mut group = c.benchmark_group("codec/append_64x64B");
    group.throughput(Throughput::Elements(ENTRIES_PER_APPEND));
    group.bench_function("encode", |b| {
        // The runtime reuses its output buffer, so the bench does too.
        let mut out = Vec::with_capacity(frame.len());
        b.iter(|| {
            out.clear();
            encode_message(black_box(&msg), &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("decode", |b| b.iter(|| decode_message(black_box(&frame), DEFAULT_MAX_FRAME_BYTES)));
    group.finish();
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
