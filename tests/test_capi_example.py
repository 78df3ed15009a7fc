"""examples/c/cluster.c, built with the system C compiler against `senate.h` and the static
library (warnings are errors), runs: 3 nodes commit 10,000 entries with equal checksums, and
Maglev spreads keys as the Python binding's Maglev does."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import senate
import senate._core as core
from capi_library import HEADER, REPO, SYSTEM_LIBRARIES, static_library

EXAMPLE = REPO / "examples" / "c" / "cluster.c"
#: The example takes well under a second; this bounds a hang, it is not a speed target.
RUN_TIMEOUT_S = 120


def test_the_c_example_commits_on_three_nodes_and_picks_with_maglev(tmp_path: Path) -> None:
    program = tmp_path / "cluster"
    compiler = shlex.split(os.environ.get("CC", "cc"))
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    libraries = [f"-l{name}" for name in SYSTEM_LIBRARIES]
    command = [*compiler, *flags, f"-I{HEADER.parent}", str(EXAMPLE), str(static_library())]
    subprocess.run([*command, *libraries, "-o", str(program)], check=True, timeout=RUN_TIMEOUT_S)
    done = subprocess.run(
        [program], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()

    assert lines[0] == f"senate {senate.__version__}"
    assert re.fullmatch(r"leader: node [123] \(term \d+\) after \d+ ticks", lines[1])
    committed = re.fullmatch(
        r"committed 10000 entries on all 3 nodes \(commit index (\d+)\), "
        r"checksums equal: [0-9a-f]{16}",
        lines[2],
    )
    assert committed, lines[2]
    assert int(committed.group(1)) > 10_000  # the entries, after the leaders' no-ops

    names = ["node-1", "node-2", "node-3"]
    maglev = core.Maglev(names)
    spread = re.fullmatch(
        r"maglev \(table size (\d+)\): 100000 keys -> "
        r"node-1 (\d+), node-2 (\d+), node-3 (\d+)",
        lines[3],
    )
    assert spread, lines[3]
    assert int(spread.group(1)) == maglev.table_size
    counts = [int(spread.group(i)) for i in (2, 3, 4)]
    expected = [sum(maglev.pick(f"user:{k}") == name for k in range(100_000)) for name in names]
    assert counts == expected
    assert lines[4] == f"key user:42 -> {maglev.pick('user:42')}"
