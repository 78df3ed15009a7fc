"""pytest-benchmark suites (a package, so that its conftest has a module name of its own)."""
