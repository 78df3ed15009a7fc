//! The write-ahead log's group commit against the floor set by the disk: entries/s of
//! `Wal::write` with fsync at batch sizes 1, 64 and 1024 (64-byte payloads), next to a raw loop
//! that appends the same number of bytes per batch to a plain file with write + fdatasync.
//! The target is a ratio of at least 80%; it is printed after each batch size, from the
//! criterion samples and from a run that interleaves the two loops batch by batch.
//!
//! Run: `cargo bench -p senate-core --bench wal` (about a minute).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use senate_core::{Entry, EntryKind, HardState, Wal, WalOptions};
use std::cell::Cell;
use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const PAYLOAD_BYTES: usize = 64;
const BATCH_SIZES: [usize; 3] = [1, 64, 1024];
/// How long the interleaved comparison runs per batch size.
const PAIRED_DURATION: Duration = Duration::from_secs(2);

/// Iterations and time spent, summed over every sample criterion takes.
#[derive(Default)]
struct Totals {
    iterations: Cell<u64>,
    elapsed: Cell<Duration>,
}

impl Totals {
    fn add(&self, iterations: u64, elapsed: Duration) {
        self.iterations.set(self.iterations.get() + iterations);
        self.elapsed.set(self.elapsed.get() + elapsed);
    }

    fn entries_per_second(&self, batch: usize) -> f64 {
        (self.iterations.get() * batch as u64) as f64 / self.elapsed.get().as_secs_f64()
    }
}

fn bench_batch(c: &mut Criterion, batch: usize) {
    let dir = TempDir::new().expect("temp dir");
    let (mut wal, _) = Wal::open(&dir.path().join("wal"), WalOptions::default()).expect("open");
    let payload = Bytes::from(vec![0xab; PAYLOAD_BYTES]);
    let mut entries: Vec<Entry> = (1..=batch as u64)
        .map(|index| Entry { index, term: 1, kind: EntryKind::Normal, data: payload.clone() })
        .collect();
    let mut next_index = 1;
    let mut write_batch = |wal: &mut Wal| {
        for (offset, entry) in entries.iter_mut().enumerate() {
            entry.index = next_index + offset as u64;
        }
        next_index += batch as u64;
        let hard_state = HardState::new(1, 1, next_index - 1);
        wal.write(None, &entries, Some(hard_state)).expect("write");
    };
    // The raw loop writes as many bytes per batch as the log does.
    let bytes_before = wal.stats().bytes_on_disk;
    write_batch(&mut wal);
    let batch_bytes = (wal.stats().bytes_on_disk - bytes_before) as usize;
    let raw_bytes = vec![0xcd_u8; batch_bytes];
    let raw_path = dir.path().join("raw");
    let mut raw = OpenOptions::new().create(true).append(true).open(&raw_path).expect("raw file");

    let (wal_totals, raw_totals) = (Totals::default(), Totals::default());
    let mut group = c.benchmark_group(format!("wal/batch_{batch}x{PAYLOAD_BYTES}B"));
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("wal_write_fsync", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                write_batch(&mut wal);
            }
            let elapsed = start.elapsed();
            wal_totals.add(iterations, elapsed);
            elapsed
        })
    });
    group.bench_function("raw_write_fdatasync", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                raw.write_all(&raw_bytes).expect("raw write");
                raw.sync_data().expect("raw fdatasync");
            }
            let elapsed = start.elapsed();
            raw_totals.add(iterations, elapsed);
            elapsed
        })
    });
    group.finish();
    let (wal_rate, raw_rate) = (wal_totals.entries_per_second(batch), raw_totals.entries_per_second(batch));
    println!(
        "wal batch {batch:>4} x {PAYLOAD_BYTES} B ({batch_bytes} B/batch), criterion samples: \
         wal {wal_rate:>10.0} entries/s, raw {raw_rate:>10.0} entries/s, ratio {:.1}%",
        100.0 * wal_rate / raw_rate
    );
    // The disk is shared and its speed drifts, so the ratio is also measured with the two
    // loops interleaved batch by batch.
    let (paired_wal, paired_raw) = (Totals::default(), Totals::default());
    let deadline = Instant::now() + PAIRED_DURATION;
    while Instant::now() < deadline {
        let start = Instant::now();
        write_batch(&mut wal);
        paired_wal.add(1, start.elapsed());
        let start = Instant::now();
        raw.write_all(&raw_bytes).expect("raw write");
        raw.sync_data().expect("raw fdatasync");
        paired_raw.add(1, start.elapsed());
    }
    let (wal_rate, raw_rate) = (paired_wal.entries_per_second(batch), paired_raw.entries_per_second(batch));
    println!(
        "wal batch {batch:>4} x {PAYLOAD_BYTES} B ({batch_bytes} B/batch), interleaved ({} batches each): \
         wal {wal_rate:>10.0} entries/s, raw {raw_rate:>10.0} entries/s, ratio {:.1}%",
        paired_wal.iterations.get(),
        100.0 * wal_rate / raw_rate
    );
}

fn bench_wal(c: &mut Criterion) {
    for batch in BATCH_SIZES {
        bench_batch(c, batch);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_wal
}
criterion_main!(benches);
