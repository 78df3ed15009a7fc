"""The checks of a chaos run: the history against the linearizability checker
(`senate.check`, the kv model: one register per key), the counters against their
acknowledged increments, and the acknowledged appends against the final values.

The history file is the checker's format (docs/check.md), so `senate check history.jsonl`
checks it again; what the clients saw of each failure (which client library, the error)
goes to `clients.jsonl` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from senate import check
from senate.chaos.runner import ChaosRun
from senate.chaos.workload import Operation, is_patient
from senate.check_report import write_html

#: The checker's budget per key: a 10-minute run's counter keys (about 20,000 operations
#: each, some of them indeterminate) take about 15,000,000 steps and 3 GB at the peak; the
#: default (1,000,000) suits short runs only.
CHAOS_MAX_STEPS_PER_PART = 50_000_000


def to_history(run: ChaosRun) -> check.History:
    """The run as the checker reads it: the operations (INCR is `incr` by 1), the faults and
    the leader changes as events; times in ns since the run's start."""
    operations = [
        check.Operation(
            op.id,
            op.client,
            op.key,
            op.kind,
            1 if op.kind == "incr" else op.value,
            op.output if op.outcome == "ok" else None,
            op.invoke_ns,
            op.complete_ns,
            op.outcome,  # type: ignore[arg-type]
        )
        for op in run.operations
    ]
    events = [
        check.Event(
            fault.kind,
            int(fault.start_s * 1e9),
            None if fault.end_s is None else int(fault.end_s * 1e9),
            tuple(fault.nodes),
            fault.detail,
        )
        for fault in run.faults
    ]
    events += [
        check.Event("leader", int(change.t_s * 1e9), None, (change.leader,), f"term {change.term}")
        for change in run.leaders
        if change.leader is not None
    ]
    return check.History("kv", operations, events)


def check_run(run: ChaosRun, out_dir: Path) -> check.CheckResult:
    """Writes `history.jsonl`, `clients.jsonl` and `report.html` to `out_dir`, checks the
    history and fills `run.anomalies` with what every check found."""
    history = to_history(run)
    check.write_history(out_dir / "history.jsonl", history)
    with (out_dir / "clients.jsonl").open("w") as f:
        for op in run.operations:
            f.write(json.dumps({"id": op.id, "via": op.via, "error": op.error}) + "\n")
    result = check.check(history, max_steps_per_part=CHAOS_MAX_STEPS_PER_PART)
    write_html(out_dir / "report.html", history, result)
    anomalies = []
    if isinstance(result, check.CheckIllegal):
        blocked = next(op for op in history.operations if op.id == result.blocked)
        anomalies.append(
            f"not linearizable: key {result.key}: {check.describe(blocked)} (op {blocked.id}) "
            f"cannot take effect after the {len(result.prefix)} operations placed, which leave "
            f"{result.state} (report.html shows it)"
        )
    elif isinstance(result, check.CheckUnknown):
        anomalies.append(f"linearizability unknown: keys {', '.join(result.keys)} over budget")
    run.anomalies = anomalies + counter_anomalies(run.operations) + lost_appends(run.operations)
    return result


def counter_anomalies(operations: list[Operation]) -> list[str]:
    """Counters whose final value (the last read, made after the heal) is below the number
    of acknowledged INCRs (a lost increment) or above the INCRs attempted (one applied
    twice); when every INCR was acknowledged (the patient counters), they must be equal."""
    anomalies = []
    keys = sorted({op.key for op in operations if op.kind == "incr"})
    for key in keys:
        incrs = [op for op in operations if op.key == key and op.kind == "incr"]
        acknowledged = sum(op.outcome == "ok" for op in incrs)
        attempted = sum(op.outcome != "failed" for op in incrs)
        reads = [o for o in operations if o.key == key and o.kind == "get" and o.outcome == "ok"]
        if not reads:
            anomalies.append(f"{key}: never read")
            continue
        final = int(reads[-1].output or 0)
        if final < acknowledged:
            anomalies.append(f"{key}: {acknowledged} INCRs acknowledged, final value {final}")
        if final > attempted:
            anomalies.append(f"{key}: {attempted} INCRs attempted, final value {final}")
        if is_patient(key) and acknowledged < attempted:
            anomalies.append(f"{key}: {attempted - acknowledged} of {attempted} patient INCRs "
                             "never acknowledged")  # fmt: skip
    return anomalies


def exactly_once_counters(operations: list[Operation]) -> dict[str, dict[str, int]]:
    """Per patient counter: INCRs acknowledged and the final value (equal when exactly once)."""
    figures = {}
    for key in sorted({op.key for op in operations if is_patient(op.key)}):
        ok = [o for o in operations if o.key == key and o.outcome == "ok"]
        acknowledged = sum(o.kind == "incr" for o in ok)
        reads = [o for o in ok if o.kind == "get"]
        final = int(reads[-1].output or 0) if reads else -1
        figures[key] = {"acknowledged_incrs": acknowledged, "final_value": final}
    return figures


def lost_appends(operations: list[Operation]) -> list[str]:
    """Acknowledged APPENDs whose token is missing from the final read of their key although
    no SET could have overwritten it (none completed, or stayed open, after the APPEND was
    invoked)."""
    anomalies = []
    final: dict[str, str | int | None] = {}
    for op in operations:
        if op.kind == "get" and op.outcome == "ok":
            final[op.key] = op.output  # the final reads come last
    last_set_end_ns: dict[str, float] = {}  # per key, the latest end of a SET (inf: open)
    for op in operations:
        if op.kind == "set" and op.outcome != "failed":
            end = float("inf") if op.complete_ns is None else op.complete_ns
            last_set_end_ns[op.key] = max(end, last_set_end_ns.get(op.key, 0.0))
    for op in operations:
        if op.kind != "append" or op.outcome != "ok":
            continue
        overwritable = last_set_end_ns.get(op.key, 0.0) > op.invoke_ns
        value = final.get(op.key)
        if not overwritable and (not isinstance(value, str) or str(op.value) not in value):
            anomalies.append(f"{op.key}: acknowledged APPEND {op.value!r} (op {op.id}) lost")
    return anomalies
