"""The throughput dip while a member is replaced under `senate bench` load, for both protocols.

    python benches/replace_under_load.py [--protocols raft,paxos] [--cases follower,leader]
        [--duration 20] [--replace-at 6] [--clients 16] [--pipeline 8] [--ratio 1:1]

Per protocol and case: a fresh local 3-node cluster (fsync on) of `senate serve` processes;
`senate bench`'s load generator (`senate.loadgen_process`, its own process: GET and SET of
100-byte values over pipelined RESP connections, spread over the two nodes that stay) runs
for `--duration` measured seconds; `--replace-at` seconds into the window, a member is
replaced by the documented procedure (docs/membership.md; `senate.member_calls.
replace_member`): a fourth node is started empty with `--join`, added as a learner under
id 4, promoted, and the old id removed; then the old node's process is stopped (SIGTERM).
The member replaced is a follower (case `follower`), the leader removed while it leads
(`leader`: it hands its leadership over by itself once the removal commits), or the leader
after `SENATE.TRANSFERLEADER` to a follower that stays (`leader-transfer`).

Printed per run: the ops per second of the window, the median before the replacement, the
lowest second from its start to one second after its end and the dip (that second over the
median before), the median after, the time each step ended at, and the errors the clients
saw (error replies, connections lost, requests unanswered). Seconds are the load
generator's (`LoadResult.series`); the replacement's times are placed on them by the
"measure" progress report, which the generator sends in the event loop step that opens the
window (late only by the pipe).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from senate.launcher import LocalCluster, free_base_port
from senate.loadgen_process import run_load_subprocess
from senate.loadspec import LoadResult, LoadSpec, Progress
from senate.member_calls import Replacement, replace_member

CASES = ("follower", "leader", "leader-transfer")
#: Seconds the whole replacement may take before the run fails.
REPLACE_TIMEOUT_S = 120.0


@dataclass
class Figures:
    protocol: str
    case: str
    old_id: int
    ops_per_s: list[float]  # by second of the window
    start_s: float  # the replacement's start, from the window's start
    replacement: Replacement
    median_before: float
    lowest_during: float
    median_after: float
    error_replies: int
    connections_lost: int
    unanswered: int
    error_messages: tuple[str, ...]

    @property
    def dip(self) -> float:
        return self.lowest_during / self.median_before if self.median_before else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "case": self.case,
            "old_id": self.old_id,
            "ops_per_s": self.ops_per_s,
            "start_s": self.start_s,
            "step_end_s": {k: self.start_s + v for k, v in self.replacement.step_end_s.items()},
            "total_s": self.replacement.total_s,
            "median_before": self.median_before,
            "lowest_during": self.lowest_during,
            "dip": self.dip,
            "median_after": self.median_after,
            "error_replies": self.error_replies,
            "connections_lost": self.connections_lost,
            "unanswered": self.unanswered,
            "error_messages": list(self.error_messages),
        }


def one_run(protocol: str, case: str, args: argparse.Namespace) -> Figures:
    with tempfile.TemporaryDirectory(prefix="senate-replace-") as root:
        # The nodes' own call timeout stays the default (5 s): a change whose outcome the
        # node cannot wait for answers TRYAGAIN, and replace_member asks again.
        overrides = {"protocol": protocol}
        with LocalCluster(
            nodes=3, data_dir=Path(root), base_port=free_base_port(4), overrides=overrides
        ) as cluster:
            leader = cluster.wait_ready(timeout_s=60)
            followers = [i for i in cluster.config.ids if i != leader]
            old_id = followers[0] if case == "follower" else leader
            transfer_to = followers[0] if case == "leader-transfer" else None
            stays = [n.client for n in cluster.nodes if n.id != old_id]
            spec = LoadSpec(
                endpoints=tuple(stays),
                clients=args.clients,
                pipeline=args.pipeline,
                duration_s=args.duration,
                warmup_s=1.0,
                ratio=args.ratio,
            )
            window_start = threading.Event()
            window_start_at = [0.0]

            def on_progress(progress: Progress) -> None:
                if progress.phase == "measure" and not window_start.is_set():
                    window_start_at[0] = time.monotonic()
                    window_start.set()

            outcome: dict[str, LoadResult | BaseException] = {}

            def load() -> None:
                try:
                    outcome["result"] = run_load_subprocess(spec, on_progress)
                except BaseException as e:
                    outcome["error"] = e

            loader = threading.Thread(target=load, name="load")
            loader.start()
            if not window_start.wait(60):
                raise RuntimeError(f"the load did not start: {outcome}")
            time.sleep(max(0.0, window_start_at[0] + args.replace_at - time.monotonic()))
            started = time.monotonic()
            new_id = cluster.add_node()  # the process, started empty with join = true
            members = {n.id: n.client for n in cluster.nodes if n.id != new_id}
            replacement = replace_member(
                members,
                old_id,
                new_id,
                cluster.config.addresses(new_id).peer,
                timeout_s=REPLACE_TIMEOUT_S,
                transfer_to=transfer_to,
            )
            cluster.kill(old_id, signal.SIGTERM)
            replacement.step_end_s["stop"] = time.monotonic() - started
            loader.join()
            if "error" in outcome:
                raise RuntimeError(f"the load failed: {outcome['error']}")
            result = outcome["result"]
            assert isinstance(result, LoadResult)
            return figures(
                protocol, case, old_id, result, started - window_start_at[0], replacement
            )


def figures(
    protocol: str,
    case: str,
    old_id: int,
    result: LoadResult,
    start_s: float,
    replacement: Replacement,
) -> Figures:
    """The window's seconds split at the replacement's start and one second after its end."""
    per_s = [sum(s.ops.values()) / s.seconds for s in result.series if s.seconds >= 0.5]
    end_s = start_s + replacement.total_s
    before = [v for i, v in enumerate(per_s) if i + 1 <= start_s]
    during = [v for i, v in enumerate(per_s) if i + 1 > start_s and i < end_s + 1]
    after = [v for i, v in enumerate(per_s) if i >= end_s + 1]
    return Figures(
        protocol=protocol,
        case=case,
        old_id=old_id,
        ops_per_s=per_s,
        start_s=start_s,
        replacement=replacement,
        median_before=statistics.median(before) if before else 0.0,
        lowest_during=min(during) if during else 0.0,
        median_after=statistics.median(after) if after else 0.0,
        error_replies=sum(r.errors_total for r in result.per_op.values()),
        connections_lost=result.connection_errors,
        unanswered=result.unanswered,
        error_messages=result.error_messages,
    )


def report(f: Figures) -> str:
    steps = ", ".join(
        f"{name} at {f.start_s + t:.2f} s" for name, t in f.replacement.step_end_s.items()
    )
    series = " ".join(f"{v:.0f}" for v in f.ops_per_s)
    return (
        f"{f.protocol} {f.case} (node {f.old_id} replaced by {f.replacement.new_id}):\n"
        f"  ops/s by second: {series}\n"
        f"  replacement from {f.start_s:.2f} s: {steps}; "
        f"add..remove {f.replacement.step_end_s['remove']:.2f} s\n"
        f"  median before {f.median_before:.0f} ops/s, lowest second during "
        f"{f.lowest_during:.0f} (dip to {f.dip:.0%}), median after {f.median_after:.0f}\n"
        f"  errors seen by clients: {f.error_replies} error replies, {f.connections_lost} "
        f"connections lost, {f.unanswered} requests unanswered"
        + (f"; first: {list(f.error_messages[:3])}" if f.error_messages else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", default="raft,paxos")
    parser.add_argument("--cases", default="follower,leader")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--replace-at", type=float, default=6.0, help="seconds into the window")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pipeline", type=int, default=8)
    parser.add_argument("--ratio", default="1:1", help="READS:WRITES")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args()
    cases = args.cases.split(",")
    if unknown := set(cases) - set(CASES):
        parser.error(f"unknown cases {sorted(unknown)}: choose among {', '.join(CASES)}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs = []
    for protocol in args.protocols.split(","):
        for case in cases:
            f = one_run(protocol, case, args)
            runs.append(f)
            print(report(f))
            sys.stdout.flush()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json is not None:
        args.json.write_text(json.dumps([f.to_json() for f in runs], indent=2))


if __name__ == "__main__":
    main()
