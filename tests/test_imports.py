"""The modules of the `senate` package import each other without a cycle.

Every import counts, wherever it is written: at the top of a module, inside a function, or
under `TYPE_CHECKING` (a cycle hidden there still ties the modules together, and moving the
import to the top one day breaks the package at import time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import senate

PACKAGE = "senate"
PACKAGE_DIR = Path(senate.__file__).parent


def module_name(path: Path, package_dir: Path, package: str) -> str:
    """`senate/runtime/node.py` -> `senate.runtime.node`; a package's `__init__.py` is the
    package."""
    parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(package_dir: Path, package: str) -> dict[str, Path]:
    """Every Python source module of the package, by name."""
    return {module_name(p, package_dir, package): p for p in sorted(package_dir.rglob("*.py"))}


def imported_modules(name: str, path: Path, modules: set[str], package: str = PACKAGE) -> set[str]:
    """The modules of `modules` that module `name` (source at `path`) imports, anywhere in it.

    `from a.b import c` imports `a.b.c` when that is a module, else `a.b`; relative imports
    are resolved against the module's package. The package root is left out when reached
    only as the parent of a submodule: Python runs its `__init__` first whatever is imported,
    so that edge is no cycle; `from senate import __version__` is an edge to the root.
    """
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    edges: set[str] = set()
    for target in found:
        if not (target == package or target.startswith(package + ".")):
            continue
        # A submodule's parent packages run first (all but the root: see above).
        parts = target.split(".")
        for end in range(2, len(parts) + 1):
            edges.add(".".join(parts[:end]))
        if target == package:
            edges.add(package)
    return {m for m in edges if m in modules and m != name}


def import_graph(package_dir: Path, package: str = PACKAGE) -> dict[str, set[str]]:
    modules = package_modules(package_dir, package)
    # Compiled modules (`senate._core`, known by its stub) import no module of the package.
    compiled = {module_name(p, package_dir, package) for p in package_dir.rglob("*.pyi")}
    names = set(modules) | compiled
    graph = {name: imported_modules(name, path, names, package) for name, path in modules.items()}
    return {name: {m for m in imports if m in modules} for name, imports in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as the modules along it (the first again at the end), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        # Depth first, iteratively: the path from `start` and, per module on it, the
        # imports not yet followed.
        path = [start]
        on_path = {start}
        todo = [sorted(graph[start])]
        while path:
            if not todo[-1]:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                todo.pop()
                continue
            nxt = todo[-1].pop(0)
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            todo.append(sorted(graph.get(nxt, ())))
    return None


def test_the_finder_names_a_cycle_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_inside_functions_and_under_type_checking_count(tmp_path: Path) -> None:
    package_dir = tmp_path / PACKAGE
    (package_dir / "sub").mkdir(parents=True)
    (package_dir / "__init__.py").write_text("from senate.a import A\n")
    (package_dir / "_core.pyi").write_text("")
    (package_dir / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from senate.sub.b import B\n"
    )
    (package_dir / "sub" / "__init__.py").write_text("")
    (package_dir / "sub" / "b.py").write_text(
        "from senate import _core\n"
        "def f() -> None:\n    from .. import a\n    from senate import __version__\n"
    )
    graph = import_graph(package_dir)
    assert graph == {
        "senate": {"senate.a"},
        "senate.a": {"senate.sub", "senate.sub.b"},
        "senate.sub": set(),
        "senate.sub.b": {"senate", "senate.a"},
    }
    assert find_cycle(graph) == ["senate", "senate.a", "senate.sub.b", "senate"]


def test_the_senate_package_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE_DIR)
    assert "senate.runtime.node" in graph, "the package's modules were found"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
