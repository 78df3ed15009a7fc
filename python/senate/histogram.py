"""A fixed-size latency histogram: log-spaced buckets, about 1% precision from 1 us to 100 s.

Bucket `i` holds the values in `[LOW_S * GAMMA**i, LOW_S * GAMMA**(i + 1))` and reports them
as its geometric midpoint `LOW_S * GAMMA**(i + 0.5)`, so a reported percentile is within
`sqrt(GAMMA) - 1` (0.995%) of the exact nearest-rank percentile of the recorded values.
Values below `LOW_S` land in the first bucket and values above `HIGH_S` in the last one; the
exact minimum and maximum are kept besides, and every reported percentile is clamped to
`[min, max]`. Memory is `BUCKETS` integers whatever the number of values recorded, and two
histograms merge by adding their buckets (merging equals recording the union).
"""

from __future__ import annotations

import math
from typing import Any

#: The lowest value with full precision, in seconds (1 us).
LOW_S = 1e-6
#: The highest value with full precision, in seconds.
HIGH_S = 100.0
#: The ratio between the bounds of a bucket: the relative error is at most sqrt(GAMMA) - 1.
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
_LOG_LOW = math.log(LOW_S)
#: The number of buckets: [LOW_S, HIGH_S] at ratio GAMMA each.
BUCKETS = math.ceil(math.log(HIGH_S / LOW_S) / _LOG_GAMMA) + 1
#: The percentiles a report shows.
REPORTED_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9)


class Histogram:
    """Counts of values (seconds) in `BUCKETS` log-spaced buckets, plus count, sum, min, max."""

    __slots__ = ("buckets", "count", "max_s", "min_s", "sum_s")

    def __init__(self) -> None:
        self.buckets: list[int] = [0] * BUCKETS  # len == BUCKETS; sum == count
        self.count = 0
        self.sum_s = 0.0
        self.min_s = math.inf  # inf while count == 0
        self.max_s = 0.0  # 0.0 while count == 0

    def record(self, value_s: float) -> None:
        """Adds one value (seconds; negative values are programmer errors)."""
        assert value_s >= 0.0, value_s
        if value_s > LOW_S:
            index = int((math.log(value_s) - _LOG_LOW) / _LOG_GAMMA)
            self.buckets[index if index < BUCKETS else BUCKETS - 1] += 1
        else:
            self.buckets[0] += 1
        self.count += 1
        self.sum_s += value_s
        if value_s < self.min_s:
            self.min_s = value_s
        if value_s > self.max_s:
            self.max_s = value_s

    def merge(self, other: Histogram) -> None:
        """Adds `other`'s values to this histogram."""
        buckets = self.buckets
        for index, n in enumerate(other.buckets):
            if n:
                buckets[index] += n
        self.count += other.count
        self.sum_s += other.sum_s
        self.min_s = min(self.min_s, other.min_s)
        self.max_s = max(self.max_s, other.max_s)

    def percentile(self, percent: float) -> float:
        """The nearest-rank `percent` percentile in seconds (0.0 when empty).

        Within 1% for values in [LOW_S, HIGH_S]; the 0th and 100th are the exact extremes.
        """
        assert 0.0 <= percent <= 100.0, percent
        if self.count == 0:
            return 0.0
        if percent == 0.0:
            return self.min_s
        if percent == 100.0:
            return self.max_s
        rank = max(1, math.ceil(self.count * percent / 100.0))  # 1-based, in [1, count]
        seen = 0
        for index, n in enumerate(self.buckets):
            seen += n
            if seen >= rank:
                middle = math.exp(_LOG_LOW + (index + 0.5) * _LOG_GAMMA)
                return min(max(middle, self.min_s), self.max_s)
        raise AssertionError("the buckets hold fewer values than the count")

    def mean_s(self) -> float:
        return self.sum_s / self.count if self.count else 0.0

    def summary_ms(self) -> dict[str, float]:
        """p50, p90, p99, p99.9, max and mean in milliseconds, keyed "p50".."max", "mean"."""
        out = {f"p{p:g}": self.percentile(p) * 1e3 for p in REPORTED_PERCENTILES}
        out["max"] = self.max_s * 1e3
        out["mean"] = self.mean_s() * 1e3
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form with the non-empty buckets only; `from_json` reads it back."""
        return {
            "gamma": GAMMA,
            "low_s": LOW_S,
            "count": self.count,
            "sum_s": self.sum_s,
            "min_s": self.min_s if self.count else 0.0,
            "max_s": self.max_s,
            "buckets": {str(index): n for index, n in enumerate(self.buckets) if n},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        if data["gamma"] != GAMMA or data["low_s"] != LOW_S:
            raise ValueError("the histogram was written with other bucket bounds")
        histogram = cls()
        for key, n in data["buckets"].items():
            index = int(key)
            if not 0 <= index < BUCKETS or n < 0:
                raise ValueError(f"bucket {key}: {n} is out of range")
            histogram.buckets[index] = int(n)
        histogram.count = int(data["count"])
        if histogram.count != sum(histogram.buckets):
            raise ValueError("the count differs from the sum of the buckets")
        histogram.sum_s = float(data["sum_s"])
        histogram.min_s = float(data["min_s"]) if histogram.count else math.inf
        histogram.max_s = float(data["max_s"])
        return histogram
