"""One `senate chaos` run: a local cluster with fault control, the workload and the nemesis
for the fault phase, then everything healed and the final reads. `checks` checks what was
recorded; the command writes the report directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from senate.chaos.nemesis import FAULT_KINDS, FaultEvent, Nemesis, schedule
from senate.chaos.netfilter import NetfilterPartitioner
from senate.chaos.watch import LeaderChange, LeaderWatcher
from senate.chaos.workload import Operation, Recorder, WorkloadSpec, final_reads, run_workload
from senate.launcher import LauncherError, LocalCluster, free_base_port
from senate.member_calls import member_roles

#: The cluster of a chaos run: short ticks so that elections fit in the faults, and small
#: snapshot thresholds so that snapshots and compaction happen under faults.
CHAOS_TICK_MS = 10.0
CHAOS_SNAPSHOT_ENTRIES = 500
#: How long the cluster may take to be ready (at the start, after the heal), in seconds.
READY_TIMEOUT_S = 60.0
#: Clusters started, at most, when another process takes a port between the choice of the
#: base port and the bind.
START_ATTEMPTS = 3
#: How long the final reads may take after the heal, in seconds.
FINAL_READS_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ChaosSpec:
    out_dir: Path
    nodes: int = 3
    protocol: str = "raft"
    seed: int = 0
    duration_s: float = 30.0
    kinds: tuple[str, ...] = FAULT_KINDS
    clients: int = 10
    registers: int = WorkloadSpec.registers
    counters: int = WorkloadSpec.counters
    rate_per_client: float = WorkloadSpec.rate_per_client
    op_timeout_s: float = WorkloadSpec.op_timeout_s
    #: How partitions are made: "transport" (links cut in the nodes' peer transport) or
    #: "nftables" (packets dropped between per-node loopback addresses: `netfilter`).
    network: str = "transport"


@dataclass
class ChaosRun:
    """What a run recorded (times in seconds since its start)."""

    spec: ChaosSpec
    operations: list[Operation]
    faults: list[FaultEvent]
    leaders: list[LeaderChange]
    fault_phase_end_s: float  # when the nemesis stopped and everything was healed
    healed_ready_s: float  # when the healed cluster was ready again
    anomalies: list[str] = field(default_factory=list)
    #: The configuration at the leader after the heal, {id: role} (a "replace" changes it).
    members: dict[int, str] = field(default_factory=dict)


def run_chaos(spec: ChaosSpec) -> ChaosRun:
    """Runs the cluster, the workload and the nemesis; returns what was recorded (the report
    directory gets the nodes' logs and the history)."""
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    netfilter = NetfilterPartitioner() if spec.network == "nftables" else None
    try:
        with _started_cluster(spec) as cluster:
            return _run_on(spec, cluster, netfilter)
    finally:
        if netfilter is not None:
            netfilter.close()


@contextlib.contextmanager
def _started_cluster(spec: ChaosSpec) -> Iterator[LocalCluster]:
    """The run's cluster, started; a base port taken meanwhile by another process is
    retried with another."""
    for attempt in range(1, START_ATTEMPTS + 1):
        cluster = LocalCluster(
            spec.nodes,
            data_dir=spec.out_dir / "cluster",
            base_port=free_base_port(spec.nodes),
            fsync=True,
            overrides={
                "protocol": spec.protocol,
                "tick_ms": CHAOS_TICK_MS,
                "snapshot_entries": CHAOS_SNAPSHOT_ENTRIES,
            },
            fault_control=True,
            host_per_node=spec.network == "nftables",
        )
        try:
            cluster.start()
        except LauncherError as e:
            cluster.stop()
            if "not available" not in str(e) or attempt == START_ATTEMPTS:
                raise
            continue
        try:
            yield cluster
        finally:
            cluster.close()
        return


def _run_on(
    spec: ChaosSpec, cluster: LocalCluster, netfilter: NetfilterPartitioner | None
) -> ChaosRun:
    recorder = Recorder()

    def clock() -> float:
        return recorder.now_ns() / 1e9

    cluster.wait_ready(READY_TIMEOUT_S)
    watcher = LeaderWatcher(cluster, clock)
    watcher.start()
    try:
        run = asyncio.run(_phases(spec, cluster, recorder, watcher, clock, netfilter))
    finally:
        watcher.stop()
        for node_id in cluster.config.ids:
            shutil.copyfile(cluster.log_path(node_id), spec.out_dir / f"node-{node_id}.log")
    run.leaders = list(watcher.changes)
    return run


async def _phases(
    spec: ChaosSpec,
    cluster: LocalCluster,
    recorder: Recorder,
    watcher: LeaderWatcher,
    clock: Any,
    netfilter: NetfilterPartitioner | None,
) -> ChaosRun:
    workload = WorkloadSpec(
        endpoints=tuple(node.client for node in cluster.nodes),
        clients=spec.clients,
        registers=spec.registers,
        counters=spec.counters,
        rate_per_client=spec.rate_per_client,
        op_timeout_s=spec.op_timeout_s,
        seed=spec.seed,
    )
    stop = asyncio.Event()
    clients = asyncio.ensure_future(run_workload(workload, recorder, stop))
    planned = schedule(spec.seed, spec.kinds, spec.duration_s)
    nemesis = Nemesis(cluster, planned, watcher.leader, clock, netfilter)
    nemesis.start()
    try:
        done, _ = await asyncio.wait({clients}, timeout=spec.duration_s)
        if done:  # the clients stopped early: a crash, reported below
            clients.result()
    finally:
        await asyncio.to_thread(nemesis.stop)  # heals everything
    fault_phase_end_s = clock()
    leader = await asyncio.to_thread(cluster.wait_ready, READY_TIMEOUT_S)
    healed_ready_s = clock()
    members = await asyncio.to_thread(_members_at, cluster, leader)
    # The clients go on across the heal, so that the recovery after the last fault shows.
    await asyncio.sleep(min(5.0, spec.duration_s / 4))
    stop.set()
    await clients
    if nemesis.error is not None:
        raise RuntimeError(f"the nemesis failed: {nemesis.error}") from nemesis.error
    await final_reads(workload, recorder, FINAL_READS_TIMEOUT_S)
    return ChaosRun(
        spec=spec,
        operations=recorder.operations,
        faults=nemesis.events,
        leaders=[],
        fault_phase_end_s=fault_phase_end_s,
        healed_ready_s=healed_ready_s,
        members=members,
    )


def _members_at(cluster: LocalCluster, node_id: int) -> dict[int, str]:
    """The configuration in force at node `node_id` (the leader after the heal): {id: role}."""
    client = next(n.client for n in cluster.nodes if n.id == node_id)
    return member_roles({node_id: client}, security=cluster.client_security)
