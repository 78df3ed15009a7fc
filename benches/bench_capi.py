"""One balancer pick through the C ABI (cffi in API mode, `libsenate_capi.a`) against the
same pick through the PyO3 module (`senate._core`), in the same run: Maglev over 10 backends,
a str key (as UTF-8 bytes through the C ABI) and an int key, each returning the backend's name
as a Python str; and a no-op call through each, the floor of a call. The ratios (cffi time /
PyO3 time) are paired: both timed back to back, alternating order, in each round."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import senate._core as core

# `capi_library` (the cffi build of the C ABI) lives with the tests: run from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from benches.bench_balance import PICK_ROUNDS, paired_ratio
from capi_library import CApiError, check, last_error, load

BACKENDS = [f"backend-{i}" for i in range(10)]
KEY = "user:42"
GROUP = "capi-pick"


class CMaglev:
    """A Maglev balancer through the C ABI, with the wrapper a Python user of cffi would write:
    check the code, map the index to the name (kept as Python strs, as the PyO3 class does)."""

    def __init__(self) -> None:
        self.ffi, self.lib = load()
        options = self.ffi.new("senate_balancer_options *")
        check(
            self.lib,
            self.lib.senate_balancer_options_default(self.lib.SENATE_ALGORITHM_MAGLEV, options),
        )
        c_names = [self.ffi.new("char[]", name.encode()) for name in BACKENDS]
        out = self.ffi.new("senate_balancer **")
        names = self.ffi.new("char *[]", c_names)
        check(
            self.lib,
            self.lib.senate_balancer_new(options, names, self.ffi.NULL, len(BACKENDS), out),
        )
        self.handle = self.ffi.gc(out[0], self.lib.senate_balancer_free)
        self.names = list(BACKENDS)
        self.index = self.ffi.new("size_t *")

    def pick(self, key: bytes) -> str:
        if self.lib.senate_balancer_pick_key(self.handle, key, len(key), self.index):
            raise CApiError(-1, last_error(self.lib))
        name: str = self.names[self.index[0]]
        return name

    def pick_u64(self, key: int) -> str:
        if self.lib.senate_balancer_pick_key_u64(self.handle, key, self.index):
            raise CApiError(-1, last_error(self.lib))
        name: str = self.names[self.index[0]]
        return name


def cases() -> dict[str, Callable[[], object]]:
    """name -> a call without arguments, for each benchmark of the group."""
    c_maglev, py_maglev = CMaglev(), core.Maglev(BACKENDS)
    key = KEY.encode()
    assert c_maglev.pick(key) == py_maglev.pick(KEY)
    assert c_maglev.pick_u64(42) == py_maglev.pick(42)
    lib = c_maglev.lib
    return {
        "pyo3_noop": core.RaftNode(1, [1]).noop,
        "cffi_noop": lib.senate_version,
        "pyo3_pick_str": lambda: py_maglev.pick(KEY),
        "cffi_pick_bytes": lambda: c_maglev.pick(key),
        "pyo3_pick_int": lambda: py_maglev.pick(42),
        "cffi_pick_u64": lambda: c_maglev.pick_u64(42),
        # The bare C call: no code check, no name (what the wrapper adds costs the rest).
        "cffi_pick_bytes_bare": lambda: lib.senate_balancer_pick_key(
            c_maglev.handle, key, len(key), c_maglev.index
        ),
    }


#: cffi case -> the PyO3 case it is paired with.
PAIRS = {
    "cffi_noop": "pyo3_noop",
    "cffi_pick_bytes": "pyo3_pick_str",
    "cffi_pick_u64": "pyo3_pick_int",
    "cffi_pick_bytes_bare": "pyo3_pick_str",
}


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize(
    "name",
    [
        "pyo3_noop",
        "cffi_noop",
        "pyo3_pick_str",
        "cffi_pick_bytes",
        "cffi_pick_bytes_bare",
        "pyo3_pick_int",
        "cffi_pick_u64",
    ],
)
def test_pick(
    benchmark: Any,
    record_median: Callable[[str, str, object], None],
    record_capi_ratio: Callable[[str, float], None],
    name: str,
) -> None:
    calls = cases()
    benchmark.pedantic(calls[name], **PICK_ROUNDS)
    record_median(GROUP, name, benchmark)
    if name in PAIRS and getattr(benchmark, "stats", None) is not None:
        record_capi_ratio(name, paired_ratio(calls[name], calls[PAIRS[name]]))
