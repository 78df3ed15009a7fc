"""The C ABI as Python sees it through cffi: builds `libsenate_capi.a` (`cargo build --release
-p senate-capi`, into `$CARGO_TARGET_DIR` when set), compiles `rust/capi/include/senate.h`
with cffi in API mode (`set_source`: a C compiler checks every declaration cffi uses against the
header, and the module is linked against the static library, so a function the header declares
and the library lacks fails the import), and loads the module. Built once per session; the
compiled module is kept under the target directory, keyed by the header and the library."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import cffi

REPO = Path(__file__).resolve().parent.parent
HEADER = REPO / "rust" / "capi" / "include" / "senate.h"
#: A release build of the core from scratch takes minutes on a CI machine with 2 cores.
CARGO_TIMEOUT_S = 1800
#: The system libraries a Rust static library needs.
SYSTEM_LIBRARIES = ["pthread", "dl", "m"]


def target_dir() -> Path:
    """Cargo's target directory (`$CARGO_TARGET_DIR`, or the workspace's), as cargo says."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return Path(json.loads(out)["target_directory"])


@functools.cache
def static_library() -> Path:
    """`libsenate_capi.a`, built (or found up to date) by cargo."""
    done = subprocess.run(
        ["cargo", "build", "--release", "-p", "senate-capi"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CARGO_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cargo build -p senate-capi failed:\n{done.stderr[-4000:]}")
    library = target_dir() / "release" / "libsenate_capi.a"
    assert library.is_file(), library
    return library


def cdef_source(header: str) -> str:
    """The header's declarations as cffi's `cdef` takes them: without preprocessor lines and
    without the `extern "C"` block that only a C++ compiler sees."""
    lines = []
    in_cplusplus = False
    for line in header.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            in_cplusplus = True
        elif in_cplusplus and stripped.startswith("#endif"):
            in_cplusplus = False
        elif not in_cplusplus and not stripped.startswith("#"):
            lines.append(line)
    return "\n".join(lines)


@functools.cache
def load() -> tuple[Any, Any]:
    """`(ffi, lib)` of the compiled cffi module over the C ABI."""
    library = static_library()
    header = HEADER.read_text()
    stat = library.stat()
    key = hashlib.sha256(f"{header}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    name = f"_senate_capi_{key}"
    build_dir = library.parent / "cffi"
    built = sorted(build_dir.glob(f"{name}.*.so")) + sorted(build_dir.glob(f"{name}.so"))
    if not built:
        ffi = cffi.FFI()
        ffi.cdef(cdef_source(header))
        ffi.set_source(
            name,
            '#include "senate.h"',
            include_dirs=[str(HEADER.parent)],
            extra_objects=[str(library)],
            libraries=SYSTEM_LIBRARIES,
            extra_compile_args=["-Werror"],
        )
        built = [Path(ffi.compile(tmpdir=str(build_dir), verbose=False))]
    spec = importlib.util.spec_from_file_location(name, built[0])
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffi, module.lib


def check(lib: Any, code: int) -> None:
    """Raises with the thread's last error message when `code` is not `SENATE_CODE_OK`."""
    if code != lib.SENATE_CODE_OK:
        raise CApiError(code, last_error(lib))


def last_error(lib: Any) -> str:
    message = lib.senate_last_error_message()
    ffi = load()[0]
    return "" if message == ffi.NULL else ffi.string(message).decode()


class CApiError(Exception):
    """A C ABI call returned an error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code
        self.message = message
