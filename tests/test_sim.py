"""The simulation through the Python API: deterministic replay, reports, the GIL released."""

from __future__ import annotations

import threading

import senate
from senate.sim import replay_command, run_seeds


def test_a_seed_replays_exactly() -> None:
    first = senate.run_sim(5, 1234, 400)
    again = senate.run_sim(5, 1234, 400)
    other = senate.run_sim(5, 1235, 400)
    assert first.trace_fingerprint == again.trace_fingerprint
    assert first.trace_fingerprint != other.trace_fingerprint
    assert (first.steps_checked, first.faults_injected, first.committed_entries) == (
        again.steps_checked,
        again.faults_injected,
        again.committed_entries,
    )


def test_a_report_describes_its_run() -> None:
    report = senate.run_sim(3, 7, 500, trace_lines=20)
    assert (report.nodes, report.seed, report.ticks) == (3, 7, 500)
    assert report.violations == []
    assert report.steps_checked > 0
    assert report.ticks_run >= report.ticks
    assert report.faults_injected == sum(report.faults.values())
    assert set(report.faults) >= {"drops", "duplicates", "partitions", "crashes"}
    assert report.leader_terms >= 1
    assert report.committed_entries > 0
    assert 0 < len(report.trace) <= 20
    # The last ticks' events, in tick order, each naming its tick.
    ticks = [int(line.split(":")[0].removeprefix("tick ")) for line in report.trace]
    assert ticks == sorted(ticks)
    assert report.ticks - 20 < ticks[0] <= ticks[-1] <= report.ticks_run
    assert "SimReport(" in repr(report)


def test_an_unsupported_size_is_reported_not_crashed() -> None:
    report = senate.run_sim(0, 1, 10)
    assert report.violations


def test_run_seeds_sums_every_run() -> None:
    runs = []
    summary = run_seeds([3, 5], 4, 200, first_seed=10, jobs=2, on_run=lambda: runs.append(1))
    assert summary.runs == len(runs) == 8
    singles = [senate.run_sim(n, s, 200) for s in range(10, 14) for n in (3, 5)]
    assert summary.steps_checked == sum(r.steps_checked for r in singles)
    assert summary.faults_injected == sum(r.faults_injected for r in singles)
    assert summary.failures == []
    command = "senate sim --nodes 5 --seeds 1 --first-seed 12 --ticks 200"
    assert replay_command(5, 12, 200) == command


def test_the_simulation_releases_the_gil() -> None:
    """While one thread simulates, another keeps running Python."""
    started = threading.Event()

    def simulate() -> None:
        started.set()
        senate.run_sim(7, 3, 3000)

    worker = threading.Thread(target=simulate)
    worker.start()
    started.wait()
    iterations = 0
    while worker.is_alive():
        iterations += 1
    worker.join()
    # Holding the GIL for the whole run would leave this thread a few switch intervals at most.
    assert iterations > 10_000


def test_throughput_reports_its_work() -> None:
    report = senate.run_throughput(3, 16, 64, 1000)
    assert report.error is None
    assert report.committed_entries >= 1000
    assert report.messages > 0
    assert report.bytes > 1000 * 64
    failed = senate.run_throughput(0, 16, 64, 1000)
    assert failed.error
