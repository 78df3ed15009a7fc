"""The version comes from one place, the Cargo workspace's `version`: the extension is compiled
with it (`senate._core.__version__`, `senate.__version__`), maturin writes it into the package
metadata, and `senate --version` prints it. (The C ABI's `senate_version()` is checked against
`senate.__version__` in test_capi.py.) Also: what an installed senate ships beside the code.

`make wheel-check` runs this file against the installed wheel as well."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import senate
import senate._core

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

WORKSPACE_MANIFEST = Path(__file__).resolve().parents[1] / "Cargo.toml"


def workspace_version() -> str:
    manifest = tomllib.loads(WORKSPACE_MANIFEST.read_text())
    version = manifest["workspace"]["package"]["version"]
    assert isinstance(version, str)
    return version


def test_the_extension_the_package_and_its_metadata_carry_the_workspace_version() -> None:
    version = workspace_version()
    assert senate._core.__version__ == version
    assert senate.__version__ == version
    assert importlib.metadata.version("senate") == version


def test_senate_version_prints_the_workspace_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "senate", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"senate, version {workspace_version()}"


def test_the_package_ships_its_stub_and_its_typed_marker() -> None:
    package_dir = Path(senate.__file__).parent
    assert (package_dir / "_core.pyi").is_file()
    assert (package_dir / "py.typed").is_file()
    assert Path(senate._core.__file__ or "").parent == package_dir
