"""Runs the partial-connectivity scenarios of the Omni-Paxos paper over many seeds.

Each scenario (quorum-loss, constrained-election, chained; `senate_core::sim::partial`
defines them) cuts links of a seeded cluster once a leader has committed entries, then
measures whether a proposal made after the cut commits within a deadline, how many ticks
that took, and how much leadership churned meanwhile, on Raft or Multi-Paxos. A run is fully
determined by (protocol, scenario, seed, deadline), so any run is replayed exactly by
`replay_command`.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from senate._core import (
    DEFAULT_DEADLINE_ELECTION_TIMEOUTS,
    MAX_DEADLINE_ELECTION_TIMEOUTS,
    SCENARIOS,
    ScenarioReport,
    run_scenario,
)
from senate.sim import DEFAULT_PROTOCOL, check_protocol

__all__ = [
    "DEFAULT_DEADLINE_ELECTION_TIMEOUTS",
    "SCENARIOS",
    "ScenarioSummary",
    "Spread",
    "parse_scenarios",
    "replay_command",
    "run_scenarios",
]


def parse_scenarios(value: str) -> list[str]:
    """Parses "all" or "quorum-loss,chained" into scenario names, in the order given, each
    once. Raises ValueError naming an unknown one."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if names == ["all"]:
        return list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        known = ", ".join((*SCENARIOS, "all"))
        raise ValueError(f"unknown scenario {', '.join(unknown) or value!r} (use {known})")
    return list(dict.fromkeys(names))


def replay_command(
    scenario: str, seed: int, deadline_election_timeouts: int, protocol: str = DEFAULT_PROTOCOL
) -> str:
    """The command that runs exactly this one scenario run again."""
    return (
        f"senate sim --scenario {scenario} --protocol {protocol} --seeds 1 --first-seed {seed} "
        f"--deadline {deadline_election_timeouts}"
    )


@dataclass(frozen=True)
class Spread:
    """The median and the largest of some counts (`None` of an empty list)."""

    median: float | None
    max: int | None

    @staticmethod
    def of(values: Iterable[int]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            return Spread(None, None)
        return Spread(statistics.median(ordered), ordered[-1])


@dataclass
class ScenarioSummary:
    """Every run of one scenario on one protocol."""

    scenario: str
    first_seed: int
    deadline_election_timeouts: int
    protocol: str = DEFAULT_PROTOCOL
    reports: list[ScenarioReport] = field(default_factory=list)

    @property
    def seeds(self) -> int:
        return len(self.reports)

    @property
    def nodes(self) -> int:
        return self.reports[0].nodes if self.reports else 0

    @property
    def election_timeout_ticks(self) -> int:
        return self.reports[0].election_timeout_ticks if self.reports else 0

    @property
    def recovered(self) -> int:
        """Runs in which a proposal made after the cut committed by the deadline."""
        return sum(r.recovered for r in self.reports)

    @property
    def ticks_to_recover(self) -> Spread:
        """Over the runs that recovered."""
        return Spread.of(r.ticks_to_recover for r in self.reports if r.ticks_to_recover is not None)

    @property
    def leader_changes(self) -> Spread:
        return Spread.of(r.leader_changes for r in self.reports)

    @property
    def epoch_changes(self) -> Spread:
        return Spread.of(r.epoch_changes for r in self.reports)

    @property
    def probes_proposed(self) -> int:
        """Proposals made after the cut, over every run."""
        return sum(r.probes_proposed for r in self.reports)

    @property
    def probes_committed(self) -> int:
        return sum(r.probes_committed for r in self.reports)

    @property
    def failures(self) -> list[ScenarioReport]:
        """Runs that found a safety violation (or whose setup failed)."""
        return [r for r in self.reports if r.violations]

    def as_dict(self) -> dict[str, object]:
        """The summary as JSON-ready data."""
        et = self.election_timeout_ticks or 1
        ticks = self.ticks_to_recover

        def in_timeouts(value: float | None) -> float | None:
            return None if value is None else round(value / et, 2)

        return {
            "scenario": self.scenario,
            "protocol": self.protocol,
            "nodes": self.nodes,
            "seeds": self.seeds,
            "first_seed": self.first_seed,
            "deadline_election_timeouts": self.deadline_election_timeouts,
            "election_timeout_ticks": self.election_timeout_ticks,
            "recovered": self.recovered,
            "ticks_to_recover": {"median": ticks.median, "max": ticks.max},
            "election_timeouts_to_recover": {
                "median": in_timeouts(ticks.median),
                "max": in_timeouts(ticks.max),
            },
            "leader_changes": vars(self.leader_changes),
            "epoch_changes": vars(self.epoch_changes),
            "probes_proposed": self.probes_proposed,
            "probes_committed": self.probes_committed,
            "violations": [v for r in self.failures for v in r.violations],
            "replay": self.replay_commands(),
        }

    def replay_commands(self) -> list[str]:
        """The commands that replay each failed run."""
        return [
            replay_command(self.scenario, r.seed, self.deadline_election_timeouts, self.protocol)
            for r in self.failures
        ]


def run_scenarios(
    scenarios: Sequence[str],
    seeds: int,
    *,
    first_seed: int = 0,
    deadline_election_timeouts: int = DEFAULT_DEADLINE_ELECTION_TIMEOUTS,
    jobs: int | None = None,
    protocols: Sequence[str] = (DEFAULT_PROTOCOL,),
) -> list[ScenarioSummary]:
    """Runs seeds `[first_seed, first_seed + seeds)` of every scenario in `scenarios` on every
    protocol in `protocols`, `jobs` threads at once (default: one per CPU). The summaries
    come scenario by scenario, each protocol in the order given. Raises ValueError for bad
    arguments."""
    for name in scenarios:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}")
    for protocol in protocols:
        check_protocol(protocol)
    if seeds < 0 or first_seed < 0:
        raise ValueError("seeds and first_seed must not be negative")
    if not 1 <= deadline_election_timeouts <= MAX_DEADLINE_ELECTION_TIMEOUTS:
        raise ValueError(
            f"the deadline must be 1 to {MAX_DEADLINE_ELECTION_TIMEOUTS} election timeouts"
        )
    summaries = [
        ScenarioSummary(name, first_seed, deadline_election_timeouts, protocol)
        for name in scenarios
        for protocol in protocols
    ]
    runs = [(s, seed) for s in summaries for seed in range(first_seed, first_seed + seeds)]

    def one(run: tuple[ScenarioSummary, int]) -> ScenarioReport:
        summary, seed = run
        return run_scenario(
            summary.scenario,
            seed,
            protocol=summary.protocol,
            deadline_election_timeouts=deadline_election_timeouts,
        )

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        # map keeps the order of `runs`: each summary's reports come in seed order.
        for (summary, _), report in zip(runs, pool.map(one, runs), strict=True):
            summary.reports.append(report)
    return summaries
