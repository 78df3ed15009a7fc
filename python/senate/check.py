"""Linearizability checking of recorded histories (`senate check`; `docs/check.md`).

A `History` is what clients did: `Operation`s (who invoked what on which key, when, and what
came back: ok, failed, or indeterminate) and `Event`s (faults and leader changes, shown in
the report, never checked). `load_history` reads the JSON-lines format, `write_history`
writes it, `Recorder` builds a history as a program runs, and `check` hands it to the Rust
checker (Wing-Gong-Lowe search per key, in parallel, without the GIL) and returns a
`CheckOk`, `CheckIllegal` or `CheckUnknown`.

Bad input raises `HistoryError` (from the core: `index`, `field`, `problem`), or its subclass
`HistoryFileError` for a file, which also names the `path` and `line`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast, get_args

from senate._core import (
    CHECK_MODELS,
    DEFAULT_MAX_STEPS_PER_PART,
    MAX_CHECK_THREADS,
    MAX_STEPS_PER_PART,
    HistoryError,
    check_history,
)

__all__ = [
    "CHAOS_FAULT_KINDS",
    "CHECK_MODELS",
    "DEFAULT_MAX_STEPS_PER_PART",
    "EVENT_KINDS",
    "FORMAT_VERSION",
    "MAX_CHECK_THREADS",
    "MAX_HISTORY_LINES",
    "MAX_LINE_BYTES",
    "MAX_STEPS_PER_PART",
    "CheckIllegal",
    "CheckOk",
    "CheckResult",
    "CheckUnknown",
    "ErrorReply",
    "Event",
    "History",
    "HistoryError",
    "HistoryFileError",
    "Operation",
    "Outcome",
    "Recorder",
    "Value",
    "check",
    "describe",
    "load_history",
    "write_history",
]

#: The version the header line of a history file carries.
FORMAT_VERSION = 1
#: Lines a history file may have, at most (about 2 GB of operations).
MAX_HISTORY_LINES = 10_000_000
#: Bytes one line may have, at most.
MAX_LINE_BYTES = 1 << 20

Outcome: TypeAlias = Literal["ok", "failed", "indeterminate"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)

#: The faults of `senate chaos`'s nemesis (`senate.chaos.nemesis` draws from these).
CHAOS_FAULT_KINDS: tuple[str, ...] = (
    "kill",
    "pause",
    "isolate-leader",
    "split",
    "bridge",
    "one-way",
    "disk-stall",
    "snapshot",
    "transfer",
    "replace",
)
#: Kinds of event a history may carry: faults (a band from `start_ns` to `end_ns`; the kinds
#: of `senate chaos`'s nemesis, and "partition" for any other cut) and "leader" (a node
#: became leader at `start_ns`; its band lasts until the next one).
EVENT_KINDS: tuple[str, ...] = (*CHAOS_FAULT_KINDS, "partition", "leader")


@dataclass(frozen=True)
class ErrorReply:
    """An error the server answered (an INCR of a value that is not an integer)."""

    error: str


#: An operation's input or output: what JSON carries, and error replies.
Value: TypeAlias = bool | int | str | ErrorReply | None


@dataclass(frozen=True)
class Operation:
    """One operation: `kind` and `input`/`output` as the history's model defines them (the
    kv model: get, set, incr, append, delete, set_if_absent; the counter: add, read).

    `complete_ns` is required for "ok"; for "indeterminate" it is when the client gave up
    (only shown: the operation may take effect at any time after `invoke_ns`, or never).
    `output` is only read for "ok"."""

    id: int
    client_id: int
    key: str
    kind: str
    input: Value
    output: Value
    invoke_ns: int
    complete_ns: int | None
    outcome: Outcome


@dataclass(frozen=True)
class Event:
    """A fault or a leader change, shown as a band in the report. `end_ns` None: it lasted to
    the end of the history (for "leader": until the next leader event)."""

    kind: str
    start_ns: int
    end_ns: int | None = None
    nodes: tuple[int, ...] = ()
    note: str = ""


@dataclass
class History:
    """Operations and events; `lines` holds each operation's line number when it was loaded
    from a file (for error messages), `source` that file."""

    model: str = "kv"
    operations: list[Operation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    lines: list[int] | None = None
    source: Path | None = None


class HistoryFileError(HistoryError):
    """A history file that cannot be read: `path`, `line` (1-based), `field`, `problem`."""

    path: Path | None = None
    line: int | None = None

    def __init__(self, path: Path, line: int, field: str, problem: str) -> None:
        super().__init__(f"{path}:{line}: `{field}`: {problem}")
        self.path = path
        self.line = line
        self.field = field
        self.problem = problem


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOk:
    """Every key's operations are linearizable; `linearizations` gives one order per key (an
    indeterminate operation not in it did not take effect, or nobody saw it)."""

    linearizations: Mapping[str, tuple[int, ...]]
    parts: int
    steps: int
    status: Literal["ok"] = "ok"


@dataclass(frozen=True)
class CheckIllegal:
    """The operations on `key` (the first such key in key order) are not linearizable: after
    the longest linearizable `prefix` found (operation ids, leaving the object in `state`),
    operation `blocked` has to take effect and cannot."""

    key: str
    prefix: tuple[int, ...]
    blocked: int
    state: str
    linearizations: Mapping[str, tuple[int, ...]]
    parts: int
    steps: int
    status: Literal["illegal"] = "illegal"


@dataclass(frozen=True)
class CheckUnknown:
    """No key is illegal, but the search of `keys` ran out of budget: not a pass."""

    keys: tuple[str, ...]
    linearizations: Mapping[str, tuple[int, ...]]
    parts: int
    steps: int
    status: Literal["unknown"] = "unknown"


CheckResult: TypeAlias = CheckOk | CheckIllegal | CheckUnknown


def check(
    history: History | Sequence[Operation],
    *,
    model: str | None = None,
    max_steps_per_part: int = DEFAULT_MAX_STEPS_PER_PART,
    threads: int = 0,
) -> CheckResult:
    """Checks the operations of `history` against `model` (default: the history's, else "kv").

    `max_steps_per_part` bounds each key's search (the answer is then `CheckUnknown`);
    `threads` (0: one per core) does not change the answer. Raises `HistoryError` (or
    `HistoryFileError` for a loaded file) naming the first bad operation."""
    if isinstance(history, History):
        operations: Sequence[Operation] = history.operations
        model = model or history.model
    else:
        operations = history
        model = model or "kv"
    try:
        report = check_history(
            model, operations, max_steps_per_part=max_steps_per_part, threads=threads
        )
    except HistoryError as e:
        if isinstance(history, History) and history.lines is not None and history.source:
            index = cast(int, e.index)
            line = history.lines[index]
            raise HistoryFileError(history.source, line, str(e.field), str(e.problem)) from None
        raise
    linearizations = {key: tuple(order) for key, order in report.linearizations}
    if report.status == "illegal":
        assert report.key is not None
        assert report.blocked is not None
        assert report.state is not None
        return CheckIllegal(
            report.key,
            tuple(report.prefix),
            report.blocked,
            report.state,
            linearizations,
            report.parts,
            report.steps,
        )
    if report.status == "unknown":
        keys = tuple(report.unknown_keys)
        return CheckUnknown(keys, linearizations, report.parts, report.steps)
    return CheckOk(linearizations, report.parts, report.steps)


def describe(op: Operation) -> str:
    """`op` in a few words: "set x 'v' -> ok", "get x -> '1'", "incr x 1 -> ?"."""
    argument = "" if op.input is None else f" {_show(op.input)}"
    if op.outcome == "ok":
        result = "ok" if op.output is None and op.kind != "get" else _show(op.output)
    else:
        result = "?" if op.outcome == "indeterminate" else "failed"
    return f"{op.kind} {op.key}{argument} -> {result}"


def _show(value: Value) -> str:
    if isinstance(value, ErrorReply):
        return f"error {value.error!r}"
    if value is None:
        return "nil"
    if isinstance(value, str) and len(value) > 24:
        return repr(value[:24]) + "..."
    return repr(value)


# --- the file format ----------------------------------------------------------------------


class _LineError(Exception):
    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem


def _int(obj: Mapping[str, Any], name: str, *, optional: bool = False) -> int | None:
    value = obj.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _LineError(name, f"expected a non-negative integer, got {json.dumps(value)}")
    if not 0 <= value < 1 << 64:
        raise _LineError(name, f"{value} is out of range [0, 2**64)")
    return value


def _str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise _LineError(name, f"expected a string, got {json.dumps(value)}")
    return value


def _value(obj: Mapping[str, Any], name: str) -> Value:
    value = obj.get(name)
    if isinstance(value, dict):
        if set(value) == {"error"} and isinstance(value["error"], str):
            return ErrorReply(value["error"])
        raise _LineError(name, 'an object must be {"error": "<message>"}')
    if value is None or isinstance(value, bool | int | str):
        return value
    expected = "null, a boolean, an integer, a string or an error"
    raise _LineError(name, f"expected {expected}, got {json.dumps(value)}")


def _operation(obj: Mapping[str, Any]) -> Operation:
    # Fields are read in the documented order, so the first bad one is the one named.
    op_id = cast(int, _int(obj, "id"))
    client_id = cast(int, _int(obj, "client_id"))
    key, kind = _str(obj, "key"), _str(obj, "kind")
    input, output = _value(obj, "input"), _value(obj, "output")
    invoke_ns = cast(int, _int(obj, "invoke_ns"))
    outcome = obj.get("outcome")
    if outcome not in OUTCOMES:
        raise _LineError("outcome", f"{json.dumps(outcome)} is not one of {', '.join(OUTCOMES)}")
    complete_ns = _int(obj, "complete_ns", optional=outcome != "ok")
    return Operation(
        op_id, client_id, key, kind, input, output, invoke_ns, complete_ns, cast(Outcome, outcome)
    )


def _event(obj: Mapping[str, Any]) -> Event:
    kind = _str(obj, "kind")
    if kind not in EVENT_KINDS:
        raise _LineError("kind", f"{kind!r} is not one of {', '.join(EVENT_KINDS)}")
    start_ns = cast(int, _int(obj, "start_ns"))
    end_ns = _int(obj, "end_ns", optional=True)
    if end_ns is not None and end_ns < start_ns:
        raise _LineError("end_ns", f"{end_ns} is before start_ns {start_ns}")
    nodes = obj.get("nodes", [])
    if not isinstance(nodes, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in nodes
    ):
        raise _LineError("nodes", "expected a list of node ids")
    note = obj.get("note", "")
    if not isinstance(note, str):
        raise _LineError("note", "expected a string")
    return Event(kind, start_ns, end_ns, tuple(nodes), note)


def _header(obj: Mapping[str, Any], history: History) -> None:
    model = _str(obj, "model")
    if model not in CHECK_MODELS:
        raise _LineError("model", f"{model!r} is not one of {', '.join(CHECK_MODELS)}")
    version = _int(obj, "version")
    if version != FORMAT_VERSION:
        raise _LineError("version", f"this senate reads version {FORMAT_VERSION}, not {version}")
    history.model = model


def _read_line(history: History, text: str, number: int) -> None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise _LineError("(json)", f"not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(obj, dict):
        raise _LineError("(json)", "expected a JSON object")
    kind = obj.get("type")
    if kind == "op":
        history.operations.append(_operation(obj))
        cast(list[int], history.lines).append(number)
    elif kind == "event":
        history.events.append(_event(obj))
    elif kind == "history":
        if history.operations or history.events:
            raise _LineError("type", "the history line must come first")
        _header(obj, history)
    else:
        raise _LineError("type", f'expected "history", "op" or "event", got {json.dumps(kind)}')


def load_history(path: str | Path) -> History:
    """Reads a JSON-lines history file (docs/check.md). Raises `HistoryFileError` naming the
    line and field of the first problem, `OSError` if the file cannot be read."""
    path = Path(path)
    history = History(lines=[], source=path)
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                if number > MAX_HISTORY_LINES:
                    raise _LineError("(file)", f"more than {MAX_HISTORY_LINES} lines")
                if len(raw) > MAX_LINE_BYTES:
                    raise _LineError("(line)", f"longer than {MAX_LINE_BYTES} bytes")
                text = raw.decode("utf-8").strip()
                if text:
                    _read_line(history, text, number)
            except UnicodeDecodeError:
                raise HistoryFileError(path, number, "(line)", "not UTF-8") from None
            except _LineError as e:
                raise HistoryFileError(path, number, e.field, e.problem) from None
    return history


def _json_value(value: Value) -> object:
    return {"error": value.error} if isinstance(value, ErrorReply) else value


def history_lines(history: History) -> Iterable[str]:
    """The lines of the file `write_history` writes (without newlines)."""
    header = {"type": "history", "model": history.model, "version": FORMAT_VERSION}
    yield json.dumps(header)
    for e in history.events:
        event = {"type": "event", "kind": e.kind, "start_ns": e.start_ns, "end_ns": e.end_ns}
        yield json.dumps({**event, "nodes": list(e.nodes), "note": e.note})
    for op in history.operations:
        yield json.dumps(
            {
                "type": "op",
                "id": op.id,
                "client_id": op.client_id,
                "key": op.key,
                "kind": op.kind,
                "input": _json_value(op.input),
                "output": _json_value(op.output),
                "invoke_ns": op.invoke_ns,
                "complete_ns": op.complete_ns,
                "outcome": op.outcome,
            }
        )


def write_history(path: str | Path, history: History) -> None:
    """Writes `history` as JSON lines: a header, the events, the operations."""
    with Path(path).open("w", encoding="utf-8") as f:
        for line in history_lines(history):
            f.write(line + "\n")


# --- recording ----------------------------------------------------------------------------


class Recorder:
    """Builds a `History` as a program runs: `invoke` when a client sends an operation, then
    one of `ok`, `fail` or `indeterminate` when it learns its fate. Operations still open when
    `history()` is called come out indeterminate. Times come from `clock` (nanoseconds, one
    clock for every client). Not thread-safe: record from one thread or event loop."""

    def __init__(
        self,
        model: str = "kv",
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        max_operations: int = MAX_HISTORY_LINES,
    ) -> None:
        if model not in CHECK_MODELS:
            raise ValueError(f"model {model!r} is not one of {', '.join(CHECK_MODELS)}")
        self._model = model
        self._clock = clock
        self._max_operations = max_operations
        self._done: list[Operation] = []
        self._open: dict[int, Operation] = {}
        self._events: list[Event] = []
        self._next_id = 0

    def invoke(self, client_id: int, key: str, kind: str, input: Value = None) -> int:
        """Records the invocation now; returns the operation's id."""
        if len(self._done) + len(self._open) >= self._max_operations:
            raise OverflowError(f"more than {self._max_operations} operations recorded")
        op_id = self._next_id
        self._next_id += 1
        now = self._clock()
        op = Operation(op_id, client_id, key, kind, input, None, now, None, "indeterminate")
        self._open[op_id] = op
        return op_id

    def _close(self, op_id: int, outcome: Outcome, output: Value) -> None:
        op = self._open.pop(op_id)
        complete = {"complete_ns": self._clock(), "outcome": outcome, "output": output}
        self._done.append(Operation(**{**op.__dict__, **complete}))

    def ok(self, op_id: int, output: Value = None) -> None:
        """The operation took effect and returned `output`."""
        self._close(op_id, "ok", output)

    def fail(self, op_id: int) -> None:
        """The operation is known not to have taken effect."""
        self._close(op_id, "failed", None)

    def indeterminate(self, op_id: int) -> None:
        """The client gave up on the operation (timeout, lost connection)."""
        self._close(op_id, "indeterminate", None)

    def event(
        self,
        kind: str,
        start_ns: int,
        end_ns: int | None = None,
        nodes: Iterable[int] = (),
        note: str = "",
    ) -> None:
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
        self._events.append(Event(kind, start_ns, end_ns, tuple(nodes), note))

    def now_ns(self) -> int:
        return self._clock()

    def history(self) -> History:
        ops = sorted([*self._done, *self._open.values()], key=lambda op: op.id)
        return History(self._model, ops, list(self._events))
