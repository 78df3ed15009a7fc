"""The checker's Python path on 10,000 operations over 100 keys from 50 clients (the issue's
target: under 1 s): reading the JSON-lines file, checking it, and both; against the floor of
any Python reader of the file (`json.loads` of every line), measured in the same run."""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from senate.check import CheckOk, History, Recorder, check, load_history, write_history

OPS, KEYS, CLIENTS = 10_000, 100, 50


def recorded_history(seed: int) -> History:
    """A register's history in simulated time: each of `CLIENTS` clients runs one operation
    at a time; each takes effect at a random instant inside its interval; 2% end
    indeterminate (half of those take effect)."""
    rng = random.Random(seed)
    now = 0
    recorder = Recorder(clock=lambda: now)
    events: list[tuple[int, int, int, str]] = []
    client_free = [0] * CLIENTS
    plan = []
    for i in range(OPS):
        client = min(range(CLIENTS), key=lambda c: (client_free[c], c))
        kind = rng.choice(["get", "get", "set", "incr"])
        invoke = client_free[client] + rng.randrange(1_000)
        effect = invoke + rng.randrange(10_000)
        reply = effect + rng.randrange(10_000)
        client_free[client] = reply + 1
        lost = rng.random() < 0.02
        plan.append((client, f"key{rng.randrange(KEYS):03}", kind, lost))
        heapq.heappush(events, (invoke, 0, i, "invoke"))
        if not lost or rng.random() < 0.5:
            heapq.heappush(events, (effect, 1, i, "effect"))
        heapq.heappush(events, (reply, 2, i, "reply"))
    store: dict[str, int] = {}
    ids: dict[int, int] = {}
    replies: dict[int, object] = {}
    while events:
        now, _, i, what = heapq.heappop(events)
        client, key, kind, lost = plan[i]
        argument: object = {"get": None, "set": str(i % 7), "incr": 1}[kind]
        if what == "invoke":
            ids[i] = recorder.invoke(client, key, kind, argument)  # type: ignore[arg-type]
        elif what == "effect":
            if kind == "get":
                replies[i] = None if key not in store else str(store[key])
            elif kind == "set":
                store[key] = i % 7
                replies[i] = None
            else:
                store[key] = store.get(key, 0) + 1
                replies[i] = store[key]
        elif lost:
            recorder.indeterminate(ids[i])
        else:
            recorder.ok(ids[i], replies[i])  # type: ignore[arg-type]
    return recorder.history()


@pytest.fixture(scope="module")
def history_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("check") / "history.jsonl"
    write_history(path, recorded_history(seed=1))
    return path


@pytest.mark.benchmark(group="check")
def test_json_lines_only(
    benchmark: Any, history_file: Path, record_median: Callable[[str, str, object], None]
) -> None:
    def parse() -> int:
        with history_file.open("rb") as f:
            return len([json.loads(line) for line in f])

    assert benchmark(parse) == OPS + 1
    record_median("check", "json", benchmark)


@pytest.mark.benchmark(group="check")
def test_load(
    benchmark: Any, history_file: Path, record_median: Callable[[str, str, object], None]
) -> None:
    history = benchmark(load_history, history_file)
    assert len(history.operations) == OPS
    record_median("check", "load", benchmark)


@pytest.mark.benchmark(group="check")
def test_check(
    benchmark: Any, history_file: Path, record_median: Callable[[str, str, object], None]
) -> None:
    history = load_history(history_file)
    result = benchmark(check, history)
    assert isinstance(result, CheckOk)
    assert result.parts == KEYS
    record_median("check", "check", benchmark)


@pytest.mark.benchmark(group="check")
def test_load_and_check(
    benchmark: Any, history_file: Path, record_median: Callable[[str, str, object], None]
) -> None:
    result = benchmark(lambda: check(load_history(history_file)))
    assert isinstance(result, CheckOk)
    record_median("check", "load_and_check", benchmark)
