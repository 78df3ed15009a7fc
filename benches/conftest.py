"""Reports the ratios between benchmarks of one group measured in the same run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

#: group -> benchmark name -> median seconds, filled by `record_median`.
MEDIANS: dict[str, dict[str, float]] = {}
#: Balancer name -> median over rounds of (time of `pick()` calls / time of as many no-op
#: calls), the two timed back to back in each round: see `paired_ratio`.
PICK_RATIOS: dict[str, float] = {}
#: cffi benchmark -> median over rounds of (its time / the time of the PyO3 call it is paired
#: with), timed back to back: see `bench_capi.PAIRS`.
CAPI_RATIOS: dict[str, float] = {}


def _record_median(group: str, name: str, benchmark: object) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # benchmarks disabled: the function ran once, untimed
        return
    MEDIANS.setdefault(group, {})[name] = stats.stats.median


@pytest.fixture
def record_pick_ratio() -> Callable[[str, float], None]:
    """`record_pick_ratio(balancer_name, ratio)` keeps a paired pick/no-op ratio."""
    return PICK_RATIOS.__setitem__


@pytest.fixture
def record_capi_ratio() -> Callable[[str, float], None]:
    """`record_capi_ratio(cffi_benchmark, ratio)` keeps a paired cffi/PyO3 ratio."""
    return CAPI_RATIOS.__setitem__


@pytest.fixture
def record_median() -> Callable[[str, str, object], None]:
    """`record_median(group, name, benchmark)` keeps the median of a finished benchmark."""
    return _record_median


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    core = MEDIANS.get("core-round", {})
    if "round" in core and "noop" in core:
        terminalreporter.write_sep("-", "core-round")
        terminalreporter.write_line(
            f"median propose/ready/advance round: {core['round'] * 1e9:,.0f} ns; "
            f"median no-op call: {core['noop'] * 1e9:,.0f} ns; "
            f"ratio {core['round'] / core['noop']:.1f}x"
        )
    kv_path = MEDIANS.get("kv-path", {})
    if "request" in kv_path and "parse" in kv_path:
        terminalreporter.write_sep("-", "kv-path (one SET from each of 50 clients, one node)")
        per_set = kv_path["request"] / 50
        terminalreporter.write_line(
            f"median per SET through the server: {per_set * 1e6:.2f} us; "
            f"parsing alone: {kv_path['parse'] / 50 * 1e6:.3f} us; "
            f"ratio {kv_path['request'] / kv_path['parse']:.1f}x"
        )
    detect = MEDIANS.get("detect", {})
    if "noop" in detect and "noop_pair" in detect:
        terminalreporter.write_sep("-", "detect")
        for name, what in (
            ("phi", "phi heartbeat()+phi()"),
            ("fixed", "fixed heartbeat()+is_available()"),
        ):
            if name in detect:
                terminalreporter.write_line(
                    f"median {what}: {detect[name] * 1e9:,.0f} ns; "
                    f"{detect[name] / detect['noop']:.1f}x one no-op call, "
                    f"{detect[name] / detect['noop_pair']:.2f}x two no-op calls"
                )

    checked = MEDIANS.get("check", {})
    if {"json", "load", "check", "load_and_check"} <= checked.keys():
        terminalreporter.write_sep("-", "check (10,000 ops, 100 keys, 50 clients)")
        terminalreporter.write_line(
            f"median load+check: {checked['load_and_check'] * 1e3:.0f} ms (target < 1 s); "
            f"check alone {checked['check'] * 1e3:.0f} ms; load alone {checked['load'] * 1e3:.0f}"
            f" ms, {checked['load'] / checked['json']:.1f}x json.loads of every line"
        )

    picks = MEDIANS.get("balance-pick", {})
    if "noop" in picks:
        terminalreporter.write_sep("-", "balance-pick (10 backends)")
        for name, median in picks.items():
            if name != "noop":
                ratio = PICK_RATIOS.get(name, median / picks["noop"])
                terminalreporter.write_line(f"{name:16} {median * 1e9:7.1f} ns  {ratio:.2f}x no-op")
    lookups = MEDIANS.get("balance-lookup", {})
    if "uhashring" in lookups:
        terminalreporter.write_sep("-", "balance-lookup (100 backends, 1,024 str keys)")
        for name in ("RingHash", "Maglev"):
            if name in lookups:
                ratio = lookups["uhashring"] / lookups[name]
                terminalreporter.write_line(f"{name}: {ratio:.1f}x faster than uhashring get_node")
    many = MEDIANS.get("balance-pick-many", {})
    if many:
        terminalreporter.write_sep("-", "balance-pick-many (1,000,000 int keys, 100 backends)")
        for name, median in many.items():
            terminalreporter.write_line(f"{name:12} {1_000_000 / median / 1e6:6.1f} M picks/s")
    build = MEDIANS.get("balance-maglev-build", {})
    if build:
        terminalreporter.write_line(
            f"Maglev build, 1,000 backends, M=65,537: {build['maglev-1000'] * 1e3:.2f} ms"
            " (median; budget 5 ms)"
        )
    capi = MEDIANS.get("capi-pick", {})
    if capi:
        terminalreporter.write_sep("-", "capi-pick (Maglev, 10 backends: C ABI via cffi vs PyO3)")
        for name, median in capi.items():
            capi_ratio = CAPI_RATIOS.get(name)
            paired = f"  {capi_ratio:.2f}x PyO3 (paired)" if capi_ratio is not None else ""
            terminalreporter.write_line(f"{name:22} {median * 1e9:7.1f} ns{paired}")
