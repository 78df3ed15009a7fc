"""Hypothesis profiles: `standard` for every run (CI included), `thorough` on demand:
`SENATE_HYPOTHESIS_PROFILE=thorough pytest tests/test_stateful.py tests/test_codec.py`."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "standard", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("SENATE_HYPOTHESIS_PROFILE", "standard"))


@pytest.fixture(params=["raft", "paxos"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Each consensus protocol in turn: tests that take it run once per protocol."""
    value: str = request.param
    return value
