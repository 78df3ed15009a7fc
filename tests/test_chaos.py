"""`senate chaos`: the schedule, the checks (each shown an anomaly it must catch), the report,
and short real runs: 3 and 5 nodes, every fault kind, both protocols (CI's chaos runs)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from senate.chaos.checks import counter_anomalies, lost_appends
from senate.chaos.nemesis import FAULT_KINDS, FAULT_MAX_S, GAP_MAX_S, schedule
from senate.chaos.report import summary
from senate.chaos.runner import ChaosRun, ChaosSpec
from senate.chaos.workload import Operation

#: The kinds of the CI runs of every kind: all but "replace", which has a run of its own (a
#: replacement changes the cluster for the rest of the run, and costs CI seconds per run).
CI_KINDS = tuple(kind for kind in FAULT_KINDS if kind != "replace")
#: Seconds of faults of each CI run: one cycle of every kind fits in it for every seed.
CI_CHAOS_S = len(CI_KINDS) * (FAULT_MAX_S + GAP_MAX_S) + GAP_MAX_S
#: Seconds of faults of a run of "replace" alone (the shortest `senate chaos` takes): one
#: replacement starts in it at least, exactly one with the seeds of `REPLACE_SEEDS`.
CI_REPLACE_S = 5.0
assert GAP_MAX_S + FAULT_MAX_S <= CI_REPLACE_S


def test_a_schedule_is_the_seeds_and_has_every_kind_once_per_cycle() -> None:
    first = schedule(7, FAULT_KINDS, CI_CHAOS_S)
    assert first == schedule(7, FAULT_KINDS, CI_CHAOS_S)
    assert first != schedule(8, FAULT_KINDS, CI_CHAOS_S)
    assert sorted(f.kind for f in first[: len(FAULT_KINDS)]) == sorted(FAULT_KINDS)
    for before, after in itertools.pairwise(first):
        assert after.start_s > before.start_s + before.duration_s, "faults do not overlap"
    assert first[-1].start_s + first[-1].duration_s <= CI_CHAOS_S
    with pytest.raises(ValueError, match="fault kinds must be among"):
        schedule(0, ("flood",), 10)


def op(
    i: int,
    kind: str,
    key: str,
    value: str | None = None,
    output: str | int | None = None,
    span: tuple[int, int | None] = (0, 1),
    outcome: str = "ok",
) -> Operation:
    return Operation(i, i, kind, key, value, output, span[0], span[1], outcome, "test")


def test_a_lost_or_doubled_increment_is_caught() -> None:
    incrs = [op(i, "incr", "c0", output=i + 1, span=(i * 10, i * 10 + 5)) for i in range(3)]
    unknown = op(3, "incr", "c0", span=(40, None), outcome="indeterminate")
    assert counter_anomalies([*incrs, unknown, op(4, "get", "c0", output="3")]) == []
    assert counter_anomalies([*incrs, unknown, op(4, "get", "c0", output="4")]) == []
    assert counter_anomalies([*incrs, unknown, op(4, "get", "c0", output="2")]) == [
        "c0: 3 INCRs acknowledged, final value 2"
    ]
    assert counter_anomalies([*incrs, unknown, op(4, "get", "c0", output="5")]) == [
        "c0: 4 INCRs attempted, final value 5"
    ]


def test_a_lost_append_is_caught_unless_a_set_may_have_overwritten_it() -> None:
    append = op(0, "append", "r0", value="1:1;", output=4, span=(10, 20))
    assert lost_appends([append, op(1, "get", "r0", output="1:1;", span=(30, 40))]) == []
    lost = [append, op(1, "get", "r0", output="", span=(30, 40))]
    assert lost_appends(lost) == ["r0: acknowledged APPEND '1:1;' (op 0) lost"]
    overwritten = op(2, "set", "r0", value="2:1;", span=(5, 15))  # concurrent with it
    assert lost_appends([*lost, overwritten]) == []
    earlier = op(2, "set", "r0", value="2:1;", span=(1, 5))  # over before it began
    assert len(lost_appends([*lost, earlier])) == 1


def test_the_summary_counts_outcomes_faults_and_availability(tmp_path: Path) -> None:
    from senate.chaos.nemesis import FaultEvent
    from senate.chaos.watch import LeaderChange

    s = 1_000_000_000
    ops = [
        op(0, "set", "r0", "a", span=(0, s // 10)),
        op(1, "set", "r0", "b", span=(2 * s, None), outcome="indeterminate"),
        op(2, "get", "r0", output="a", span=(2 * s + 1, 2 * s + 2)),
        op(3, "set", "r0", "c", span=(4 * s, 4 * s + s // 4)),
    ]
    fault = FaultEvent("kill", 1.5, 3.0, [1], "SIGKILL node 1")
    leaders = [LeaderChange(0.1, 1, 1), LeaderChange(2.5, 2, 2)]
    run = ChaosRun(ChaosSpec(out_dir=tmp_path), ops, [fault], leaders, 3.5, 3.6)
    figures = summary(run)
    assert figures["operations"] == 4
    assert figures["outcomes"] == {"get ok": 1, "set indeterminate": 1, "set ok": 2}
    assert figures["faults"] == {"kill": 1}
    assert figures["leader_changes"] == 1
    [per_fault] = figures["per_fault"]
    assert per_fault["availability_before"] == 1.0
    assert per_fault["availability_during"] == 0.5
    assert per_fault["availability_after"] is None  # nothing invoked in [3.0, 3.5)
    assert per_fault["recovery_s"] == pytest.approx(1.25)


@pytest.mark.parametrize("nodes", [3, 5])
def test_a_chaos_run_with_every_fault_kind_finds_no_anomaly(
    tmp_path: Path, protocol: str, nodes: int
) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "senate", "chaos", "--nodes", str(nodes), "--protocol", protocol,
         "--seed", str(nodes), "--duration", f"{CI_CHAOS_S:g}", "--faults", ",".join(CI_KINDS),
         "--out", str(out)],
        capture_output=True, text=True, timeout=CI_CHAOS_S + 180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads((out / "summary.json").read_text())
    assert figures["anomalies"] == []
    assert set(figures["faults"]) == set(CI_KINDS), figures["faults"]
    assert figures["fault_errors"] == [], figures["fault_errors"]
    assert figures["outcomes"].get("get ok", 0) > 0
    assert figures["availability_after_heal"] >= 0.95, figures
    # Every INCR of a patient counter went through senate.Client's sessions: exactly once.
    [counter] = figures["exactly_once_counters"].values()
    assert counter["acknowledged_incrs"] > 0
    assert counter["final_value"] == counter["acknowledged_incrs"]
    names = ("history.jsonl", "report.html", "plot.png", "summary.json")
    for name in (*names, *(f"node-{i}.log" for i in range(1, nodes + 1))):
        assert (out / name).stat().st_size > 0, name
    lines = (out / "history.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["type"] for line in lines}
    assert kinds == {"history", "event", "op"}
    assert "linearizability: ok" in done.stdout
    assert re.search(r"anomalies\s+0", done.stdout), done.stdout[-2000:]


#: Seeds of one "replace" in `CI_REPLACE_S`: with paxos it kills the leader first, with raft
#: it replaces a running follower (the draws of the fault's seed).
REPLACE_SEEDS = {"raft": 3, "paxos": 2}


def test_a_member_replaced_under_load_leaves_a_linearizable_history(
    tmp_path: Path, protocol: str
) -> None:
    """The "replace" fault: a fresh node under a new id joins as a learner, is promoted, and
    the old id is removed and stopped, while the clients run; the history checks."""
    out = tmp_path / "report"
    assert len(schedule(REPLACE_SEEDS[protocol], ("replace",), CI_REPLACE_S)) == 1
    done = subprocess.run(
        [sys.executable, "-m", "senate", "chaos", "--nodes", "3", "--protocol", protocol,
         "--seed", str(REPLACE_SEEDS[protocol]), "--duration", f"{CI_REPLACE_S:g}",
         "--faults", "replace", "--out", str(out)],
        capture_output=True, text=True, timeout=CI_REPLACE_S + 180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads((out / "summary.json").read_text())
    assert figures["anomalies"] == []
    assert figures["fault_errors"] == []
    [replace] = figures["per_fault"]
    assert replace["kind"] == "replace"
    old, new = replace["nodes"]
    assert new == 4, replace
    how = "SIGKILLed" if protocol == "paxos" else "running"
    assert f"node {old} ({how}) replaced by node {new}: add" in replace["detail"], replace
    assert "old process stopped" in replace["detail"], replace
    members = {int(i): role for i, role in figures["members_after_heal"].items()}
    assert old not in members
    assert members[new] == "voter"
    assert sorted(members) == sorted({1, 2, 3, 4} - {old}), members
    assert figures["outcomes"].get("set ok", 0) > 0
    assert "linearizability: ok" in done.stdout


def test_partitions_by_nftables_find_no_anomaly(tmp_path: Path) -> None:
    """The partition kinds as nftables rules between the nodes' own loopback addresses
    (where this machine lets the tests change the ruleset: root, nft installed)."""
    from senate.chaos.netfilter import unavailable_reason

    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    out = tmp_path / "report"
    kinds = "isolate-leader,split,bridge,one-way"
    duration_s = 4 * (FAULT_MAX_S + GAP_MAX_S) + GAP_MAX_S
    done = subprocess.run(
        [sys.executable, "-m", "senate", "chaos", "--network", "nftables", "--faults", kinds,
         "--duration", f"{duration_s:g}", "--out", str(out)],
        capture_output=True, text=True, timeout=duration_s + 180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads((out / "summary.json").read_text())
    assert figures["anomalies"] == []
    assert set(figures["faults"]) == set(kinds.split(","))
    assert figures["leader_changes"] >= 1, "isolating the leader moved the leadership"
    assert "nftables" in done.stdout
