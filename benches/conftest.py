"""Reports the ratios between benchmarks of one group measured in the same run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

#: group -> benchmark name -> mean seconds, filled by `record_mean`.
MEANS: dict[str, dict[str, float]] = {}


def _record_mean(group: str, name: str, benchmark: object) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # benchmarks disabled: the function ran once, untimed
        return
    MEANS.setdefault(group, {})[name] = stats.stats.mean


@pytest.fixture
def record_mean() -> Callable[[str, str, object], None]:
    """`record_mean(group, name, benchmark)` keeps the mean of a finished benchmark."""
    return _record_mean


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    core = MEANS.get("core-round", {})
    if "round" in core and "noop" in core:
        terminalreporter.write_sep("-", "core-round")
        terminalreporter.write_line(
            f"propose/ready/advance round: {core['round'] * 1e9:,.0f} ns; "
            f"no-op call: {core['noop'] * 1e9:,.0f} ns; "
            f"ratio {core['round'] / core['noop']:.1f}x"
        )
