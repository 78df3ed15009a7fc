"""Reports the ratios between benchmarks of one group measured in the same run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

#: group -> benchmark name -> median seconds, filled by `record_median`.
MEDIANS: dict[str, dict[str, float]] = {}


def _record_median(group: str, name: str, benchmark: object) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # benchmarks disabled: the function ran once, untimed
        return
    MEDIANS.setdefault(group, {})[name] = stats.stats.median


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
