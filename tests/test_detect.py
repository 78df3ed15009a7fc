"""Failure detection from Python: the detectors, the simulation figures, the heartbeat codec,
and the UDP heartbeat service (real sockets on 127.0.0.1; one member in a killed subprocess).

Waits are on conditions with deadlines; nothing asserts on wall-clock timing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from senate import ConfigError, InvalidTime, run_detect_sim
from senate.detect import (
    HEARTBEAT_BYTES,
    Heartbeat,
    HeartbeatDetector,
    HeartbeatService,
    MalformedHeartbeat,
    MemberEvent,
    PhiAccrualDetector,
    decode_heartbeat,
    encode_heartbeat,
)

CLUSTER = 7
#: Heartbeat period of the services under test; the detectors are scaled to it.
INTERVAL_S = 0.05
#: How long a condition may take before the test fails (generous: CI machines are noisy).
DEADLINE_S = 20.0

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


def fast_detector() -> PhiAccrualDetector:
    """Akka's phi detector scaled from a 1 s to a 50 ms heartbeat, with slack for a busy loop."""
    return PhiAccrualDetector(
        first_heartbeat_estimate_ms=50.0,
        acceptable_heartbeat_pause_ms=500.0,
        min_std_deviation_ms=20.0,
    )


def run(coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coroutine())


async def until(condition: Callable[[], bool], what: str) -> None:
    """Waits until `condition()` holds, failing after `DEADLINE_S`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"not within {DEADLINE_S} s: {what}")
        await asyncio.sleep(0.01)


# --- detectors --------------------------------------------------------------------------


def test_phi_detector_defaults_are_akkas() -> None:
    detector = PhiAccrualDetector()
    assert (detector.threshold, detector.max_samples) == (8.0, 1000)
    assert detector.min_std_deviation_ms == 100.0
    assert detector.acceptable_heartbeat_pause_ms == 3000.0
    assert detector.first_heartbeat_estimate_ms == 1000.0
    assert detector.last_heartbeat_ms is None
    assert detector.phi(0.0) == 0.0


def test_phi_known_values_after_the_first_heartbeat() -> None:
    detector = PhiAccrualDetector(min_std_deviation_ms=10.0, acceptable_heartbeat_pause_ms=0.0)
    detector.heartbeat(0)
    assert detector.phi(1000.0) == pytest.approx(0.3, abs=0.2)
    assert detector.phi(2000.0) == pytest.approx(4.5, abs=0.3)
    assert detector.phi(3000.0) > 15.0
    assert (detector.samples, detector.mean_ms, detector.std_deviation_ms) == (2, 1000.0, 250.0)


def test_fixed_detector_timeout() -> None:
    detector = HeartbeatDetector(timeout_ms=100.0)
    assert detector.is_available(0.0)
    detector.heartbeat(10.0)
    assert detector.is_available(109.0)
    assert not detector.is_available(110.0)
    assert detector.elapsed_ms(110.0) == 100.0


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: PhiAccrualDetector(threshold=0.0), "threshold"),
        (lambda: PhiAccrualDetector(max_samples=0), "max_samples"),
        (lambda: PhiAccrualDetector(min_std_deviation_ms=-1.0), "min_std_deviation_ms"),
        (
            lambda: PhiAccrualDetector(acceptable_heartbeat_pause_ms=float("nan")),
            "acceptable_heartbeat_pause_ms",
        ),
        (lambda: HeartbeatDetector(timeout_ms=0.0), "timeout_ms"),
        (lambda: run_detect_sim(trials=0), "trials"),
        (lambda: run_detect_sim(loss_probability=2.0), "loss_probability"),
    ],
)
def test_config_errors_name_the_field(make: Callable[[], object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == field


@pytest.mark.parametrize("detector", [PhiAccrualDetector(), HeartbeatDetector()])
def test_time_must_be_finite_and_monotone(detector: PhiAccrualDetector | HeartbeatDetector) -> None:
    detector.heartbeat(100.0)
    with pytest.raises(InvalidTime) as info:
        detector.heartbeat(99.0)
    assert info.value.now_ms == 99.0
    with pytest.raises(InvalidTime):
        detector.is_available(float("nan"))
    assert detector.last_heartbeat_ms == 100.0


@given(
    intervals=st.lists(st.floats(min_value=0.0, max_value=1e5), max_size=50),
    silences=st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=2, max_size=10),
)
def test_phi_is_monotone_in_silence(intervals: list[float], silences: list[float]) -> None:
    detector = PhiAccrualDetector(max_samples=20)
    now = 0.0
    detector.heartbeat(now)
    for interval in intervals:
        now += interval
        detector.heartbeat(now)
        assert detector.samples <= 20
    phis = [detector.phi(now + silence) for silence in sorted(silences)]
    assert phis == sorted(phis)


@given(
    timeout_ms=st.floats(min_value=0.001, max_value=1e6),
    last_ms=st.floats(min_value=0.0, max_value=1e9),
    fraction=st.floats(min_value=0.0, max_value=2.0),
)
def test_fixed_detector_available_iff_within_timeout(
    timeout_ms: float, last_ms: float, fraction: float
) -> None:
    detector = HeartbeatDetector(timeout_ms)
    detector.heartbeat(last_ms)
    now = last_ms + fraction * timeout_ms
    assert detector.is_available(now) == (now - last_ms < timeout_ms)


# --- the seeded simulation --------------------------------------------------------------


def test_simulation_figures_are_within_bounds_and_replay() -> None:
    report = run_detect_sim(seed=1)
    assert report.trials == 100
    for figures in (report.phi, report.fixed):
        assert (figures.detected, figures.missed) == (100, 0)
        assert figures.max_detect_ms <= 6_500.0
        assert figures.false_positives_per_hour <= 2.0
    again = run_detect_sim(seed=1)
    assert (again.phi.false_positives, again.phi.mean_detect_ms) == (
        report.phi.false_positives,
        report.phi.mean_detect_ms,
    )


# --- the heartbeat codec ----------------------------------------------------------------


@given(cluster_id=u64, node_id=u64, incarnation=u64, sequence=u64)
def test_heartbeat_round_trips(
    cluster_id: int, node_id: int, incarnation: int, sequence: int
) -> None:
    heartbeat = Heartbeat(cluster_id, node_id, incarnation, sequence)
    data = encode_heartbeat(heartbeat)
    assert len(data) == HEARTBEAT_BYTES
    assert decode_heartbeat(data) == heartbeat


@given(data=st.binary(max_size=2 * HEARTBEAT_BYTES))
def test_arbitrary_bytes_decode_or_are_malformed(data: bytes) -> None:
    try:
        heartbeat = decode_heartbeat(data)
    except MalformedHeartbeat:
        return
    assert encode_heartbeat(heartbeat) == data


@given(position=st.integers(min_value=0, max_value=7), flip=st.integers(min_value=1, max_value=255))
def test_a_damaged_header_is_malformed(position: int, flip: int) -> None:
    data = bytearray(encode_heartbeat(Heartbeat(1, 2, 3, 4)))
    data[position] ^= flip
    with pytest.raises(MalformedHeartbeat):
        decode_heartbeat(bytes(data))


def test_fields_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="2\\*\\*64"):
        encode_heartbeat(Heartbeat(1, 1 << 64, 0, 0))


# --- the service over real UDP ----------------------------------------------------------


def service(node_id: int, bind_port: int = 0, **kwargs: Any) -> HeartbeatService:
    return HeartbeatService(
        CLUSTER,
        node_id,
        bind=("127.0.0.1", bind_port),
        interval_s=INTERVAL_S,
        detector_factory=fast_detector,
        **kwargs,
    )


def test_three_members_see_a_stop_and_a_restart() -> None:
    async def scenario() -> None:
        seen: list[MemberEvent] = []
        members = {1: service(1, on_event=seen.append), 2: service(2), 3: service(3)}
        for member in members.values():
            await member.start()
        for node_id, member in members.items():
            for peer_id, peer in members.items():
                if peer_id != node_id:
                    member.add_peer(peer_id, peer.address)
        watchers = [members[1], members[2]]
        await until(
            lambda: all(m.status(p) == "up" for m in members.values() for p in m.peers),
            "every member sees every peer up",
        )
        port_3 = members[3].address[1]
        await members[3].close()
        await until(lambda: all(w.status(3) == "down" for w in watchers), "3 reported down")
        restarted = service(3, port_3, peers={1: members[1].address, 2: members[2].address})
        await restarted.start()
        await until(lambda: all(w.status(3) == "up" for w in watchers), "3 reported up again")
        events_3 = [event.up for event in seen if event.node_id == 3]
        assert events_3[-3:] == [True, False, True]
        # The event iterator saw the same changes as the callback.
        drained = []
        await members[1].close()
        async for event in members[1].events():
            drained.append(event)
        assert drained == seen
        for member in (members[2], restarted):
            await member.close()

    run(scenario)


def test_foreign_malformed_unknown_and_stale_datagrams_are_counted_and_ignored() -> None:
    async def scenario() -> None:
        member = service(1, peers={2: ("127.0.0.1", 9)})
        await member.start()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        datagrams = [
            b"junk",
            b"\0" * 1500,
            encode_heartbeat(Heartbeat(CLUSTER + 1, 2, 1, 1)),
            encode_heartbeat(Heartbeat(CLUSTER, 99, 1, 1)),
            encode_heartbeat(Heartbeat(CLUSTER, 2, 5, 10)),
            encode_heartbeat(Heartbeat(CLUSTER, 2, 5, 10)),
            encode_heartbeat(Heartbeat(CLUSTER, 2, 5, 9)),
        ]
        for data in datagrams:
            transport.sendto(data, member.address)
        await until(lambda: member.counters["received"] == len(datagrams), "all received")
        expected = {"malformed": 2, "foreign_cluster": 1, "unknown_node": 1, "stale": 2}
        assert {name: member.counters[name] for name in expected} == expected
        assert member.status(2) == "up"  # the one fresh heartbeat
        transport.close()
        await member.close()

    run(scenario)


def test_a_full_event_queue_drops_the_oldest() -> None:
    async def scenario() -> None:
        member = service(1, max_events=2)
        for peer_id in (2, 3, 4):
            member.add_peer(peer_id, ("127.0.0.1", 9))
        await member.start()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        for peer_id in (2, 3, 4):
            transport.sendto(encode_heartbeat(Heartbeat(CLUSTER, peer_id, 1, 1)), member.address)
        await until(lambda: member.counters["events_dropped"] == 1, "one event dropped")
        transport.close()
        await member.close()
        assert [event.node_id async for event in member.events()] == [3, 4]

    run(scenario)


SUBPROCESS_MEMBER = textwrap.dedent(
    """
    import asyncio, sys
    from senate.detect import HeartbeatService

    async def main() -> None:
        member = HeartbeatService(
            {cluster}, 2, {{1: ("127.0.0.1", {port})}}, interval_s={interval}
        )
        await member.start()
        print(member.address[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def test_a_killed_subprocess_member_is_reported_down() -> None:
    async def scenario() -> None:
        member = service(1)
        await member.start()
        script = SUBPROCESS_MEMBER.format(
            cluster=CLUSTER, port=member.address[1], interval=INTERVAL_S
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_S)
            member.add_peer(2, ("127.0.0.1", int(line)))
            await until(lambda: member.status(2) == "up", "the subprocess member is up")
            process.kill()
            await process.wait()
            await until(lambda: member.status(2) == "down", "the killed member is down")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await member.close()

    run(scenario)
