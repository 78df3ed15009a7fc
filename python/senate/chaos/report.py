"""What a chaos run shows: the summary (operations by outcome, faults by kind, leader changes,
availability before, during and after each fault, recovery, anomalies) and the plot of
throughput and latency over time with a band per fault.

Availability of a window: the share of the operations invoked in it that succeeded (a failed
read or a write left indeterminate counts against it). Recovery after a fault: from its end
to the first acknowledged write invoked after it.
"""

from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from senate.chaos.checks import exactly_once_counters
from senate.chaos.nemesis import FaultEvent
from senate.chaos.runner import ChaosRun
from senate.chaos.workload import WRITES, Operation

#: The plot's time buckets, in seconds.
PLOT_BUCKET_S = 0.25


@dataclass(frozen=True)
class Window:
    """Operations invoked in `[start_s, end_s)`."""

    start_s: float
    end_s: float
    operations: int
    succeeded: int

    @property
    def availability(self) -> float | None:
        return self.succeeded / self.operations if self.operations else None


def window(operations: list[Operation], start_s: float, end_s: float) -> Window:
    invoked = [op for op in operations if start_s <= op.invoke_ns / 1e9 < end_s]
    return Window(start_s, end_s, len(invoked), sum(op.outcome == "ok" for op in invoked))


def recovery_s(operations: list[Operation], after_s: float) -> float | None:
    """From `after_s` to the completion of the first acknowledged write invoked after it."""
    for op in operations:
        if op.kind in WRITES and op.outcome == "ok" and op.invoke_ns / 1e9 >= after_s:
            assert op.complete_ns is not None
            return op.complete_ns / 1e9 - after_s
    return None


@dataclass(frozen=True)
class FaultFigures:
    fault: FaultEvent
    before: Window  # from the end of the previous fault (or the start)
    during: Window
    after: Window  # to the start of the next fault (or the end of the fault phase)
    recovery_s: float | None


def fault_figures(run: ChaosRun) -> list[FaultFigures]:
    figures = []
    ends_s = [f.end_s if f.end_s is not None else run.fault_phase_end_s for f in run.faults]
    starts_s = [f.start_s for f in run.faults[1:]] + [run.fault_phase_end_s]
    previous_end_s = 0.0
    for fault, end_s, next_start_s in zip(run.faults, ends_s, starts_s, strict=True):
        figures.append(
            FaultFigures(
                fault,
                window(run.operations, previous_end_s, fault.start_s),
                window(run.operations, fault.start_s, end_s),
                window(run.operations, end_s, max(end_s, next_start_s)),
                recovery_s(run.operations, end_s),
            )
        )
        previous_end_s = end_s
    return figures


def summary(run: ChaosRun) -> dict[str, Any]:
    """The run's figures, JSON-ready."""
    outcomes = collections.Counter(f"{op.kind} {op.outcome}" for op in run.operations)
    figures = fault_figures(run)
    last_fault_end_s = max((f.during.end_s for f in figures), default=0.0)
    after = window(run.operations, run.healed_ready_s, float("inf"))
    return {
        "nodes": run.spec.nodes,
        "protocol": run.spec.protocol,
        "seed": run.spec.seed,
        "duration_s": run.spec.duration_s,
        "operations": len(run.operations),
        "outcomes": dict(sorted(outcomes.items())),
        "faults": dict(collections.Counter(f.kind for f in run.faults)),
        "fault_errors": [e for f in run.faults for e in f.errors],
        "leader_changes": max(0, len(run.leaders) - 1),
        "availability_between_faults": _mean([f.before.availability for f in figures]),
        "availability_during_faults": _mean([f.during.availability for f in figures]),
        "availability_after_heal": after.availability,  # once the cluster was ready again
        "recovery_s_max": max((f.recovery_s or 0.0 for f in figures), default=None),
        "healed_ready_s": run.healed_ready_s - run.fault_phase_end_s,
        "last_fault_end_s": last_fault_end_s,
        "per_fault": [
            {
                **f.fault.to_json(),
                "availability_before": f.before.availability,
                "availability_during": f.during.availability,
                "availability_after": f.after.availability,
                "recovery_s": f.recovery_s,
            }
            for f in figures
        ],
        "members_after_heal": {str(i): role for i, role in sorted(run.members.items())},
        "exactly_once_counters": exactly_once_counters(run.operations),
        "anomalies": run.anomalies,
    }


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def faults_table(run: ChaosRun) -> Table:
    table = Table(
        title="faults",
        caption="before, during, after: availability (operations invoked then that succeeded)",
        box=box.SIMPLE_HEAVY,
    )
    columns = ("at s", "kind", "what", "before", "during", "after", "recovery ms")
    for column in columns:
        table.add_column(
            column,
            justify="left" if column in ("kind", "what") else "right",
            no_wrap=column != "what",
        )
    for f in fault_figures(run):
        recovery = "-" if f.recovery_s is None else f"{f.recovery_s * 1e3:.0f}"
        table.add_row(
            f"{f.fault.start_s:.1f}",
            f.fault.kind,
            f.fault.detail,
            _percent(f.before.availability),
            _percent(f.during.availability),
            _percent(f.after.availability),
            recovery,
        )
    return table


def summary_table(figures: dict[str, Any]) -> Table:
    table = Table(
        title=f"senate chaos: {figures['nodes']} nodes, {figures['protocol']}, "
        f"seed {figures['seed']}, {figures['duration_s']:g} s of faults",
        box=box.SIMPLE_HEAVY,
        show_header=False,
    )
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_row("operations", f"{figures['operations']:,}")
    for outcome, count in figures["outcomes"].items():
        table.add_row(f"  {outcome}", f"{count:,}")
    table.add_row("faults", f"{sum(figures['faults'].values())}")
    for kind, count in sorted(figures["faults"].items()):
        table.add_row(f"  {kind}", f"{count}")
    table.add_row("leader changes", f"{figures['leader_changes']}")
    table.add_row("availability between faults", _percent(figures["availability_between_faults"]))
    table.add_row("availability during faults", _percent(figures["availability_during_faults"]))
    table.add_row("availability after the heal", _percent(figures["availability_after_heal"]))
    recovery = figures["recovery_s_max"]
    table.add_row("slowest recovery", "-" if recovery is None else f"{recovery * 1e3:.0f} ms")
    for key, counter in figures["exactly_once_counters"].items():
        table.add_row(
            f"{key}: INCRs acknowledged, final",
            f"{counter['acknowledged_incrs']:,}, {counter['final_value']:,}",
        )
    anomalies = len(figures["anomalies"])
    table.add_row("anomalies", f"[bold red]{anomalies}[/bold red]" if anomalies else "0")
    return table


def write_plot(run: ChaosRun, path: Path) -> None:
    """Throughput (acknowledged, and failed or indeterminate) and latency p50/p99 over time,
    per `PLOT_BUCKET_S`, with a shaded band per fault and a line per leader change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end_s = max((op.invoke_ns / 1e9 for op in run.operations), default=1.0)
    buckets = int(end_s / PLOT_BUCKET_S) + 1
    ok = [0] * buckets
    bad = [0] * buckets
    latencies: list[list[float]] = [[] for _ in range(buckets)]
    for op in run.operations:
        i = int(op.invoke_ns / 1e9 / PLOT_BUCKET_S)
        if op.outcome == "ok":
            ok[i] += 1
            assert op.complete_ns is not None
            latencies[i].append((op.complete_ns - op.invoke_ns) / 1e6)
        else:
            bad[i] += 1
    times = [i * PLOT_BUCKET_S for i in range(buckets)]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 6.5))
    top.plot(times, [n / PLOT_BUCKET_S for n in ok], label="acknowledged", color="tab:blue")
    top.plot(times, [n / PLOT_BUCKET_S for n in bad], label="failed or unknown", color="tab:red")
    top.set_ylabel("operations/s (by invocation)")
    for q, style in ((0.5, "-"), (0.99, "--")):
        series = [_quantile(values, q) for values in latencies]
        bottom.plot(times, series, style, color="tab:green", label=f"p{q * 100:g}")
    bottom.set_yscale("log")
    bottom.set_ylabel("latency ms (acknowledged)")
    bottom.set_xlabel("seconds since the start")
    for axes in (top, bottom):
        for fault in run.faults:
            end = fault.end_s if fault.end_s is not None else run.fault_phase_end_s
            axes.axvspan(fault.start_s, end, color="tab:orange", alpha=0.15)
        for change in run.leaders[1:]:
            axes.axvline(change.t_s, color="grey", linestyle=":", linewidth=1)
        axes.legend(loc="upper right")
    for fault in run.faults:
        top.text(fault.start_s, 1.01, fault.kind, transform=top.get_xaxis_transform(),
                 fontsize=7, rotation=30)  # fmt: skip
    figure.suptitle(
        f"senate chaos: {run.spec.nodes} nodes, {run.spec.protocol}, seed {run.spec.seed} "
        "(bands: faults; dotted: leader changes)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
