"""What a log write costs on this machine's disk: write + fdatasync, alone and in parallel.

    python benches/disk_probe.py [--bytes 500] [--writes 2000] [--parallel 1,3,5] [--dir D]

Each writer process appends `--bytes` at a time to its own file, allocated ahead with
posix_fallocate as the log's segments are (`WalOptions.preallocate`), with an fdatasync
after every write, and reports the latency p50 and p90 and the CPU per write (the process's
own user + system time). `--parallel 3,5` runs as many writers at once: the nodes of a local
cluster share one disk, so a node's log writes wait for the others' flushes. The figures
give the context of a note's cluster figures ("the machine today"); the directory defaults
to the one temporary files go to, where `benches/kv_cluster.py` puts its clusters.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time

#: Bytes allocated ahead in each writer's file (more than `--writes` x `--bytes` needs).
FILE_BYTES = 64 << 20


def one_writer(directory: str, size: int, writes: int, start: float) -> tuple[float, float, float]:
    """(p50 s, p90 s, CPU s per write) of `writes` appends of `size` bytes, each fdatasynced;
    the writing starts at `start` (time.time()), together with the other writers."""
    fd, path = tempfile.mkstemp(dir=directory, prefix="disk_probe_")
    try:
        os.posix_fallocate(fd, 0, FILE_BYTES)
        os.fsync(fd)
        data, offset, latencies = b"y" * size, 0, []
        time.sleep(max(0.0, start - time.time()))
        cpu_before = time.process_time()
        for _ in range(writes):
            began = time.perf_counter()
            os.pwrite(fd, data, offset)
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - began)
            offset = (offset + size) % (FILE_BYTES - size)
        cpu_s = (time.process_time() - cpu_before) / writes
    finally:
        os.close(fd)
        os.unlink(path)
    deciles = statistics.quantiles(latencies, n=10)
    return statistics.median(latencies), deciles[8], cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=500)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--parallel", default="1,3,5")
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    for writers in (int(k) for k in args.parallel.split(",")):
        start = time.time() + 0.5
        with multiprocessing.Pool(writers) as pool:
            results = pool.starmap(
                one_writer, [(args.dir, args.bytes, args.writes, start)] * writers
            )
        # The median writer's figures.
        p50_s, p90_s, cpu_s = (statistics.median(r[i] for r in results) for i in range(3))
        print(
            f"{writers} writer(s), {args.bytes} B + fdatasync:"
            f" p50 {p50_s * 1e6:,.0f} us, p90 {p90_s * 1e6:,.0f} us,"
            f" CPU {cpu_s * 1e6:.1f} us per write ({writers / p50_s:,.0f} writes/s together)"
        )


if __name__ == "__main__":
    main()
