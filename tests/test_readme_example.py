"""The README's replicated counter runs as written: three processes, each prints 30."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "counter.py"


def test_the_counter_example_runs_as_written(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(EXAMPLE), str(node_id)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node_id in (1, 2, 3)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    assert outputs == [f"node {i}: counter = 30" for i in (1, 2, 3)]
    assert all((tmp_path / "counter-data" / str(i)).is_dir() for i in (1, 2, 3))
