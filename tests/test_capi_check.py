"""The linearizability checker through the C ABI gives the Python binding's report (status,
key, prefix, blocked operation, state, unknown keys, parts, steps) for the hand-built bad
histories, for random histories of both models, and for an exhausted budget; bad operations
are refused naming their index and field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import senate._core as core
from capi_library import check, last_error, load
from senate.check import ErrorReply, Operation, Value
from test_check import BAD_HISTORIES

FFI, LIB = load()


def c_value(value: Value, keep: list[Any]) -> dict[str, Any]:
    if value is None:
        return {"kind": LIB.SENATE_VALUE_KIND_NULL}
    if isinstance(value, bool):
        return {"kind": LIB.SENATE_VALUE_KIND_BOOL, "int_value": int(value)}
    if isinstance(value, int):
        return {"kind": LIB.SENATE_VALUE_KIND_INT, "int_value": value}
    kind = (
        LIB.SENATE_VALUE_KIND_ERROR if isinstance(value, ErrorReply) else LIB.SENATE_VALUE_KIND_STR
    )
    data = (value.error if isinstance(value, ErrorReply) else value).encode()
    buffer = FFI.new("uint8_t[]", data or b"\0")
    keep.append(buffer)
    return {"kind": kind, "data": buffer, "len": len(data)}


OUTCOMES = {"ok": "OK", "failed": "FAILED", "indeterminate": "INDETERMINATE"}


def c_check(
    model: str, operations: list[Operation], max_steps: int | None = None
) -> dict[str, Any]:
    """The report of the C checker, as the fields of the PyO3 `CheckReport`."""
    keep: list[Any] = []
    ops = FFI.new("senate_operation[]", max(1, len(operations)))
    for i, op in enumerate(operations):
        key, kind = FFI.new("char[]", op.key.encode()), FFI.new("char[]", op.kind.encode())
        keep += [key, kind]
        ops[i] = {
            "id": op.id,
            "client_id": op.client_id,
            "key": key,
            "kind": kind,
            "input": c_value(op.input, keep),
            "output": c_value(op.output, keep),
            "invoke_ns": op.invoke_ns,
            "completed": op.complete_ns is not None,
            "complete_ns": op.complete_ns or 0,
            "outcome": getattr(LIB, f"SENATE_OUTCOME_{OUTCOMES[op.outcome]}"),
        }
    options = FFI.new("senate_check_options *")
    check(LIB, LIB.senate_check_options_default(options))
    if max_steps is not None:
        options.max_steps_per_part = max_steps
    out = FFI.new("senate_check_report **")
    check(LIB, LIB.senate_check_history(model.encode(), ops, len(operations), options, out))
    report = FFI.gc(out[0], LIB.senate_check_report_free)
    info = FFI.new("senate_check_info *")
    check(LIB, LIB.senate_check_report_get_info(report, info))
    op_id, key_out = FFI.new("uint64_t *"), FFI.new("const char **")
    prefix = []
    for i in range(info.prefix_len):
        check(LIB, LIB.senate_check_report_prefix(report, i, op_id))
        prefix.append(int(op_id[0]))
    unknown_keys = []
    for i in range(info.unknown_key_count):
        check(LIB, LIB.senate_check_report_unknown_key(report, i, key_out))
        unknown_keys.append(FFI.string(key_out[0]).decode())
    illegal = info.status == LIB.SENATE_CHECK_STATUS_ILLEGAL
    return {
        "status": ["ok", "illegal", "unknown"][info.status],
        "key": FFI.string(info.key).decode() if illegal else None,
        "prefix": prefix,
        "blocked": int(info.blocked) if illegal else None,
        "state": FFI.string(info.state).decode() if illegal else None,
        "unknown_keys": unknown_keys,
        "parts": info.parts,
        "steps": info.steps,
    }


def py_check(
    model: str, operations: list[Operation], max_steps: int | None = None
) -> dict[str, Any]:
    kwargs = {} if max_steps is None else {"max_steps_per_part": max_steps}
    report = core.check_history(model, operations, **kwargs)
    fields = ["status", "key", "prefix", "blocked", "state", "unknown_keys", "parts", "steps"]
    return {field: getattr(report, field) for field in fields}


@pytest.mark.parametrize("name", sorted(BAD_HISTORIES))
def test_each_bad_history_gets_the_python_bindings_report(name: str) -> None:
    operations, blocked = BAD_HISTORIES[name]
    report = c_check("kv", operations)
    assert report["status"] == "illegal"
    assert report["blocked"] == blocked
    assert report == py_check("kv", operations)


def test_an_exhausted_budget_is_unknown() -> None:
    operations, _ = BAD_HISTORIES["a concurrent order no serial order explains"]
    report = c_check("kv", operations, max_steps=1)
    assert report["status"] == "unknown"
    assert report["unknown_keys"] == ["x"]
    assert report == py_check("kv", operations, max_steps=1)


values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["a", "b", ""]),
    st.builds(ErrorReply, st.sampled_from(["ERR", "WRONGTYPE"])),
)  # fmt: skip


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[Operation]]:
    model = draw(st.sampled_from(["kv", "counter"]))
    kinds = ["get", "set", "incr", "append", "delete", "set_if_absent"]
    if model == "counter":
        kinds = ["add", "read"]
    operations = []
    for op_id in range(draw(st.integers(0, 8))):
        invoke = draw(st.integers(0, 100))
        outcome = draw(st.sampled_from(["ok", "ok", "failed", "indeterminate"]))
        complete = invoke + draw(st.integers(0, 50)) if outcome != "indeterminate" else None
        operations.append(
            Operation(
                op_id, draw(st.integers(1, 3)), draw(st.sampled_from(["x", "y"])),
                draw(st.sampled_from(kinds)), draw(values), draw(values), invoke, complete,
                outcome,  # type: ignore[arg-type]
            )
        )  # fmt: skip
    return model, operations


@given(history=histories())
def test_any_history_gets_the_python_bindings_report_or_error(
    history: tuple[str, list[Operation]],
) -> None:
    model, operations = history
    try:
        expected: dict[str, Any] | str = py_check(model, operations)
    except Exception as error:  # the C checker must refuse it with the same message
        expected = str(error)
    if isinstance(expected, str):
        with pytest.raises(Exception, match="error 3: operation") as refused:
            c_check(model, operations)
        assert str(refused.value).endswith(expected), (refused.value, expected)
    else:
        assert c_check(model, operations) == expected


def test_bad_operations_and_models_are_named() -> None:
    ops = FFI.new("senate_operation[1]")
    key, kind = FFI.new("char[]", b"x"), FFI.new("char[]", b"get")  # alive while ops is used
    ops[0].key, ops[0].kind = key, kind
    ops[0].outcome = 7
    options = FFI.new("senate_check_options *")
    check(LIB, LIB.senate_check_options_default(options))
    out = FFI.new("senate_check_report **")
    assert LIB.senate_check_history(b"kv", ops, 1, options, out) == LIB.SENATE_CODE_INVALID_ARGUMENT
    assert last_error(LIB) == "operation 0: outcome: 7 is not a senate_outcome"
    assert LIB.senate_check_history(b"nope", ops, 1, options, out) == LIB.SENATE_CODE_INVALID_CONFIG
    assert '"nope" is not one of kv, counter' in last_error(LIB)
    ops[0].outcome = LIB.SENATE_OUTCOME_FAILED
    ops[0].input.kind = 9
    assert LIB.senate_check_history(b"kv", ops, 1, options, out) == LIB.SENATE_CODE_INVALID_ARGUMENT
    assert "input" in last_error(LIB)
    ops[0].input.kind = LIB.SENATE_VALUE_KIND_STR
    ops[0].input.len = 3  # data is NULL
    assert LIB.senate_check_history(b"kv", ops, 1, options, out) == LIB.SENATE_CODE_NULL_ARGUMENT
    options.max_steps_per_part = 0
    ops[0].input.kind = LIB.SENATE_VALUE_KIND_NULL
    assert LIB.senate_check_history(b"kv", ops, 1, options, out) == LIB.SENATE_CODE_INVALID_CONFIG
