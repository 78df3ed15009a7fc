"""The event loop's longest stall on a node while it restores the leader's snapshot.

    python benches/restore_stall.py [--keys 1200000] [--value-bytes 200] [--rounds 1]
        [--protocol raft|paxos]

Starts a local 3-node cluster of `senate serve` processes (fsync on, `snapshot_entries`
lowered so that the leader's last snapshot covers most of the load), loads `--keys` keys of
`--value-bytes` (benches/bulk_load.py), then in each round adds learners that run in this
process (a `senate.Node` with the key-value machine, new ids, empty disks) one after the
other, one per mode, alternating which goes first:

- `worker`: the restore as the runtime does it: the new store decoded in a worker thread
  without the interpreter lock, swapped in on the loop;
- `loop`: the restore as it was before, on the event loop: a machine whose `prepare_restore`
  only hands its part on and whose `finish_restore` copies it to bytes and decodes it into the
  store (the build before also copied the whole snapshot once more on the loop, so this
  understates its stall a little).

While a learner catches up, a probe coroutine on its loop wakes every millisecond and records
how late it woke. Printed per learner: the longest lateness while its restore ran (from the
start of `prepare_restore` to the end of `finish_restore`) and over the whole catch-up, the
restore's duration, the snapshot's bytes, and this process's resident memory before the
learner started and at its peak during the catch-up (VmHWM, reset before each learner; the
learner is the only node in this process). Each learner is removed and stopped after its
round, its data directory deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from senate import Node
from senate._core import KvStore, SnapshotData
from senate.kv import KvMachine
from senate.launcher import LocalCluster, free_base_port
from senate.member_calls import call_leader
from senate.status import resp_call

# Run as a script from anywhere: the repository's root holds the `benches` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benches.bulk_load import load_keys_mset
from benches.kv_cluster import leader_port

#: How often the probe wakes, in seconds.
PROBE_INTERVAL_S = 0.001
#: A catch-up is given up after this long.
CATCH_UP_TIMEOUT_S = 1200.0
MODES = ("worker", "loop")


class TimedKv(KvMachine):
    """The key-value machine, timing its restore; in `loop` mode it decodes on the loop."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.started_s = 0.0
        self.finished_s = 0.0
        self.part_bytes = 0

    def prepare_restore(self, part: SnapshotData) -> KvStore | SnapshotData:  # type: ignore[override]
        self.started_s = time.monotonic()
        self.part_bytes = len(part)
        return super().prepare_restore(part) if self.mode == "worker" else part

    def finish_restore(self, prepared: KvStore | SnapshotData) -> None:
        if isinstance(prepared, SnapshotData):
            # As before: the part copied to bytes and decoded into the store, on the loop.
            self.store.restore(bytes(prepared))
        else:
            super().finish_restore(prepared)
        self.finished_s = time.monotonic()

    def restore(self, data: bytes) -> None:
        # Only a build without `prepare_restore` calls this for the leader's snapshot (on the
        # loop): run under it, this script measures that build.
        self.started_s = time.monotonic()
        self.part_bytes = len(data)
        super().restore(data)
        self.finished_s = time.monotonic()


@dataclass
class Result:
    mode: str
    restore_stall_s: float
    catch_up_stall_s: float
    restore_s: float
    snapshot_bytes: int
    rss_before_mib: float
    rss_peak_mib: float
    keys: int


def proc_status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def probe(samples: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """Sleeps `PROBE_INTERVAL_S` over and over; records (due, woke) of each wake."""
    while not stop.is_set():
        due = time.monotonic() + PROBE_INTERVAL_S
        await asyncio.sleep(PROBE_INTERVAL_S)
        samples.append((due, time.monotonic()))


def longest_late(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """The longest lateness of a wake whose wait overlapped `[start, end]`."""
    late = [woke - due for due, woke in samples if woke >= start and due - PROBE_INTERVAL_S <= end]
    return max(late, default=0.0)


async def add_learner(
    cluster: LocalCluster, node_id: int, mode: str, root: Path, keys: int, protocol: str
) -> Result:
    members = {n.id: n.client for n in cluster.nodes}
    peers = {n.id: cluster.config.addresses(n.id).peer for n in cluster.nodes}
    address = f"127.0.0.1:{free_port()}"
    machine = TimedKv(mode)
    data_dir = root / f"learner-{node_id}"
    node = Node(
        machine,
        id=node_id,
        peers={**peers, node_id: address},
        joining={node_id},
        data_dir=str(data_dir),
        protocol=protocol,
        call_timeout_s=CATCH_UP_TIMEOUT_S,
    )
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
    rss_before = proc_status_mib("VmRSS")
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    await node.start()
    probing = asyncio.create_task(probe(samples, stop))
    started = time.monotonic()
    try:
        await asyncio.to_thread(
            call_leader,
            list(members.values()),
            *("SENATE.MEMBER", "ADD", str(node_id), address),
            by_id=members,
            timeout_s=CATCH_UP_TIMEOUT_S,
        )
        deadline = started + CATCH_UP_TIMEOUT_S
        while not (machine.finished_s and len(machine.store) >= keys):
            if time.monotonic() > deadline:
                raise RuntimeError(f"learner {node_id} did not catch up in {CATCH_UP_TIMEOUT_S} s")
            if not machine.started_s and len(machine.store) >= keys:
                raise RuntimeError(f"learner {node_id} caught up by the log: no snapshot")
            await asyncio.sleep(0.05)
        caught_up = time.monotonic()
        rss_peak = proc_status_mib("VmHWM")
    finally:
        stop.set()
        await probing
    await asyncio.to_thread(
        call_leader,
        list(members.values()),
        *("SENATE.MEMBER", "REMOVE", str(node_id)),
        by_id=members,
        timeout_s=CATCH_UP_TIMEOUT_S,
        retry_transient=True,
    )
    held = len(machine.store)
    await node.stop()
    shutil.rmtree(data_dir, ignore_errors=True)
    return Result(
        mode=mode,
        restore_stall_s=longest_late(samples, machine.started_s, machine.finished_s),
        catch_up_stall_s=longest_late(samples, started, caught_up),
        restore_s=machine.finished_s - machine.started_s,
        snapshot_bytes=machine.part_bytes,
        rss_before_mib=rss_before,
        rss_peak_mib=rss_peak,
        keys=held,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_200_000)
    parser.add_argument("--value-bytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--protocol", default="raft", choices=("raft", "paxos"))
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="senate-restore-stall-") as tmp:
        root = Path(tmp)
        # A snapshot every 4,000 entries at the latest (10 x `snapshot_entries`, whatever
        # their bytes): the learners restore one missing at most 4,000 MSETs of the state.
        overrides = {"protocol": args.protocol, "snapshot_entries": 400, "snapshot_bytes": 1 << 20}
        with LocalCluster(
            nodes=3, data_dir=root / "cluster", base_port=free_base_port(3), overrides=overrides
        ) as cluster:
            port, _pid = leader_port(cluster)
            loaded = load_keys_mset(("127.0.0.1", port), args.keys, args.value_bytes)
            held = resp_call(("127.0.0.1", port), "DBSIZE", timeout_s=60)
            assert isinstance(held, int), held
            print(f"loaded: {loaded}; the leader holds {held} keys", flush=True)
            node_id = 10
            for round_number in range(args.rounds):
                modes = MODES if round_number % 2 == 0 else MODES[::-1]
                for mode in modes:
                    node_id += 1
                    result = asyncio.run(
                        add_learner(cluster, node_id, mode, root, held, args.protocol)
                    )
                    print(
                        f"round {round_number + 1}, {mode}: longest loop stall during the"
                        f" restore {result.restore_stall_s * 1000:.1f} ms, during the whole"
                        f" catch-up {result.catch_up_stall_s * 1000:.1f} ms; restore"
                        f" {result.restore_s:.2f} s of {result.snapshot_bytes / 2**20:.0f} MiB"
                        f" ({result.keys} keys); RSS {result.rss_before_mib:.0f} MiB before,"
                        f" peak {result.rss_peak_mib:.0f} MiB",
                        flush=True,
                    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
