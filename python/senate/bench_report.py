"""The report of a load run: a rich table, a JSON file, and a PNG of the per-second series.

The plot needs matplotlib, the `plot` extra (`pip install 'senate[plot]'`); it is imported
only when a plot is asked for, with the Agg backend (no display needed).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from senate.client import DEFAULT_BALANCER
from senate.failover import Failover
from senate.histogram import REPORTED_PERCENTILES, Histogram
from senate.loadspec import LoadResult, LoadSpec


def load_description(spec: LoadSpec) -> str:
    """Who sends the load, e.g. "50 clients x pipeline 16"."""
    if spec.client != "senate":
        return f"{spec.clients} clients x pipeline {spec.pipeline}"
    reads = f"stale reads ({spec.balancer or DEFAULT_BALANCER})" if spec.stale else "leader reads"
    return f"{spec.clients} callers of one senate.Client, {reads}"


def result_table(result: LoadResult, title: str = "senate bench") -> Table:
    """Ops/s, errors and latency percentiles (ms) per operation, and their total.

    Fits 80 columns; the operation counts are in the JSON.
    """
    spec = result.spec
    caption = (
        f"{len(spec.endpoints)} endpoint(s), {load_description(spec)}, "
        f"ratio {spec.ratio} (reads:writes), {spec.keys:,} keys, {spec.value_size} B values, "
        f"{result.window_s:.1f} s measured after {spec.warmup_s:g} s warm-up, {result.loop}"
    )
    if spec.pipeline > 1 and len(result.per_op) > 1:
        # RESP answers a connection's requests in order: a GET pipelined behind a SET waits
        # for the SET's commit, and the replies of a batch arrive together.
        caption += "; pipelined replies come in order, so the operations' latencies converge"
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAVY)
    table.add_column("op")
    for column in ("ops/s", "errors"):
        table.add_column(column, justify="right")
    for percent in REPORTED_PERCENTILES:
        table.add_column(f"p{percent:g} ms", justify="right")
    table.add_column("max ms", justify="right")

    def add_row(name: str, ops: int, errors: int, latency: Histogram, style: str = "") -> None:
        error_cell = f"[bold red]{errors:,}[/bold red]" if errors else "0"
        table.add_row(
            name,
            f"{ops / result.window_s:,.0f}",
            error_cell,
            *(f"{latency.percentile(p) * 1e3:.3f}" for p in REPORTED_PERCENTILES),
            f"{latency.max_s * 1e3:.3f}",
            style=style,
        )

    for name, op_result in result.per_op.items():
        add_row(name.upper(), op_result.ops, op_result.errors, op_result.latency)
    if len(result.per_op) > 1:
        add_row("total", result.ops, result.errors, result.latency(), style="bold")
    return table


def protocols_table(summaries: list[ProtocolSummary]) -> Table:
    """Protocols side by side over alternated rounds (each round ran every protocol, in turn,
    on a fresh cluster): the median over rounds of ops/s and of each latency percentile of
    all operations, and the median of each round's ops/s ratio to the first protocol's (a
    ratio taken within a round cancels the drift of a shared machine between rounds)."""
    first = summaries[0]
    table = Table(
        title=f"protocols side by side, {first.rounds} alternated round(s)",
        caption=f"{first.load}; medians over rounds",
        box=box.SIMPLE_HEAVY,
    )
    table.add_column("protocol")
    table.add_column("ops/s", justify="right")
    for percent in REPORTED_PERCENTILES:
        table.add_column(f"p{percent:g} ms", justify="right")
    table.add_column(f"vs {first.protocol}", justify="right")
    for summary in summaries:
        table.add_row(
            summary.protocol,
            f"{summary.ops_per_s:,.0f}",
            *(f"{summary.latency_ms[f'p{p:g}']:.3f}" for p in REPORTED_PERCENTILES),
            f"{summary.ops_ratio:.2f}x",
        )
    return table


#: The failover the side-by-side bench aims at, in election timeouts (reported, not enforced).
FAILOVER_TARGET_ETS = 2.0


@dataclass(frozen=True)
class ProtocolRun:
    """One protocol's run in one round of the side-by-side bench: the load, the CPU time
    each node used in its measured window, and the failover measured after it."""

    result: LoadResult
    leader: int  # the id of the node that led when the window started
    leader_moved: bool  # another (or no) node led when it ended: the CPU per role is mixed
    cpu_s: dict[int, float]  # node id -> CPU seconds (user + system) used in the window
    failover: Failover

    def cpu_us_per_op(self, node_id: int) -> float:
        """The node's CPU time per operation of the window, in µs (NaN if none was done)."""
        if self.result.ops == 0:
            return math.nan
        return self.cpu_s[node_id] / self.result.ops * 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "leader_moved": self.leader_moved,
            "cpu_s": {str(node): seconds for node, seconds in self.cpu_s.items()},
            "leader_us_per_op": self.leader_us_per_op,
            "followers_us_per_op": self.followers_us_per_op,
            "failover": asdict(self.failover)
            | {"election_timeouts": self.failover.election_timeouts},
            "result": self.result.to_json(),
        }

    @property
    def leader_us_per_op(self) -> float:
        return self.cpu_us_per_op(self.leader)

    @property
    def followers_us_per_op(self) -> float:
        """The followers' mean."""
        followers = [node for node in self.cpu_s if node != self.leader]
        assert followers, self.cpu_s
        return statistics.fmean(self.cpu_us_per_op(node) for node in followers)


@dataclass(frozen=True)
class ProtocolSummary:
    """One protocol over the rounds of the side-by-side bench: medians over rounds (a ratio
    is taken within each round, then its median: that cancels the drift of a shared machine
    between rounds). What the tables print and `--json` writes."""

    protocol: str
    rounds: int
    load: str  # who sent the load, as `load_description`
    ops_per_s: float
    latency_ms: dict[str, float]  # "p50", "p90", ... of all operations
    ops_ratio: float  # to the first protocol's ops/s
    leader_us_per_op: float
    followers_us_per_op: float
    failover_ms: float
    failover_ets: float
    failover_ets_max: float
    failover_rounds_within_target: int  # rounds with a failover <= FAILOVER_TARGET_ETS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize_protocols(rounds: list[dict[str, ProtocolRun]]) -> list[ProtocolSummary]:
    """Every protocol's `ProtocolSummary`, in the order they ran; `rounds` is not empty and
    every round ran every protocol."""
    protocols = list(rounds[0])
    first = protocols[0]
    summaries = []
    for protocol in protocols:
        runs = [r[protocol] for r in rounds]
        latencies = [run.result.latency() for run in runs]
        ets = [run.failover.election_timeouts for run in runs]
        summaries.append(
            ProtocolSummary(
                protocol=protocol,
                rounds=len(rounds),
                load=load_description(runs[0].result.spec),
                ops_per_s=statistics.median(run.result.ops_per_s for run in runs),
                latency_ms={
                    f"p{p:g}": statistics.median(h.percentile(p) for h in latencies) * 1e3
                    for p in REPORTED_PERCENTILES
                },
                ops_ratio=statistics.median(
                    r[protocol].result.ops_per_s / r[first].result.ops_per_s for r in rounds
                ),
                leader_us_per_op=statistics.median(run.leader_us_per_op for run in runs),
                followers_us_per_op=statistics.median(run.followers_us_per_op for run in runs),
                failover_ms=statistics.median(run.failover.seconds for run in runs) * 1e3,
                failover_ets=statistics.median(ets),
                failover_ets_max=max(ets),
                failover_rounds_within_target=sum(e <= FAILOVER_TARGET_ETS for e in ets),
            )
        )
    return summaries


def write_side_by_side_json(
    rounds: list[dict[str, ProtocolRun]], summaries: list[ProtocolSummary], path: Path
) -> None:
    """The side-by-side bench as JSON: the summaries, the ratios of TLS to plain runs (with
    `--tls`), then every round's runs in full."""
    record = {
        "mode": "side_by_side",
        "protocols": [summary.protocol for summary in summaries],
        "failover_target_ets": FAILOVER_TARGET_ETS,
        "summary": [summary.to_json() for summary in summaries],
        "tls_target_ratio": TLS_TARGET_RATIO,
        "tls_ops_ratios": tls_ratios(rounds),
        "rounds": [{p: run.to_json() for p, run in r.items()} for r in rounds],
    }
    path.write_text(json.dumps(record, indent=2) + "\n")


#: The cost of TLS the bench aims at, as ops/s over TLS / ops/s without, within a round:
#: at most 25% of the throughput lost (reported, not enforced).
TLS_TARGET_RATIO = 0.75
#: A TLS run's label is its plain run's with this suffix ("raft+tls" and "raft").
TLS_LABEL_SUFFIX = "+tls"


def tls_ratios(rounds: list[dict[str, ProtocolRun]]) -> dict[str, list[float]]:
    """For each label with a TLS twin in the runs ("raft" and "raft+tls"), the ratio of the
    twin's ops/s to its own in each round, in round order."""
    labels = list(rounds[0]) if rounds else []
    return {
        label: [
            r[label + TLS_LABEL_SUFFIX].result.ops_per_s / r[label].result.ops_per_s for r in rounds
        ]
        for label in labels
        if label + TLS_LABEL_SUFFIX in labels
    }


def tls_cost_lines(rounds: list[dict[str, ProtocolRun]]) -> list[str]:
    """E.g. "TLS, raft: 0.82x the ops/s of plain TCP (rounds: 0.80x, 0.82x, 0.85x), 18% of
    the throughput; target: at most 25%"."""
    lines = []
    for label, ratios in tls_ratios(rounds).items():
        median = statistics.median(ratios)
        each = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        verdict = "within" if median >= TLS_TARGET_RATIO else "over"
        lines.append(
            f"TLS, {label}: {median:.2f}x the ops/s of plain TCP (median of the rounds' "
            f"ratios: {each}), {1 - median:.0%} of the throughput; {verdict} the target of "
            f"at most {1 - TLS_TARGET_RATIO:.0%}"
        )
    return lines


def cpu_line(run: ProtocolRun) -> str:
    """E.g. "CPU per op: leader (node 1) 45.2 µs, followers 30.1 µs (node 2 31.0, ...)"."""
    followers = ", ".join(
        f"node {node} {run.cpu_us_per_op(node):.1f}" for node in run.cpu_s if node != run.leader
    )
    return (
        f"CPU per op: leader (node {run.leader}) {run.leader_us_per_op:.1f} µs, "
        f"followers {run.followers_us_per_op:.1f} µs ({followers})"
    )


def failover_line(failover: Failover) -> str:
    """E.g. "failover: leader 1 SIGKILLed, a SET acknowledged 207 ms later (1.38 election
    timeouts) by 127.0.0.1:6402 (9 SET(s) sent since, each with a timeout of 15 ms)"."""
    return (
        f"failover: leader {failover.killed} SIGKILLed, a SET acknowledged "
        f"{failover.seconds * 1e3:.0f} ms later ({failover.election_timeouts:.2f} election "
        f"timeouts) by {failover.acknowledged_by} ({failover.attempts} SET(s) sent since, "
        f"each with a timeout of {failover.set_timeout_s * 1e3:.0f} ms)"
    )


def protocols_cost_table(
    rounds: list[dict[str, ProtocolRun]], summaries: list[ProtocolSummary]
) -> Table:
    """Protocols side by side, as `protocols_table`: the median over rounds of each node
    role's CPU time per operation, and of the failover time (in ms and in election timeouts,
    with the rounds within `FAILOVER_TARGET_ETS`)."""
    first_run = next(iter(rounds[0].values()))
    election_timeout_s = first_run.failover.election_timeout_s
    set_timeout_s = max(run.failover.set_timeout_s for r in rounds for run in r.values())
    caption = (
        "CPU: user+system time of each node in the measured window, per operation of the "
        "window (followers: their mean). Failover: from the SIGKILL of the leader to the "
        f"first SET acknowledged after it (one writer, SET timeouts <= "
        f"{set_timeout_s * 1e3:.0f} ms). ET: election timeout, "
        f"{election_timeout_s * 1e3:.0f} ms. Medians over rounds."
    )
    if moved := sum(run.leader_moved for r in rounds for run in r.values()):
        caption += f" The leader changed in {moved} window(s): CPU per role mixed there."
    table = Table(
        title=f"CPU per operation and failover, {len(rounds)} alternated round(s)",
        caption=caption,
        box=box.SIMPLE_HEAVY,
    )
    table.add_column("protocol")
    columns = (
        "leader\nµs/op",
        "followers\nµs/op",
        "failover\nms",
        "failover\nETs",
        "max\nETs",
        f"rounds\n<= {FAILOVER_TARGET_ETS:g} ETs",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for summary in summaries:
        table.add_row(
            summary.protocol,
            f"{summary.leader_us_per_op:.1f}",
            f"{summary.followers_us_per_op:.1f}",
            f"{summary.failover_ms:.0f}",
            f"{summary.failover_ets:.2f}",
            f"{summary.failover_ets_max:.2f}",
            f"{summary.failover_rounds_within_target}/{summary.rounds}",
        )
    return table


def per_node_table(result: LoadResult) -> Table | None:
    """The window's requests by the endpoint that answered them; None when not known."""
    if result.per_node is None:
        return None
    table = Table(title="requests by node", box=box.SIMPLE_HEAVY)
    table.add_column("endpoint")
    for column in ("requests/s", "share"):
        table.add_column(column, justify="right")
    total = sum(result.per_node.values())
    for endpoint, requests in result.per_node.items():
        share = f"{requests / total:.1%}" if total else "-"
        table.add_row(endpoint, f"{requests / result.window_s:,.0f}", share)
    return table


def problems(result: LoadResult) -> list[str]:
    """What makes the run not a clean measurement, one line each (empty when `result.ok`)."""
    lines = []
    for name, op_result in result.per_op.items():
        if op_result.errors_total:
            lines.append(
                f"{op_result.errors_total:,} of {op_result.replies_total:,} {name.upper()} "
                f"replies were errors (warm-up and drain included)"
            )
    if result.connection_errors:
        lines.append(f"{result.connection_errors} connection(s) failed")
    if lines:
        lines.extend(f"  {message}" for message in result.error_messages)
    if result.unanswered:
        lines.append(f"{result.unanswered:,} requests were never answered")
    return lines


def write_json(result: LoadResult, path: Path) -> None:
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")


def write_plot(result: LoadResult, path: Path) -> None:
    """Throughput and latency p50/p99 over time, per operation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency) = plt.subplots(2, 1, sharex=True, figsize=(9, 6.5))
    times = [sample.t_s + sample.seconds for sample in result.series]  # each second's end
    marker = "o" if len(times) <= 30 else ""
    for name in result.per_op:
        throughput.plot(
            times, [s.ops_per_s(name) for s in result.series], label=name.upper(), marker=marker
        )
        latency.plot(
            times,
            [s.p50_ms[name] for s in result.series],
            label=f"{name.upper()} p50",
            marker=marker,
        )
        latency.plot(
            times,
            [s.p99_ms[name] for s in result.series],
            label=f"{name.upper()} p99",
            linestyle="--",
            marker=marker,
        )
    spec = result.spec
    throughput.set_title(f"{load_description(spec)}, ratio {spec.ratio} (reads:writes)")
    throughput.set_ylabel("ops/s")
    throughput.set_ylim(bottom=0)
    latency.set_ylabel("latency (ms)")
    latency.set_ylim(bottom=0)
    latency.set_xlabel("seconds into the measured window")
    for axes in (throughput, latency):
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
