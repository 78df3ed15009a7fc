"""redis-py's own command and pipeline tests against a 3-node senate cluster: the tests of
tests/redis_py_suite.py's list, from the pinned redis-py sdist fetched by `pip download`,
run by pytest in a subprocess with that sdist's redis package (the tests and the client of
one release); every selected test must pass, none skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import free_base_port
from redis_py_suite import CLASS_FILES, DESELECTED, REDIS_PY_VERSION, SELECTED, TEST_FILE, node_ids
from senate.launcher import LocalCluster

#: How long `pip download` of the sdist may take.
DOWNLOAD_TIMEOUT_S = 180
#: How long the selected tests may take (about 5 s here).
SUITE_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked sdist; the test skips (saying so) only when it cannot be downloaded."""
    root = tmp_path_factory.mktemp("redis-py")
    spec = f"redis=={REDIS_PY_VERSION}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--dest", str(root), spec]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False
    )
    archives = list(root.glob("redis-*.tar.gz"))
    if done.returncode != 0 or not archives:
        pytest.skip(f"cannot download the {spec} sdist (offline?): {done.stderr[-500:]}")
    with tarfile.open(archives[0]) as sdist:
        sdist.extractall(root, filter="data")
    unpacked = root / f"redis-{REDIS_PY_VERSION}"
    assert (unpacked / TEST_FILE).is_file()
    assert (unpacked / "LICENSE").read_text().startswith("MIT License")
    return unpacked


@pytest.fixture(scope="module")
def kv_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("suite-cluster")
    with LocalCluster(
        nodes=3, data_dir=root / "data", base_port=free_base_port(3), fsync=True
    ) as cluster:
        cluster.wait_ready(timeout_s=60)
        yield cluster


def test_the_lists_name_tests_that_exist(suite_dir: Path) -> None:
    """A new pinned release that renames a test fails here, not by running fewer."""
    sources = {file: (suite_dir / file).read_text() for file in set(CLASS_FILES.values())}
    for cls, names in SELECTED.items():
        for name in names:
            assert f"def {name}(" in sources[CLASS_FILES[cls]], name
    for name in DESELECTED:
        assert any(f"def {name}(" in source for source in sources.values()), name
        assert all(name not in names for names in SELECTED.values()), name


def test_redis_py_command_tests_pass_on_a_senate_cluster(
    suite_dir: Path, kv_cluster: LocalCluster, tmp_path: Path
) -> None:
    report = tmp_path / "report.xml"
    url = f"redis://{kv_cluster.nodes[0].client}/0"
    command = [sys.executable, "-m", "pytest", *node_ids(), f"--redis-url={url}"]
    command += ["-p", "no:cacheprovider", "-q", f"--junitxml={report}"]
    # The sdist's directory first on the path: its redis package, not the installed one.
    env = {**os.environ, "PYTHONPATH": str(suite_dir)}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        command,
        cwd=suite_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
        check=False,
    )
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    cases = ElementTree.parse(report).getroot().iter("testcase")
    outcomes = {
        case.get("name", ""): next((child.tag for child in case), "passed") for case in cases
    }
    wanted = [name for names in SELECTED.values() for name in names]
    assert sorted(outcomes) == sorted(wanted), done.stdout[-3000:]
    not_passed = {name: outcome for name, outcome in outcomes.items() if outcome != "passed"}
    assert not not_passed, f"{not_passed}\n{done.stdout[-5000:]}"
    assert done.returncode == 0, done.stdout[-3000:]
