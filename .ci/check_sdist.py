"""Check an sdist holds what a build needs and nothing it should not (`make sdist`).

A build from the sdist needs the workspace manifest and lock, both crates it compiles (the
core and the PyO3 bindings), the Python package with its stub and marker, the README (the
package's long description) and the license. Build output, data directories, virtualenvs and
caches must not ride along.
"""

from __future__ import annotations

import sys
import tarfile

REQUIRED = (
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "rust/core/Cargo.toml",
    "rust/core/src/lib.rs",
    "rust/python/Cargo.toml",
    "rust/python/src/lib.rs",
    "python/senate/__init__.py",
    "python/senate/_core.pyi",
    "python/senate/py.typed",
    "PKG-INFO",
)
# Path parts that mark junk: build output, data directories, virtualenvs, caches.
FORBIDDEN_PARTS = frozenset(
    {
        "target",
        "dist",
        "build",
        "site",
        "senate-data",
        ".venv",
        "__pycache__",
        ".git",
        ".hypothesis",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".benchmarks",
    }
)
FORBIDDEN_SUFFIXES = (".so", ".pyc", ".whl", ".log")


def main(path: str) -> int:
    with tarfile.open(path) as sdist:
        names = [m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name]
    files = set(names)
    missing = [name for name in REQUIRED if name not in files]
    junk = [
        name
        for name in names
        if FORBIDDEN_PARTS.intersection(name.split("/")) or name.endswith(FORBIDDEN_SUFFIXES)
    ]
    for name in missing:
        print(f"{path}: missing {name}", file=sys.stderr)
    for name in junk:
        print(f"{path}: should not hold {name}", file=sys.stderr)
    if missing or junk:
        return 1
    print(f"{path}: {len(names)} files, the build's inputs all there, no junk")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
