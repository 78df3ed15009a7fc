"""The load generator as a process of its own: its command line (`python -m senate.loadgen_process`,
JSON lines on stdout: progress, then a result or an error) and the parent that runs it and
reads them (`run_load_subprocess`). `senate.loadgen` is the load itself."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from senate.client import balancer_names
from senate.loadgen import LoadError, run_load
from senate.loadspec import CLIENT_KINDS, LoadResult, LoadSpec, Progress
from senate.security.client_security import PASSWORD_ENV, ClientSecurity

#: The longest JSON line the parent accepts from the subprocess.
MAX_LINE_BYTES = 64 << 20
#: Time the subprocess gets beyond warm-up and duration: start-up, connecting, draining.
SUBPROCESS_SLACK_S = 30.0


def run_load_subprocess(
    spec: LoadSpec,
    on_progress: Callable[[Progress], None] | None = None,
    timeout_s: float | None = None,
) -> LoadResult:
    """Runs `spec` in a `python -m senate.loadgen_process` subprocess, passing on its progress.

    Raises LoadError if the subprocess reports an error, fails, or is not done within
    `timeout_s` (by default warm-up + duration + SUBPROCESS_SLACK_S); it is killed then.
    """
    if timeout_s is None:
        timeout_s = spec.warmup_s + spec.duration_s + SUBPROCESS_SLACK_S
    deadline = time.monotonic() + timeout_s
    command = [sys.executable, "-m", "senate.loadgen_process", *spec.to_args()]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=spec.security.environment(),  # the password, kept off the command line
        )
        try:
            assert process.stdout is not None
            result = _read_lines(process.stdout.fileno(), deadline, on_progress)
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise LoadError(f"the load generator was not done within {timeout_s:.0f} s") from None
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if result is None:
            stderr.seek(0)
            tail = stderr.read()[-2000:].decode(errors="replace")
            raise LoadError(f"the load generator exited with {process.returncode}: {tail}")
    return result


def _read_lines(
    fd: int, deadline: float, on_progress: Callable[[Progress], None] | None
) -> LoadResult | None:
    """Reads the JSON lines on `fd` until its end: the result, or None if none came."""
    result = None
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise subprocess.TimeoutExpired("senate.loadgen_process", 0)
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return result
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > MAX_LINE_BYTES:
                raise LoadError(f"a line of more than {MAX_LINE_BYTES} bytes from the subprocess")
            for line in lines:
                message = json.loads(line)
                if message["type"] == "progress" and on_progress is not None:
                    on_progress(Progress(**{k: v for k, v in message.items() if k != "type"}))
                elif message["type"] == "result":
                    result = LoadResult.from_json(message)
                elif message["type"] == "error":
                    raise LoadError(message["message"])


def argument_parser() -> argparse.ArgumentParser:
    defaults = LoadSpec(endpoints=("localhost:6379",))
    parser = argparse.ArgumentParser(
        prog="python -m senate.loadgen_process",
        description="GET/SET load over RESP2 (or through senate.Client); JSON lines "
        "(progress, then result) on stdout.",
    )
    parser.add_argument("--endpoints", required=True, help="host:port,host:port,...")
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument(
        "--pipeline", type=int, help=f"default {defaults.pipeline}, 1 with --client senate"
    )
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="seconds")
    parser.add_argument("--warmup", type=float, default=defaults.warmup_s, help="seconds")
    parser.add_argument("--value-size", type=int, default=defaults.value_size, help="bytes")
    parser.add_argument("--ratio", default=defaults.ratio, help="READS:WRITES, e.g. 1:1, 0:1")
    parser.add_argument("--keys", type=int, default=defaults.keys)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--client",
        choices=CLIENT_KINDS,
        default=defaults.client,
        help="resp: pipelined connections; senate: one senate.Client, a call at a time each",
    )
    parser.add_argument("--stale", action="store_true", help="--client senate: stale reads")
    parser.add_argument(
        "--balancer", choices=balancer_names(), help="--client senate: of the stale reads"
    )
    parser.add_argument("--tls", action="store_true", help="speak TLS")
    parser.add_argument("--cacert", help="the CA of the servers' certificates (PEM)")
    parser.add_argument("--cert", help="a client certificate (PEM), with --key")
    parser.add_argument("--key", help="its key (PEM)")
    parser.add_argument("--no-check-hostname", action="store_true")
    parser.add_argument("--user", help=f"AUTH as this user; the password is in {PASSWORD_ENV}")
    return parser


def spec_from_args(args: argparse.Namespace) -> LoadSpec:
    """The spec the command line's arguments describe; ValueError if out of range."""
    pipeline = args.pipeline
    if pipeline is None:
        pipeline = 1 if args.client == "senate" else LoadSpec.pipeline
    password = os.environ.get(PASSWORD_ENV)
    if args.user is not None and password is None:
        raise ValueError(f"--user needs the password in {PASSWORD_ENV}")
    return LoadSpec(
        endpoints=tuple(e.strip() for e in args.endpoints.split(",") if e.strip()),
        clients=args.clients,
        pipeline=pipeline,
        duration_s=args.duration,
        warmup_s=args.warmup,
        value_size=args.value_size,
        ratio=args.ratio,
        keys=args.keys,
        seed=args.seed,
        client=args.client,
        stale=args.stale,
        balancer=args.balancer,
        security=ClientSecurity(
            tls=args.tls,
            ca_file=args.cacert,
            cert_file=args.cert,
            key_file=args.key,
            check_hostname=not args.no_check_hostname,
            username=args.user,
            password=password,
        ),
    )


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: exit status 0 with a result line, 1 after an error line."""
    parser = argument_parser()
    try:
        spec = spec_from_args(parser.parse_args(argv))
    except ValueError as error:
        parser.error(str(error))
    try:
        result = run_load(spec, lambda progress: _emit(progress.to_json()))
    except (LoadError, OSError, asyncio.TimeoutError) as error:
        _emit({"type": "error", "message": f"{type(error).__name__}: {error}"})
        return 1
    _emit({"type": "result", **result.to_json()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
