"""The load generator behind `senate bench`: its RESP reply counting, its histogram, runs
against a real redis-server checked against the server's own counts, the subprocess JSON
protocol, and `senate bench --endpoints` end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from redis_server import REDIS_CLI, REDIS_SERVER, RedisServer
from senate.cli import main
from senate.histogram import BUCKETS, Histogram
from senate.loadgen import MIN_SAMPLE_S, LoadError, run_load
from senate.loadgen_process import argument_parser, run_load_subprocess, spec_from_args
from senate.loadspec import LoadSpec, Progress, parse_endpoint, parse_ratio
from senate.resp import RespProtocolError, count_replies

needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None or REDIS_CLI is None, reason="needs redis-server and redis-cli"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The module's redis-server, emptied, with its statistics reset."""
    redis_server.reset()
    return redis_server


def small_spec(endpoint: str, **changes: Any) -> LoadSpec:
    fields: dict[str, Any] = {
        "endpoints": (endpoint,),
        "clients": 4,
        "pipeline": 8,
        "duration_s": 0.5,
        "warmup_s": 0.2,
        "keys": 50,
        "value_size": 32,
        "seed": 7,
    }
    return LoadSpec(**{**fields, **changes})


# --- count_replies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", (0, 0, 0)),
        (b"+OK\r\n+OK\r\n", (2, 10, 0)),
        (b"+OK\r\n+O", (1, 5, 0)),
        (b"-ERR x\r\n:12\r\n$-1\r\n", (3, 18, 1)),
        (b"$3\r\nabc\r\n$3\r\nab", (1, 9, 0)),
        (b"*2\r\n$1\r\na\r\n-E\r\n*-1\r\n*0\r\n", (3, 24, 0)),  # nested errors are elements
        (b"*2\r\n*1\r\n:1\r\n", (0, 0, 0)),
        (b"$5\r\nhello", (0, 0, 0)),
    ],
)
def test_count_replies_examples(data: bytes, expected: tuple[int, int, int]) -> None:
    assert count_replies(data) == expected


@pytest.mark.parametrize("data", [b"?1\r\n", b"$x\r\n", b"*1\r\n!\r\n", b"$1\r\nabc\r\n"])
def test_count_replies_rejects_what_is_not_resp(data: bytes) -> None:
    with pytest.raises(RespProtocolError):
        count_replies(data)


_line = st.text(st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=12)
_leaf = st.one_of(
    _line.map(lambda text: b"+" + text.encode() + b"\r\n"),
    _line.map(lambda text: b"-" + text.encode() + b"\r\n"),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: b":%d\r\n" % n),
    st.just(b"$-1\r\n"),
    st.binary(max_size=40).map(lambda body: b"$%d\r\n%s\r\n" % (len(body), body)),
)
_reply = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.just(b"*-1\r\n"),
        st.lists(children, max_size=4).map(lambda xs: b"*%d\r\n" % len(xs) + b"".join(xs)),
    ),
    max_leaves=12,
)


@given(replies=st.lists(_reply, max_size=20), data=st.data())
def test_count_replies_finds_every_reply_however_the_bytes_are_split(
    replies: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(replies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    counted = errors = 0
    rest = b""
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        buffered = rest + stream[start:end]
        n, used, e = count_replies(buffered)
        counted, errors, rest = counted + n, errors + e, buffered[used:]
    assert (counted, errors, rest) == (len(replies), sum(r[:1] == b"-" for r in replies), b"")


@given(replies=st.lists(_reply, min_size=1, max_size=20), data=st.data())
def test_count_replies_stops_at_the_last_complete_reply(
    replies: list[bytes], data: st.DataObject
) -> None:
    ends = [sum(map(len, replies[: i + 1])) for i in range(len(replies))]
    stream = b"".join(replies)
    cut = data.draw(st.integers(0, len(stream)))
    complete = sum(end <= cut for end in ends)
    used = ends[complete - 1] if complete else 0
    errors = sum(r[:1] == b"-" for r in replies[:complete])
    assert count_replies(stream[:cut]) == (complete, used, errors)


# --- the histogram ---------------------------------------------------------------------------


def histogram_of(values: list[float]) -> Histogram:
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    return histogram


def test_an_empty_histogram_reports_zeros() -> None:
    histogram = Histogram()
    assert histogram.percentile(50) == 0.0
    assert histogram.summary_ms() == dict.fromkeys(("p50", "p90", "p99", "p99.9", "max", "mean"), 0)


def test_the_histogram_keeps_its_size_and_the_exact_extremes() -> None:
    histogram = histogram_of([0.0, 5e-7, 0.001, 1e3])  # below and above the precise range
    assert len(histogram.buckets) == BUCKETS < 1000
    assert histogram.percentile(0) == 0.0
    assert histogram.percentile(100) == 1e3
    assert histogram.count == 4
    again = Histogram.from_json(json.loads(json.dumps(histogram.to_json())))
    assert (again.buckets, again.count, again.min_s, again.max_s) == (
        histogram.buckets,
        4,
        0.0,
        1e3,
    )


_latencies = st.lists(st.floats(1e-6, 100.0), min_size=1, max_size=300)


@given(values=_latencies, percent=st.floats(0.0, 100.0))
def test_percentiles_are_within_one_percent_of_the_exact_ones(
    values: list[float], percent: float
) -> None:
    exact = sorted(values)[max(1, math.ceil(len(values) * percent / 100.0)) - 1]
    estimate = histogram_of(values).percentile(percent)
    assert abs(estimate - exact) <= 0.01 * exact


@given(first=_latencies, second=_latencies)
def test_merging_histograms_is_recording_the_union(first: list[float], second: list[float]) -> None:
    merged = histogram_of(first)
    merged.merge(histogram_of(second))
    union = histogram_of(first + second)
    assert merged.buckets == union.buckets
    assert (merged.count, merged.min_s, merged.max_s) == (union.count, union.min_s, union.max_s)
    assert merged.sum_s == pytest.approx(union.sum_s)


# --- specs -----------------------------------------------------------------------------------


def test_ratios_and_endpoints_parse() -> None:
    assert parse_ratio("2:2") == (1, 1)
    assert parse_ratio("0:1") == (0, 1)
    assert parse_ratio("1:0") == (1, 0)
    assert parse_endpoint("[::1]:6379") == ("::1", 6379)
    assert LoadSpec(endpoints=("h:1",), ratio="1:3").pattern() == (0, 1, 1, 1)
    for bad_ratio in ("0:0", "1", "a:b", "-1:2"):
        with pytest.raises(ValueError, match=r"ratio|READS"):
            parse_ratio(bad_ratio)
    for bad_endpoint in ("host", "host:0", ":80", "host:http"):
        with pytest.raises(ValueError, match="host:port"):
            parse_endpoint(bad_endpoint)


def test_a_spec_survives_the_subprocess_arguments() -> None:
    spec = LoadSpec(("a:1", "b:2"), 3, 4, 5.5, 0.0, 6, "1:9", 70, 8)
    assert spec_from_args(argument_parser().parse_args(spec.to_args())) == spec


# --- against redis-server --------------------------------------------------------------------


@needs_redis
def test_the_counts_agree_with_the_server(redis: RedisServer) -> None:
    spec = small_spec(redis.endpoint, ratio="1:1")
    progress: list[Progress] = []
    result = run_load(spec, progress.append)
    assert result.ok, result.to_json()
    stats = redis.command_stats()
    for op in ("get", "set"):
        assert result.per_op[op].replies_total == stats[op]["calls"]
        assert 0 < result.per_op[op].ops < result.per_op[op].replies_total  # warm-up excluded
        assert result.per_op[op].latency.count == result.per_op[op].ops
    assert int(redis.cli("DBSIZE")) == spec.keys  # thousands of SETs over 50 keys
    assert sorted(redis.cli("KEYS", "*").split())[-1] == "key:000000000049"
    assert result.per_op["get"].ops == pytest.approx(result.per_op["set"].ops, abs=spec.clients)
    assert sum(sample.ops["set"] for sample in result.series) == result.per_op["set"].ops
    # The window's edges are marked: its first "measure" report (none counted yet) and its
    # one "drain" report, the last (every reply of the window counted).
    phases = [update.phase for update in progress]
    assert phases[0] == "warmup"
    first_measure = progress[phases.index("measure")]
    assert first_measure.ops == 0
    assert first_measure.elapsed_s >= spec.warmup_s
    assert phases.count("drain") == 1
    assert progress[-1].phase == "drain"
    assert progress[-1].ops == result.ops
    assert progress[-1].elapsed_s >= spec.warmup_s + spec.duration_s
    # The window lasts its duration at least (a wall-clock upper bound would be a timing
    # assert), and its seconds tile it but for a last piece shorter than a sample.
    assert result.window_s >= spec.duration_s
    sampled_s = sum(sample.seconds for sample in result.series)
    assert result.window_s - MIN_SAMPLE_S < sampled_s <= result.window_s + 1e-9


@needs_redis
def test_error_replies_are_counted(redis: RedisServer) -> None:
    for key in range(10):  # GET of a list is a WRONGTYPE error
        redis.cli("RPUSH", f"key:{key:012d}", "x")
    result = run_load(small_spec(redis.endpoint, ratio="1:0", keys=20, warmup_s=0.0))
    get = result.per_op["get"]
    assert not result.ok
    assert get.errors_total == redis.command_stats()["get"]["failed_calls"]
    assert 0.3 < get.errors_total / get.replies_total < 0.7
    assert 0 < get.errors <= get.ops
    # The first few say what the server said, for the report.
    assert result.error_messages
    assert all(m.startswith("error reply: WRONGTYPE") for m in result.error_messages)


@needs_redis
def test_errors_are_told_apart_by_operation(redis: RedisServer) -> None:
    redis.cli("CONFIG", "SET", "maxmemory", "1")  # every SET is refused: -OOM
    result = run_load(small_spec(redis.endpoint, ratio="1:2", warmup_s=0.0))
    stats = redis.command_stats()
    get, set_ = result.per_op["get"], result.per_op["set"]
    assert get.errors_total == 0
    assert set_.errors_total == set_.replies_total == stats["set"]["rejected_calls"] > 0
    assert get.replies_total == stats["get"]["calls"] > 0


def test_an_unreachable_endpoint_is_a_load_error() -> None:
    port = free_port()
    with pytest.raises(LoadError, match="connections failed"):
        run_load(small_spec(f"127.0.0.1:{port}"))


def free_port() -> int:
    from cluster import free_ports

    return free_ports(1)[0]


# --- the subprocess --------------------------------------------------------------------------


def loadgen(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "senate.loadgen_process", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@needs_redis
def test_the_subprocess_writes_progress_then_a_result(redis: RedisServer) -> None:
    spec = small_spec(redis.endpoint, duration_s=0.6, warmup_s=0.3)
    done = loadgen(*spec.to_args())
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    assert {m["type"] for m in messages[:-1]} == {"progress"}
    assert messages[-1]["type"] == "result"
    assert len(messages) - 1 >= 3  # one every 0.25 s over 0.9 s
    elapsed = [m["elapsed_s"] for m in messages[:-1]]
    assert elapsed == sorted(elapsed)
    assert messages[-1]["spec"] == spec.to_json() | {"endpoints": [redis.endpoint]}
    assert messages[-1]["ops"] == sum(op["ops"] for op in messages[-1]["per_op"].values()) > 0


@needs_redis
def test_run_load_subprocess_passes_progress_on(redis: RedisServer) -> None:
    progress: list[Progress] = []
    result = run_load_subprocess(small_spec(redis.endpoint), progress.append, timeout_s=30)
    assert result.ok
    assert progress
    assert progress[-1].ops == result.ops
    assert result.per_op["set"].replies_total == redis.command_stats()["set"]["calls"]


def test_the_subprocess_reports_errors_and_usage_errors() -> None:
    done = loadgen("--endpoints", f"127.0.0.1:{free_port()}", "--duration", "0.1")
    assert done.returncode == 1
    assert json.loads(done.stdout.splitlines()[-1])["type"] == "error"
    with pytest.raises(LoadError, match="connections failed"):
        run_load_subprocess(small_spec(f"127.0.0.1:{free_port()}"), timeout_s=30)
    assert loadgen("--endpoints", "h:1", "--ratio", "0:0").returncode == 2


def test_a_subprocess_over_its_deadline_is_killed() -> None:
    with pytest.raises(LoadError, match="not done within"):
        run_load_subprocess(small_spec("127.0.0.1:1", duration_s=5), timeout_s=0.01)


# --- senate bench ----------------------------------------------------------------------------


@needs_redis
def test_bench_endpoints_prints_a_table_and_writes_json_and_a_plot(
    redis: RedisServer, tmp_path: Path
) -> None:
    out, plot = tmp_path / "out.json", tmp_path / "out.png"
    args = ["bench", "--endpoints", redis.endpoint, "--duration", "0.6", "--warmup", "0"]
    args += ["--clients", "4", "--pipeline", "4", "--ratio", "1:3"]
    result = CliRunner().invoke(main, [*args, "--json", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "GET" in result.output
    assert "total" in result.output
    record = json.loads(out.read_text())
    assert record["spec"]["ratio"] == "1:3"
    assert record["per_op"]["set"]["ops"] == pytest.approx(
        3 * record["per_op"]["get"]["ops"], abs=8
    )
    assert plot.read_bytes()[:8] == PNG_MAGIC


@needs_redis
def test_bench_fails_when_the_server_answers_errors(redis: RedisServer) -> None:
    redis.cli("CONFIG", "SET", "maxmemory", "1")
    args = ["bench", "--endpoints", redis.endpoint, "--duration", "0.3", "--warmup", "0"]
    result = CliRunner().invoke(main, [*args, "--clients", "2", "--ratio", "0:1"])
    assert result.exit_code == 1, result.output
    assert "SET replies were errors" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "--sim", "--clients", "3"],
        ["bench", "--sim", "--plot", "x.png"],
        ["bench", "--endpoints", "h:1", "--batch", "3"],
        ["bench", "--endpoints", "h:1", "--nodes", "3"],
        ["bench", "--endpoints", "nohost"],
        ["bench", "--ratio", "0:0"],
        ["bench", "--nodes", "3,5"],
    ],
)
def test_bench_rejects_options_of_the_other_mode(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
