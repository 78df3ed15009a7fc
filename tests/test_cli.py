"""The `senate` command: simulation over many seeds, the benchmark and its JSON rows."""

from __future__ import annotations

import json
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

import senate.sim
from cluster import senate_command
from senate.cli import main

#: Ticks of the fault phase per run in the CI sweep: small enough that 1,000 seeds on each of
#: 3 cluster sizes, for both protocols, take about 80 s of CPU (40 s on two free cores).
CI_SWEEP_TICKS = 500


def test_the_console_script_is_installed() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("senate") == "senate.cli:main"


def test_sim_runs_a_thousand_seeds_on_every_size_for_each_protocol() -> None:
    """Issue 17's CI sweep: 1,000 seeds on 3, 5 and 7 nodes for Raft and for Multi-Paxos, safe
    and live; a failure shows the violations and their replay commands."""
    result = senate_command(
        "sim",
        "--protocol",
        "raft,paxos",
        "--nodes",
        "3,5,7",
        "--seeds",
        "1000",
        "--ticks",
        str(CI_SWEEP_TICKS),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # One table per protocol, in the order asked.
    tables = re.split(r"deterministic simulation: (\w+)", result.stdout)[1:]
    assert tables[0::2] == ["raft", "paxos"], result.stdout
    for out in tables[1::2]:
        assert re.search(r"seeds run\s+1000\b", out), out
        assert re.search(r"runs\s+3000\b", out), out
        assert re.search(r"violations found\s+0\b", out), out
        steps = re.search(r"steps checked\s+(\d+)", out)
        faults = re.search(r"faults injected\s+(\d+)", out)
        assert steps is not None
        assert faults is not None
        assert int(steps.group(1)) > 0
        assert int(faults.group(1)) > 0


def test_bench_writes_json_rows(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = senate_command(
        "bench",
        "--sim",
        "--entries",
        "2048",
        "--batch",
        "1,256",
        "--json",
        str(out),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "entries/s" in result.stdout
    rows = json.loads(out.read_text())
    assert [(row["nodes"], row["batch"]) for row in rows] == [(3, 1), (3, 256)]
    for row in rows:
        assert row["entries_per_s"] > 0
        assert row["entries"] >= 2048


def test_bench_sim_measures_multi_paxos() -> None:
    result = senate_command(
        "bench", "--sim", "--protocol", "paxos", "--batch", "16", "--entries", "2000", timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    row = re.search(r"^\s*paxos\s+3\s+16\s+([\d,]+)\s", result.stdout, re.MULTILINE)
    assert row is not None, result.stdout
    assert int(row.group(1).replace(",", "")) == 2000
    assert "raft" not in result.stdout


def test_bench_sim_runs_both_protocols_batch_by_batch(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = senate_command(
        "bench", "--sim", "--protocol", "raft,paxos", "--batch", "1,64", "--entries", "1000",
        "--json", str(out), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())
    assert [(row["protocol"], row["batch"]) for row in rows] == [
        ("raft", 1),
        ("paxos", 1),
        ("raft", 64),
        ("paxos", 64),
    ]
    assert all(row["entries"] == 1000 for row in rows)
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_sim_reports_violations_with_a_replay_command(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeReport:
        def __init__(
            self, nodes: int, seed: int, ticks: int, protocol: str = "raft", trace_lines: int = 0
        ) -> None:
            self.nodes, self.seed, self.ticks, self.protocol = nodes, seed, ticks, protocol
            self.steps_checked = 10
            self.faults_injected = 2
            self.faults = {"drops": 1, "crashes": 1}
            self.committed_entries = 5
            self.leader_terms = self.snapshots_restored = self.reads_confirmed = 1
            self.violations = ["log matching: nodes 1 and 2 differ at 4"] if seed == 12 else []
            self.trace = [f"event {i}" for i in range(trace_lines)]

    monkeypatch.setattr(senate.sim, "run_sim", FakeReport)
    args = ["sim", "--nodes", "5", "--seeds", "5", "--first-seed", "10", "--ticks", "77"]
    result = CliRunner().invoke(main, [*args, "--trace", "3"])
    assert result.exit_code == 1, result.output
    assert "event 2" in result.output
    assert re.search(r"drops\s+5\b", result.output)
    assert "protocol=raft nodes=5 seed=12" in result.output
    assert "log matching: nodes 1 and 2 differ at 4" in result.output
    replay = "senate sim --protocol raft --nodes 5 --seeds 1 --first-seed 12 --ticks 77"
    assert replay in result.output
    assert re.search(r"violations found\s+1\b", result.output)


def test_a_core_panic_is_reported_as_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    class Panic(BaseException):
        pass

    def panicking(nodes: int, seed: int, ticks: int, protocol: str = "raft") -> None:
        raise Panic("assertion failed")

    monkeypatch.setattr(senate.sim, "run_sim", panicking)
    summary = senate.sim.run_seeds([3], 2, 10, jobs=2)
    assert [(f.nodes, f.seed) for f in summary.failures] == [(3, 0), (3, 1)]
    assert "core panicked" in summary.failures[0].violations[0]


@pytest.mark.parametrize(
    "args",
    [
        ["sim", "--nodes", "4"],
        ["sim", "--nodes", "3,x"],
        ["sim", "--seeds", "0"],
        ["bench", "--nodes", "2"],
        ["bench", "--batch", "0"],
        ["bench", "--entries", "many"],
        ["bench", "--protocol", "zab"],
        ["bench", "--protocol", "raft,raft"],
        ["bench", "--sim", "--protocol", "raft,zab"],
        ["bench", "--endpoints", "127.0.0.1:1", "--protocol", "paxos"],
        ["bench", "--sim", "--tls"],
        ["bench", "--tls", "--user", "app"],  # a local cluster has no users
        ["bench", "--endpoints", "127.0.0.1:1", "--config", "cluster.toml"],
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output


def test_bench_runs_the_protocols_side_by_side(tmp_path: Path) -> None:
    """`--protocol raft,paxos` runs the same load on a fresh local cluster of each, and ends
    with the two side by side: ops/s, percentiles and the ratio to the first, then the CPU
    time per operation of the leader and the followers and the failover time; `--json`
    writes the same figures and every run in full."""
    out = tmp_path / "sides.json"
    result = senate_command(
        "bench", "--protocol", "raft,paxos", "--duration", "1", "--warmup", "0.5",
        "--clients", "4", "--pipeline", "4", "--json", str(out), timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "raft, round 1 of 1" in result.stdout
    assert "paxos, round 1 of 1" in result.stdout
    side_by_side, costs = result.stdout.split("protocols side by side")[1].split(
        "CPU per operation and failover"
    )
    rows = protocol_rows(side_by_side)
    assert [row[0] for row in rows] == ["raft", "paxos"]
    assert rows[0][-1] == "1.00x"
    assert float(rows[1][-1].rstrip("x")) > 0
    # protocol, CPU leader and followers µs/op, failover ms and ETs, max ETs, rounds <= 2 ETs
    cost_rows = protocol_rows(costs)
    assert [row[0] for row in cost_rows] == ["raft", "paxos"]
    for _, leader_us, followers_us, failover_ms, ets, max_ets, within in cost_rows:
        assert 0 < float(leader_us) < 1e5
        assert 0 < float(followers_us) < 1e5
        assert 0 < float(failover_ms) < 60_000
        assert float(ets) == pytest.approx(float(failover_ms) / 150, abs=0.01)  # ET 150 ms
        assert float(max_ets) == float(ets)  # one round
        assert within in ("0/1", "1/1")
    record = json.loads(out.read_text())
    assert record["mode"] == "side_by_side"
    assert record["protocols"] == ["raft", "paxos"]
    summaries = {summary["protocol"]: summary for summary in record["summary"]}
    assert summaries["raft"]["ops_ratio"] == 1.0
    for (protocol, summary), row in zip(summaries.items(), rows, strict=True):
        assert f"{summary['ops_per_s']:,.0f}" == row[1], protocol
        assert summary["rounds"] == 1
        assert summary["failover_ms"] > 0
    [round_runs] = record["rounds"]
    for protocol, run in round_runs.items():
        assert run["result"]["ok"], protocol
        assert run["result"]["ops"] > 0, protocol
        assert run["failover"]["seconds"] * 1e3 == summaries[protocol]["failover_ms"]
        assert str(run["leader"]) in run["cpu_s"]


def protocol_rows(table: str) -> list[list[str]]:
    """The cells of a table's rows that start with a protocol's name."""
    return [line.split() for line in table.splitlines() if line.strip()[:5] in ("raft ", "paxos")]


def test_bench_tls_measures_tls_against_plain_tcp_in_the_same_run(tmp_path: Path) -> None:
    """`--tls` on a local cluster runs the same load on a cluster with TLS between peers and
    for clients and on one without, in turn on fresh clusters, and reports the TLS cost as
    the ratio of their throughputs within each round (and in `--json`)."""
    out = tmp_path / "tls.json"
    result = senate_command(
        "bench", "--tls", "--duration", "0.5", "--warmup", "0.2",
        "--clients", "4", "--pipeline", "4", "--json", str(out), timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "raft, round 1 of 1" in result.stdout
    assert "raft+tls, round 1 of 1" in result.stdout
    assert "TLS for peers and clients" in result.stdout
    side_by_side = result.stdout.split("protocols side by side")[1].split("CPU per operation")[0]
    labels = [line.split()[0] for line in side_by_side.splitlines() if line.strip()[:4] == "raft"]
    assert labels == ["raft", "raft+tls"]
    match = re.search(r"TLS, raft: (\d+\.\d+)x the ops/s of plain TCP", result.stdout)
    assert match is not None, result.stdout
    record = json.loads(out.read_text())
    assert record["protocols"] == ["raft", "raft+tls"]
    [ratio] = record["tls_ops_ratios"]["raft"]
    assert f"{ratio:.2f}" == match.group(1)
    [round_runs] = record["rounds"]
    plain, tls = round_runs["raft"]["result"], round_runs["raft+tls"]["result"]
    assert plain["ok"]
    assert tls["ok"]
    assert ratio == pytest.approx(tls["ops"] / tls["window_s"] / (plain["ops"] / plain["window_s"]))
    assert tls["spec"]["security"]["tls"]
    assert not plain["spec"]["security"]["tls"]
