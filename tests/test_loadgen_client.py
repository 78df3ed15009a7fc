"""`senate bench --client senate`: the load generator driving one shared `senate.Client`
against a real 3-node cluster (one for the module), its accounting of failed calls (with a
stand-in client), the options and their misuse, and `LoadResult.per_node`. Runs last about a
second; the only wait is for the cluster, with a deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.exceptions
from click.testing import CliRunner

from cluster import free_base_port
from senate import Client, ClientError, loadgen_process
from senate import loadgen as loadgen_module
from senate.cli import main
from senate.client import NodeView
from senate.histogram import Histogram
from senate.launcher import LocalCluster
from senate.loadgen import run_load
from senate.loadgen_process import argument_parser, spec_from_args
from senate.loadspec import LoadResult, LoadSpec, OpResult

READY_S = 30.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data_dir: Path = tmp_path_factory.mktemp("loadgen-client")
    with LocalCluster(3, data_dir=data_dir, base_port=free_base_port(3)) as local:
        local.wait_ready(READY_S)
        yield local


def endpoints_of(cluster: LocalCluster) -> tuple[str, ...]:
    return tuple(node.client for node in cluster.nodes)


def leader_endpoint(cluster: LocalCluster) -> str:
    leader = cluster.wait_ready(READY_S)
    return next(node.client for node in cluster.nodes if node.id == leader)


def client_spec(endpoints: Sequence[str], **changes: Any) -> LoadSpec:
    fields: dict[str, Any] = {
        "endpoints": tuple(endpoints),
        "clients": 8,
        "pipeline": 1,
        "duration_s": 1.0,
        "warmup_s": 0.3,
        "keys": 100,
        "value_size": 32,
        "seed": 3,
        "client": "senate",
    }
    return LoadSpec(**{**fields, **changes})


# --- against the cluster ---------------------------------------------------------------------


def test_the_load_goes_through_the_client_to_the_leader(cluster: LocalCluster) -> None:
    spec = client_spec(endpoints_of(cluster), ratio="1:1")
    result = run_load(spec)
    assert result.ok, result.to_json()
    assert result.errors == 0
    for op in ("get", "set"):
        assert 0 < result.per_op[op].ops < result.per_op[op].replies_total  # warm-up excluded
        assert result.per_op[op].latency.count == result.per_op[op].ops
    # Each caller alternates GET and SET, one call at a time.
    assert result.per_op["get"].ops == pytest.approx(result.per_op["set"].ops, abs=spec.clients)
    # Linearizable reads and writes: the leader answered every one of the window's calls.
    assert result.per_node is not None
    assert set(result.per_node) == set(spec.endpoints)
    assert result.per_node[leader_endpoint(cluster)] == result.ops


def test_bench_stale_reads_are_served_by_the_followers(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    args = ["bench", "--endpoints", ",".join(endpoints_of(cluster)), "--client", "senate"]
    args += ["--stale", "--balancer", "round_robin", "--ratio", "9:1", "--clients", "8"]
    args += ["--duration", "1", "--warmup", "0.3", "--keys", "100", "--json", str(out)]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    output = " ".join(done.output.split())  # rich wraps the caption
    assert "8 callers of one senate.Client, stale reads (round_robin)" in output
    assert "requests by node" in output
    result = LoadResult.from_json(json.loads(out.read_text()))
    assert (result.spec.client, result.spec.stale, result.spec.pipeline) == ("senate", True, 1)
    assert result.ok
    per_node = result.per_node
    assert per_node is not None
    assert sum(per_node.values()) == result.ops
    leader = leader_endpoint(cluster)
    assert per_node[leader] >= result.per_op["set"].ops > 0  # every write went to the leader
    followers = [endpoint for endpoint in per_node if endpoint != leader]
    assert len(followers) == 2
    assert all(per_node[follower] > 0 for follower in followers), per_node


def test_a_command_error_reply_counts_as_served(cluster: LocalCluster) -> None:
    async def scenario() -> None:
        async with Client(endpoints_of(cluster)) as c:
            await c.set("word", "abc")
            leader = next(n for n in c.nodes() if n.role == "leader")
            with pytest.raises(redis.exceptions.ResponseError, match="not an integer"):
                await c.incr("word")
            after = next(n for n in c.nodes() if n.id == leader.id)
            assert (after.requests, after.served) == (leader.requests + 1, leader.served + 1)
            assert all(n.served <= n.requests for n in c.nodes())

    asyncio.run(scenario())


# --- failed calls, with a stand-in for senate.Client -----------------------------------------


class FakeClient:
    """Answers nothing well: GET raises `get_error`, SET raises `set_error`."""

    get_error: Exception = redis.exceptions.ResponseError("WRONGTYPE not a string")
    set_error: Exception = ClientError("SET not done within 5 s", "SET", 3, None)

    def __init__(self, endpoints: Sequence[str], **_options: Any) -> None:
        self.endpoint = endpoints[0]
        self.served = 0

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def execute(self, *_args: Any, write: bool) -> bytes:
        return b"PONG"

    async def get(self, _key: bytes, *, stale: bool) -> bytes:
        await asyncio.sleep(0.001)
        self.served += 1
        raise self.get_error

    async def set(self, _key: bytes, _value: bytes) -> bool:
        await asyncio.sleep(0.001)
        raise self.set_error

    def nodes(self) -> list[NodeView]:
        return [NodeView(1, self.endpoint, "leader", "up", self.served, self.served)]


def test_failed_calls_are_error_replies_of_their_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loadgen_module, "Client", FakeClient)
    result = run_load(client_spec(["127.0.0.1:1"], clients=2, duration_s=0.3, warmup_s=0.0))
    get, set_ = result.per_op["get"], result.per_op["set"]
    assert not result.ok
    assert get.errors_total == get.replies_total > 0
    assert set_.errors_total == set_.replies_total > 0
    assert 0 < get.errors == get.ops
    assert (result.connection_errors, result.unanswered) == (0, 0)
    assert any("WRONGTYPE" in m for m in result.error_messages)
    assert any(m.startswith("SET: ClientError") for m in result.error_messages)
    assert result.per_node == {"127.0.0.1:1": get.ops}  # the command's error was served


def test_a_caller_that_crashes_stops_and_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadgen_module, "Client", FakeClient)
    monkeypatch.setattr(FakeClient, "get_error", RuntimeError("a bug"))
    monkeypatch.setattr(FakeClient, "set_error", RuntimeError("a bug"))
    # Every caller stops at its first call: the run ends at the next tick, not after 60 s.
    result = run_load(client_spec(["127.0.0.1:1"], clients=3, duration_s=60, warmup_s=0.0))
    assert (result.connection_errors, result.unanswered, result.ops) == (3, 3, 0)
    assert "caller 0: RuntimeError: a bug" in result.error_messages
    assert not result.ok


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client", "senate", "--pipeline", "4"], "--pipeline 4 cannot be used with --client"),
        (["--stale"], "--stale can only be used with --client senate"),
        (["--balancer", "peak_ewma"], "--balancer can only be used with --client senate"),
        (["--client", "senate", "--balancer", "fastest"], "'--balancer'"),
        (["--client", "raw"], "'--client'"),
        (["--sim", "--client", "senate"], "--client cannot be used with --sim"),
    ],
)
def test_bench_rejects_client_options_that_do_not_go_together(
    args: list[str], message: str
) -> None:
    endpoints = [] if "--sim" in args else ["--endpoints", "127.0.0.1:1"]
    done = CliRunner().invoke(main, ["bench", *endpoints, *args])
    assert done.exit_code == 2, done.output
    assert message in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client", "senate", "--pipeline", "4"], "--pipeline 4 cannot be used with --client"),
        (["--stale"], "--stale and --balancer can only be used with --client senate"),
        (["--client", "senate", "--balancer", "fastest"], "--balancer: invalid choice"),
    ],
)
def test_the_subprocess_rejects_them_too(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        loadgen_process.main(["--endpoints", "127.0.0.1:1", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_specs_check_their_client_options() -> None:
    with pytest.raises(ValueError, match="--pipeline 16 cannot be used with --client senate"):
        LoadSpec(("h:1",), client="senate")
    with pytest.raises(ValueError, match="can only be used with --client senate"):
        LoadSpec(("h:1",), balancer="round_robin")
    with pytest.raises(ValueError, match=r"--balancer must be one of .*peak_ewma"):
        LoadSpec(("h:1",), pipeline=1, client="senate", balancer="fastest")
    with pytest.raises(ValueError, match="--client must be one of resp, senate"):
        LoadSpec(("h:1",), client="raw")


@pytest.mark.parametrize(
    "spec",
    [
        LoadSpec(("a:1", "b:2"), pipeline=1, client="senate", stale=True, balancer="peak_ewma"),
        LoadSpec(("a:1", "b:2"), pipeline=1, client="senate"),
        LoadSpec(("a:1",), pipeline=3, warmup_s=0.0),
    ],
)
def test_a_client_spec_survives_the_subprocess_arguments_and_json(spec: LoadSpec) -> None:
    assert spec_from_args(argument_parser().parse_args(spec.to_args())) == spec
    assert LoadSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_the_subprocess_defaults_to_one_call_at_a_time_through_the_client() -> None:
    args = argument_parser().parse_args(["--endpoints", "h:1", "--client", "senate"])
    assert spec_from_args(args).pipeline == 1
    assert spec_from_args(argument_parser().parse_args(["--endpoints", "h:1"])).pipeline == 16


# --- per_node in JSON ------------------------------------------------------------------------


def a_result(per_node: dict[str, int] | None) -> LoadResult:
    latency = Histogram()
    for seconds in (0.001, 0.002, 0.004):
        latency.record(seconds)
    get = OpResult("get", 3, 0, 3.0, latency, 3, 0)
    spec = LoadSpec(("a:1", "b:2"), pipeline=1, ratio="1:0", client="senate", stale=True)
    return LoadResult(spec, "asyncio", 1.0, {"get": get}, (), 0, 0, (), per_node)


def test_per_node_survives_json() -> None:
    result = a_result({"a:1": 1, "b:2": 2})
    again = LoadResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again.per_node == {"a:1": 1, "b:2": 2}
    assert again.to_json() == result.to_json()


def test_a_result_without_per_node_reads_and_writes_without_it() -> None:
    older = a_result({"a:1": 3}).to_json()
    del older["per_node"]  # a result from before per_node
    assert LoadResult.from_json(older).per_node is None
    assert "per_node" not in a_result(None).to_json()
