"""The linearizability checker from Python: hand-built bad histories each caught with the
right operation named, histories recorded from a correct in-process register under random
concurrency all passing (hypothesis), the JSON-lines format and its errors, the HTML report,
and `senate check`'s exit statuses. `unknown` counts as a failure everywhere.
"""

from __future__ import annotations

import heapq
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from senate.check import (
    CheckIllegal,
    CheckOk,
    CheckResult,
    CheckUnknown,
    ErrorReply,
    Event,
    History,
    HistoryError,
    HistoryFileError,
    Operation,
    Recorder,
    Value,
    check,
    describe,
    load_history,
    write_history,
)
from senate.check_report import render_html
from senate.errors import ConfigError


def op(
    op_id: int,
    client_id: int,
    kind: str,
    input: Value,
    output: Value,
    invoke_ns: int,
    complete_ns: int | None,
    outcome: str = "ok",
    key: str = "x",
) -> Operation:
    return Operation(op_id, client_id, key, kind, input, output, invoke_ns, complete_ns, outcome)  # type: ignore[arg-type]


def assert_linearizable(result: CheckResult) -> CheckOk:
    """Fails on illegal and on unknown: an unknown result is not a pass."""
    assert isinstance(result, CheckOk), result
    return result


def assert_illegal(result: CheckResult, blocked: int) -> CheckIllegal:
    assert isinstance(result, CheckIllegal), result
    assert result.blocked == blocked, result
    return result


# --- hand-built bad histories -------------------------------------------------------------

BAD_HISTORIES = {
    "stale read": (
        [
            op(1, 1, "set", "1", None, 0, 10),
            op(2, 1, "set", "2", None, 20, 30),
            op(3, 2, "get", None, "1", 40, 50),
        ],
        3,
    ),
    "lost write": ([op(1, 1, "set", "v", None, 0, 10), op(2, 2, "get", None, None, 20, 30)], 2),
    "read of a value never written": (
        [op(1, 1, "set", "a", None, 0, 10), op(2, 2, "get", None, "b", 20, 30)],
        2,
    ),
    "double-applied increment": (
        [op(1, 1, "incr", 1, 1, 0, 10), op(2, 2, "incr", 1, 3, 20, 30)],
        2,
    ),
    "a concurrent order no serial order explains": (
        [
            op(1, 1, "set", "1", None, 0, 100),
            op(2, 2, "set", "2", None, 0, 100),
            op(3, 3, "get", None, "1", 110, 120),
            op(4, 3, "get", None, "2", 130, 140),
        ],
        4,
    ),
    "two SET NX that both stored": (
        [
            op(1, 1, "set_if_absent", "a", True, 0, 10),
            op(2, 2, "set_if_absent", "b", True, 1, 11),
        ],
        2,
    ),
    "a failed write that was seen": (
        [op(1, 1, "set", "v", None, 0, 10, "failed"), op(2, 2, "get", None, "v", 20, 30)],
        2,
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_HISTORIES))
def test_each_bad_history_is_illegal_and_names_the_operation(name: str) -> None:
    ops, blocked = BAD_HISTORIES[name]
    result = assert_illegal(check(ops), blocked)
    assert result.key == "x"
    assert blocked not in result.prefix


def test_the_illegal_result_gives_the_prefix_and_the_state_it_leaves() -> None:
    ops, _ = BAD_HISTORIES["stale read"]
    result = assert_illegal(check(ops), 3)
    assert result.prefix == (1, 2)
    assert result.state == '"2"'


def test_an_indeterminate_write_may_or_may_not_have_taken_effect() -> None:
    lost = op(1, 1, "set", "v", None, 0, None, "indeterminate")
    assert_linearizable(check([lost, op(2, 2, "get", None, None, 20, 30)]))
    assert_linearizable(check([lost, op(2, 2, "get", None, "v", 20, 30)]))
    flip_flop = [lost, op(2, 2, "get", None, "v", 20, 30), op(3, 2, "get", None, None, 40, 50)]
    assert_illegal(check(flip_flop), 3)


def test_a_retried_increment_may_count_twice_only_if_the_first_was_indeterminate() -> None:
    first = op(1, 1, "incr", 1, None, 0, 10, "indeterminate")
    retry = op(2, 1, "incr", 1, 2, 20, 30)
    assert_linearizable(check([first, retry]))
    assert_illegal(check([replace(first, outcome="failed"), retry]), 2)


def test_the_counter_model() -> None:
    adds = [op(i, i, "add", 1, None, 0, 10, key="c") for i in (1, 2)]
    assert_linearizable(check([*adds, op(3, 3, "read", None, 2, 20, 30, key="c")], model="counter"))
    assert_illegal(check([*adds, op(3, 3, "read", None, 3, 20, 30, key="c")], model="counter"), 3)


def test_an_exhausted_budget_is_unknown() -> None:
    ops = [op(i, i, "set", "v", None, 0, 100) for i in range(12)]
    ops.append(op(99, 99, "get", None, "w", 200, 300))
    result = check(ops, max_steps_per_part=10)
    assert isinstance(result, CheckUnknown)
    assert result.keys == ("x",)


def test_bad_operations_and_options_are_named() -> None:
    with pytest.raises(HistoryError) as info:
        check([op(1, 1, "set", 5, None, 0, 10)])
    assert (info.value.index, info.value.field) == (0, "input")
    with pytest.raises(HistoryError) as info:
        check([op(1, 1, "get", None, None, 0, 10), op(1, 1, "get", None, None, 20, 30)])
    assert (info.value.index, info.value.field) == (1, "id")
    with pytest.raises(ConfigError):
        check([], model="queue")
    with pytest.raises(ConfigError):
        check([], threads=10_000)


# --- a correct register under random concurrency ------------------------------------------


def register_reply(store: dict[str, str], key: str, kind: str, argument: Value) -> Value:
    """What a correct Redis-like store does, written apart from the Rust model."""
    value = store.get(key)
    if kind == "get":
        return value
    if kind == "set":
        store[key] = str(argument)
        return None
    if kind == "incr":
        assert isinstance(argument, int)
        current = 0 if value is None else value
        if not re.fullmatch(r"-?(0|[1-9][0-9]{0,18})", str(current)):
            return ErrorReply("ERR value is not an integer or out of range")
        new = int(current) + argument
        if not -(2**63) <= int(current) < 2**63 or not -(2**63) <= new < 2**63:
            return ErrorReply("ERR value is not an integer or out of range")
        store[key] = str(new)
        return new
    if kind == "append":
        store[key] = (value or "") + str(argument)
        return len(store[key].encode())
    if kind == "delete":
        return int(store.pop(key, None) is not None)
    assert kind == "set_if_absent"
    if value is not None:
        return False
    store[key] = str(argument)
    return True


@dataclass(frozen=True)
class PlannedOp:
    client: int
    key: str
    kind: str
    argument: Value
    think_ns: int
    to_effect_ns: int
    to_reply_ns: int
    fate: str  # "ok", "lost applied", "lost", "failed"


VALUES = st.sampled_from(["a", "1", "22"])
PLANNED_OP = st.builds(
    PlannedOp,
    client=st.integers(0, 4),
    key=st.sampled_from(["k0", "k1"]),
    kind=st.sampled_from(["get", "get", "set", "incr", "append", "delete", "set_if_absent"]),
    argument=VALUES,
    think_ns=st.integers(0, 50),
    to_effect_ns=st.integers(0, 100),
    to_reply_ns=st.integers(0, 100),
    fate=st.sampled_from(["ok"] * 8 + ["lost applied", "lost", "failed"]),
)


def run_register(plan: list[PlannedOp]) -> History:
    """Runs `plan` against an in-process register in simulated time: each client invokes its
    operations one at a time; each takes effect at one instant inside its interval (a lost
    one maybe much later, maybe never) and is recorded through a `Recorder` as it happens."""
    now = 0
    recorder = Recorder(clock=lambda: now)
    store: dict[str, str] = {}
    queue: list[tuple[int, int, str, int]] = []  # (time, tie-break, what, plan index)
    client_free = [0] * 5
    for i, p in enumerate(plan):
        invoke = client_free[p.client] + p.think_ns
        effect = invoke + p.to_effect_ns
        reply = effect + p.to_reply_ns
        client_free[p.client] = reply + 1
        heapq.heappush(queue, (invoke, 0, "invoke", i))
        if p.fate in ("ok", "lost applied"):
            late = 3 * p.to_reply_ns if p.fate == "lost applied" else 0
            heapq.heappush(queue, (effect + late, 1, "effect", i))
        heapq.heappush(queue, (reply, 2, "reply", i))
    ids: dict[int, int] = {}
    replies: dict[int, Value] = {}
    while queue:
        now, _, what, i = heapq.heappop(queue)
        p = plan[i]
        argument = p.argument if p.kind not in ("get", "delete") else None
        if p.kind == "incr":
            argument = len(str(p.argument))
        if what == "invoke":
            ids[i] = recorder.invoke(p.client, p.key, p.kind, argument)
        elif what == "effect":
            replies[i] = register_reply(store, p.key, p.kind, argument)
        elif p.fate == "ok":
            recorder.ok(ids[i], replies[i])
        elif p.fate == "failed":
            recorder.fail(ids[i])
        else:
            recorder.indeterminate(ids[i])
    return recorder.history()


@given(st.lists(PLANNED_OP, max_size=60))
def test_histories_of_a_correct_register_pass(plan: list[PlannedOp]) -> None:
    history = run_register(plan)
    result = assert_linearizable(check(history))
    placed = {op_id for order in result.linearizations.values() for op_id in order}
    assert {o.id for o in history.operations if o.outcome == "ok"} <= placed


@given(st.lists(PLANNED_OP, min_size=1, max_size=40), st.data())
def test_a_read_of_a_value_never_written_is_caught(
    plan: list[PlannedOp], data: st.DataObject
) -> None:
    history = run_register(plan)
    reads = [o for o in history.operations if o.kind == "get" and o.outcome == "ok"]
    if not reads:
        return
    victim = data.draw(st.sampled_from(reads))
    history.operations[history.operations.index(victim)] = replace(victim, output="never")
    assert_illegal(check(history), victim.id)


CLIENT_PLAN = st.lists(
    st.tuples(
        st.sampled_from(["get", "get", "set", "incr", "append", "delete", "set_if_absent"]),
        st.sampled_from(["k0", "k1"]),
        VALUES,
        st.sampled_from(["ok"] * 6 + ["lost applied", "lost", "failed"]),
    ),
    max_size=25,
)


@settings(max_examples=40)
@given(st.lists(CLIENT_PLAN, min_size=2, max_size=6))
def test_histories_of_a_register_shared_by_real_threads_pass(
    plans: list[list[tuple[str, str, str, str]]],
) -> None:
    """Client threads call one register (a dict behind a lock) and record every operation
    with the monotonic clock: each takes effect after its invocation is stamped and before
    its completion is."""
    register_lock, record_lock = threading.Lock(), threading.Lock()
    recorder = Recorder()
    store: dict[str, str] = {}

    def client(client_id: int, plan: list[tuple[str, str, str, str]]) -> None:
        for kind, key, value, fate in plan:
            argument: Value = {"get": None, "delete": None, "incr": len(value)}.get(kind, value)
            with record_lock:
                op_id = recorder.invoke(client_id, key, kind, argument)
            time.sleep(0)  # let another client in between
            reply: Value = None
            if fate in ("ok", "lost applied"):
                with register_lock:
                    reply = register_reply(store, key, kind, argument)
            time.sleep(0)
            with record_lock:
                if fate == "ok":
                    recorder.ok(op_id, reply)
                elif fate == "failed":
                    recorder.fail(op_id)
                else:
                    recorder.indeterminate(op_id)

    threads = [threading.Thread(target=client, args=(i, plan)) for i, plan in enumerate(plans)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_linearizable(check(recorder.history()))


# --- the file format ----------------------------------------------------------------------


def test_a_history_survives_writing_and_reading(tmp_path: Path) -> None:
    ops, _ = BAD_HISTORIES["stale read"]
    extra = [
        op(7, 3, "incr", 1, ErrorReply("ERR not an integer"), 60, 70),
        op(8, 3, "set", "v", None, 80, None, "indeterminate"),
    ]
    events = [Event("leader", 0, None, (1,)), Event("kill", 5, 25, (1,), "SIGKILL")]
    history = History("kv", [*ops, *extra], events)
    path = tmp_path / "history.jsonl"
    write_history(path, history)
    loaded = load_history(path)
    assert (loaded.model, loaded.operations, loaded.events) == ("kv", history.operations, events)
    assert loaded.lines == [4, 5, 6, 7, 8]


BAD_LINES = [
    ('{"type": "op"', "(json)"),
    ("[1, 2]", "(json)"),
    ('{"type": "ops"}', "type"),
    ('{"type": "op", "id": -1}', "id"),
    ('{"type": "op", "id": 1, "client_id": 1, "key": 3}', "key"),
    ('{"type": "event", "kind": "meteor", "start_ns": 1}', "kind"),
    ('{"type": "event", "kind": "kill", "start_ns": 5, "end_ns": 1}', "end_ns"),
    ('{"type": "history", "model": "kv", "version": 1}', "type"),  # not first
]


@pytest.mark.parametrize(("line", "field"), BAD_LINES)
def test_a_bad_line_is_named_with_its_field(tmp_path: Path, line: str, field: str) -> None:
    good = json.dumps(
        {
            "type": "op",
            "id": 0,
            "client_id": 0,
            "key": "x",
            "kind": "get",
            "input": None,
            "output": None,
            "invoke_ns": 0,
            "complete_ns": 1,
            "outcome": "ok",
        }
    )
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(HistoryFileError) as info:
        load_history(path)
    assert (info.value.line, info.value.field) == (3, field)
    assert f"{path}:3: `{field}`" in str(info.value)


@pytest.mark.parametrize(
    ("header", "field"),
    [({"model": "queue", "version": 1}, "model"), ({"model": "kv", "version": 2}, "version")],
)
def test_a_bad_header_is_named(tmp_path: Path, header: dict[str, object], field: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"type": "history", **header}) + "\n")
    with pytest.raises(HistoryFileError) as info:
        load_history(path)
    assert (info.value.line, info.value.field) == (1, field)


def test_a_problem_the_model_finds_is_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    ops = [op(1, 1, "get", None, None, 0, 1), op(2, 1, "put", "v", None, 2, 3)]
    write_history(path, History("kv", ops))
    with pytest.raises(HistoryFileError) as info:
        check(load_history(path))
    assert (info.value.line, info.value.field) == (3, "kind")


# --- the report and the command -----------------------------------------------------------


def test_the_report_is_self_contained_and_marks_the_operation_that_cannot_be_placed() -> None:
    ops, _ = BAD_HISTORIES["stale read"]
    history = History("kv", ops, [Event("partition", 15, 35, (1,), "isolated")])
    page = render_html(history, check(history))
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|src=|https?://(?!www\.w3\.org/2000/svg)", page)
    assert "op 3 (client 2, <code>get x -&gt; &#x27;1&#x27;</code>) cannot be placed" in page
    assert 'stroke="#c00"' in page
    assert "partition n1 isolated" in page


def senate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "senate", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_senate_check_exit_statuses_and_report(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    ops = [op(1, 1, "set", "v", None, 0, 10), op(2, 2, "get", None, "v", 20, 30)]
    write_history(good, History("kv", ops))
    write_history(bad, History("kv", BAD_HISTORIES["stale read"][0]))
    result = senate(str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: linearizable" in result.stdout
    report = tmp_path / "report.html"
    result = senate(str(bad), "--html", str(report))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "illegal: key 'x': op 3 (client 2) cannot be placed" in result.stdout
    assert describe(BAD_HISTORIES["stale read"][0][2]) in result.stdout
    assert "op 3 (client 2, <code>get x" in report.read_text()
    unknown = tmp_path / "unknown.jsonl"
    many = [op(i, i, "set", "v", None, 0, 100) for i in range(12)]
    write_history(unknown, History("kv", [*many, op(99, 99, "get", None, "w", 200, 300)]))
    result = senate(str(unknown), "--max-steps", "10")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown" in result.stdout
    broken = tmp_path / "broken.jsonl"
    broken.write_text(good.read_text() + '{"type": "op", "id": "seven"}\n')
    result = senate(str(broken))
    assert result.returncode == 2
    assert f"{broken}:4: `id`" in result.stderr
    result = senate(str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
