"""The simulation through the Python API: deterministic replay, reports, the GIL released."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner

import senate
from senate.cli import main as cli
from senate.scenarios import (
    DEFAULT_DEADLINE_ELECTION_TIMEOUTS,
    SCENARIOS,
    parse_scenarios,
    replay_command,
)
from senate.sim import PROTOCOLS, parse_protocols, run_seeds
from senate.sim import replay_command as sim_replay_command


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
    command = "senate sim --protocol raft --nodes 5 --seeds 1 --first-seed 12 --ticks 200"
    assert sim_replay_command(5, 12, 200) == command


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
    assert report.protocol == "raft"
    failed = senate.run_throughput(0, 16, 64, 1000)
    assert failed.error


def test_throughput_runs_multi_paxos() -> None:
    report = senate.run_throughput(3, 16, 64, 1000, protocol="paxos")
    assert report.error is None, report
    assert report.protocol == "paxos"
    assert report.committed_entries == 1000
    assert report.bytes > 1000 * 64
    assert "protocol='paxos'" in repr(report)
    with pytest.raises(senate.ConfigError, match="protocol"):
        senate.run_throughput(3, 16, 64, 1000, protocol="zab")


def test_a_scenario_report_describes_its_run() -> None:
    report = senate.run_scenario("constrained-election", 3, trace_lines=50)
    again = senate.run_scenario("constrained-election", 3, trace_lines=50)
    assert report.trace_fingerprint == again.trace_fingerprint
    assert (report.scenario, report.protocol, report.nodes, report.seed) == (
        "constrained-election",
        "raft",
        5,
        3,
    )
    assert report.violations == []
    assert report.leader != report.hub
    assert {report.leader, report.hub} <= {1, 2, 3, 4, 5}
    # The hub lagged through the entries committed while it was cut off.
    assert report.hub_lag_entries > 0
    deadline_ticks = DEFAULT_DEADLINE_ELECTION_TIMEOUTS * report.election_timeout_ticks
    assert report.deadline_ticks == deadline_ticks
    assert report.ticks_run == report.cut_tick + report.deadline_ticks
    assert report.recovered == (report.ticks_to_recover is not None)
    assert report.probes_committed <= report.probes_proposed
    assert any("the cut: links up" in line for line in report.trace)
    assert "ScenarioReport(scenario='constrained-election'" in repr(report)
    short = senate.run_scenario("quorum-loss", 3, deadline_election_timeouts=2)
    assert short.deadline_ticks == 2 * short.election_timeout_ticks
    with pytest.raises(ValueError, match="unknown scenario"):
        senate.run_scenario("split-brain", 1)


def test_scenario_names_parse() -> None:
    assert parse_scenarios("all") == list(SCENARIOS)
    assert parse_scenarios("chained, quorum-loss,chained") == ["chained", "quorum-loss"]
    with pytest.raises(ValueError, match="split-brain"):
        parse_scenarios("chained,split-brain")
    command = "senate sim --scenario chained --protocol raft --seeds 1 --first-seed 4 --deadline 10"
    assert replay_command("chained", 4, 10) == command
    assert "--protocol paxos" in replay_command("chained", 4, 10, "paxos")


def test_sim_scenario_prints_a_table_per_scenario() -> None:
    result = CliRunner().invoke(cli, ["sim", "--scenario", "all", "--seeds", "3", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    for name in SCENARIOS:
        assert name in result.output
    for row in ("protocol", "raft", "seeds run", "recovered", "ticks to recover", "ET"):
        assert row in result.output
    assert "leader changes" in result.output
    assert "epoch (term) changes" in result.output
    assert result.output.count("violations found") == 3


def test_sim_scenario_json_has_every_field() -> None:
    args = ["sim", "--scenario", "quorum-loss,chained", "--seeds", "3", "--first-seed", "5"]
    result = CliRunner().invoke(cli, [*args, "--deadline", "8", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["scenario"] for row in rows] == ["quorum-loss", "chained"]
    singles = [senate.run_scenario("chained", s, deadline_election_timeouts=8) for s in (5, 6, 7)]
    for row in rows:
        assert row["protocol"] == "raft"
        assert (row["seeds"], row["first_seed"], row["deadline_election_timeouts"]) == (3, 5, 8)
        assert 0 <= row["recovered"] <= 3
        assert set(row["ticks_to_recover"]) == {"median", "max"}
        assert set(row["election_timeouts_to_recover"]) == {"median", "max"}
        assert set(row["leader_changes"]) == set(row["epoch_changes"]) == {"median", "max"}
        assert row["probes_committed"] <= row["probes_proposed"]
        assert row["violations"] == row["replay"] == []
    assert [row["nodes"] for row in rows] == [5, 3]
    chained = rows[1]
    assert chained["recovered"] == sum(r.recovered for r in singles)
    assert chained["probes_proposed"] == sum(r.probes_proposed for r in singles)
    recovered = [r.ticks_to_recover for r in singles if r.ticks_to_recover is not None]
    assert chained["ticks_to_recover"]["max"] == (max(recovered) if recovered else None)


def test_sim_scenario_refuses_bad_options() -> None:
    runner = CliRunner()
    for args in (
        ["sim", "--scenario", "split-brain"],
        ["sim", "--scenario", "chained", "--nodes", "3"],
        ["sim", "--scenario", "chained", "--deadline", "0"],
        ["sim", "--json"],
        ["sim", "--deadline", "5"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)


def test_a_paxos_run_is_checked_and_replays() -> None:
    first = senate.run_sim(5, 42, 300, protocol="paxos")
    assert first.protocol == "paxos"
    assert first.violations == []
    assert first.steps_checked > 0
    assert first.committed_entries > 0
    assert first.trace_fingerprint == senate.run_sim(5, 42, 300, protocol="paxos").trace_fingerprint
    raft = senate.run_sim(5, 42, 300)
    assert raft.protocol == "raft"
    assert raft.trace_fingerprint != first.trace_fingerprint
    with pytest.raises(ValueError, match="zab"):
        senate.run_sim(3, 1, 10, protocol="zab")


def test_protocol_names_parse() -> None:
    assert PROTOCOLS == ("raft", "paxos")
    assert parse_protocols("paxos, raft,paxos") == ["paxos", "raft"]
    with pytest.raises(ValueError, match="zab"):
        parse_protocols("raft,zab")
    summary = run_seeds([3], 2, 100, protocol="paxos", jobs=2)
    assert (summary.protocol, summary.runs, summary.violations) == ("paxos", 2, 0)
    command = "senate sim --protocol paxos --nodes 3 --seeds 1 --first-seed 9 --ticks 50"
    assert sim_replay_command(3, 9, 50, "paxos") == command


def test_sim_prints_a_table_per_protocol() -> None:
    args = ["sim", "--protocol", "raft,paxos", "--nodes", "3", "--seeds", "2", "--ticks", "100"]
    result = CliRunner().invoke(cli, [*args, "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "deterministic simulation: raft" in result.output
    assert "deterministic simulation: paxos" in result.output
    assert result.output.count("violations found") == 2
    assert "leader terms" in result.output
    assert "leader ballots" in result.output
    paxos_only = CliRunner().invoke(
        cli, ["sim", "--protocol", "paxos", "--nodes", "3", "--seeds", "1"]
    )
    assert paxos_only.exit_code == 0, paxos_only.output
    assert "deterministic simulation: raft" not in paxos_only.output


def test_sim_scenario_reports_per_protocol() -> None:
    args = ["sim", "--scenario", "chained", "--protocol", "raft,paxos", "--seeds", "2", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(row["scenario"], row["protocol"]) for row in rows] == [
        ("chained", "raft"),
        ("chained", "paxos"),
    ]
    single = senate.run_scenario("chained", 0, protocol="paxos")
    assert single.protocol == "paxos"
    assert single.violations == []


def test_sim_refuses_an_unknown_protocol() -> None:
    result = CliRunner().invoke(cli, ["sim", "--protocol", "raft,zab", "--seeds", "1"])
    assert result.exit_code == 2
    assert "zab" in result.output
