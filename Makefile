# senate: build, lint, test and benchmark. `make help` lists the targets.

PYTHON ?= python3
PIP := $(PYTHON) -m pip

.DEFAULT_GOAL := help
.PHONY: help system-deps install build wheel sdist wheel-check sdist-check docs lint test \
	test-rust test-python bench bench-rust capi capi-dist header c-example

# Debian's redis-tools (redis-cli, redis-benchmark) and redis-server: real Redis clients drive
# the key-value service in the tests, and redis-server is the baseline of the benchmarks.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

system-deps: ## Install redis-tools, redis-server and nftables from Debian if missing (needs apt-get)
	@if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null \
			|| ! command -v nft >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server redis-tools nftables >/dev/null && \
		($(SUDO) service redis-server stop >/dev/null 2>&1 || true); \
	fi
	@redis-benchmark --version

# The release tools, pinned: maturin drives the build and zig (from PyPI's ziglang) links
# against glibc 2.17, so the wheel is manylinux2014 whatever the build machine's glibc.
RELEASE_TOOLS := 'maturin>=1.5,<2' 'ziglang==0.17.1'
AUDIT_TOOLS := 'auditwheel>=6.1' 'abi3audit>=0.0.20'
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
WHEEL_GLOB := dist/senate-$(VERSION)-cp310-abi3-*.whl
SDIST := dist/senate-$(VERSION).tar.gz

install: wheel ## Install the wheel of `make wheel` with the test and docs extras
	$(PIP) uninstall -q -y senate
	$(PIP) install "senate[test,docs] @ file://$(CURDIR)/$$(ls $(WHEEL_GLOB))"

build: wheel ## The same as `make wheel`

wheel: ## Build the manylinux2014 abi3 wheel into dist/ (maturin --zig)
	$(PIP) install -q $(RELEASE_TOOLS)
	rm -f dist/senate-*.whl
	$(PYTHON) -m maturin build --release --zig --compatibility manylinux2014 --out dist

sdist: ## Build the sdist into dist/ and check what it holds
	$(PIP) install -q $(RELEASE_TOOLS)
	rm -f dist/senate-*.tar.gz
	$(PYTHON) -m maturin sdist --out dist
	$(PYTHON) .ci/check_sdist.py $(SDIST)

# The installed wheel, alone in a fresh venv: installed with --no-index (its dependencies come
# from a wheelhouse filled from PyPI first), audited, its stub checked against its extension,
# and the tests that exercise the installed extension run from a directory where
# `import senate` cannot find python/: the version, the stub, the balancers (every class of
# the extension's balance module), the key-value core, the CLI, and a cluster of node
# processes (kill -9, restart, catching up by snapshot); not the CLI's thousand-seed
# simulation (minutes of the core's own code, which the wheel changes nothing about). The whole
# suite runs against the wheel too, in the `make install` venv (`make test`); a second full
# run would not fit CI's 20 minutes.
CHECK_VENV := build/venv-wheel-check
WHEELHOUSE := build/wheelhouse
WHEEL_TESTS := tests/test_packaging.py tests/test_balance.py tests/test_kv.py tests/test_cli.py \
	tests/test_cluster_processes.py tests/test_readme_example.py

wheel-check: ## Install the wheel in a fresh venv, audit it, run the installed-wheel tests
	@test -n "$$(ls $(WHEEL_GLOB) 2>/dev/null)" || $(MAKE) wheel
	rm -rf $(CHECK_VENV)
	$(PYTHON) -m venv $(CHECK_VENV)
	$(CHECK_VENV)/bin/pip download -q --dest $(WHEELHOUSE) "senate[test,client] @ file://$(CURDIR)/$$(ls $(WHEEL_GLOB))"
	$(CHECK_VENV)/bin/pip install -q --no-index --find-links dist --find-links $(WHEELHOUSE) 'senate[test,client]'
	$(CHECK_VENV)/bin/pip install -q $(AUDIT_TOOLS)
	$(CHECK_VENV)/bin/auditwheel show $(WHEEL_GLOB)
	$(CHECK_VENV)/bin/abi3audit --strict --report $(WHEEL_GLOB)
	cd $(CHECK_VENV) && bin/python -c 'import senate, sysconfig; \
		assert senate.__file__.startswith(sysconfig.get_paths()["purelib"]), senate.__file__'
	cd $(CHECK_VENV) && bin/python -m mypy.stubtest senate._core
	cd $(CHECK_VENV) && bin/python -m pytest -c $(CURDIR)/pyproject.toml -p no:cacheprovider -q \
		$(addprefix $(CURDIR)/,$(WHEEL_TESTS)) \
		--deselect tests/test_cli.py::test_sim_runs_a_thousand_seeds_on_every_size_for_each_protocol

sdist-check: sdist ## Install the sdist in a fresh venv (compiles the Rust: minutes) and import it
	rm -rf build/venv-sdist-check
	$(PYTHON) -m venv build/venv-sdist-check
	build/venv-sdist-check/bin/pip install -q $(SDIST)
	cd build/venv-sdist-check && bin/python -c 'import senate, senate._core; \
		assert senate.__version__ == "$(VERSION)", senate.__version__; print(senate.__file__)'
	cd build/venv-sdist-check && bin/senate --version

docs: ## Build the manual and the API reference into site/ (warnings are errors; offline)
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --quiet

lint: ## rustfmt, clippy (warnings are errors), ruff, mypy and stubtest (needs `make install`)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PYTHON) -m ruff check python tests benches examples
	$(PYTHON) -m ruff format --check python tests benches examples
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest senate._core

test-rust: ## cargo test of the workspace (the core, and the C ABI's header check)
	cargo test --workspace

test-python: ## pytest (unit, property, stateful, CLI; benchmarks run once, untimed)
	$(PYTHON) -m pytest

test: system-deps install lint test-rust test-python sdist docs wheel-check ## Install, lint, every test, the docs, the wheel in a fresh venv

bench: ## senate bench, then the pytest-benchmark suites (needs `make install`)
	$(PYTHON) -m senate bench --sim
	$(PYTHON) benches/embedded_counter.py
	$(PYTHON) -m pytest benches --benchmark-enable

bench-rust: ## The criterion benches of the core
	cargo bench -p senate-core

# The C ABI. The header is checked by `cargo test` (rust/capi/tests/header.rs runs cbindgen as
# a library, pinned in Cargo.lock: nothing to install); tests/test_capi*.py build the library.
CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)

capi: ## Build the C ABI: $(CARGO_TARGET)/release/libsenate_capi.{a,so}
	cargo build --release -p senate-capi

header: ## Regenerate rust/capi/include/senate.h with cbindgen (review the diff, commit it)
	SENATE_REWRITE=1 cargo test -p senate-capi --test header

# The C library's own artifact (a wheel holds one kind of binding; see docs/c-api.md): the
# header, both libraries, the license and the C API's manual, in one tarball.
CAPI_DIST := senate-capi-$(VERSION)-$(shell uname -m)-linux

capi-dist: capi ## Package the C ABI: dist/senate-capi-VERSION-ARCH-linux.tar.gz
	rm -rf build/$(CAPI_DIST) && mkdir -p build/$(CAPI_DIST)/include build/$(CAPI_DIST)/lib
	cp rust/capi/include/senate.h build/$(CAPI_DIST)/include/
	cp $(CARGO_TARGET)/release/libsenate_capi.a $(CARGO_TARGET)/release/libsenate_capi.so \
		build/$(CAPI_DIST)/lib/
	cp LICENSE build/$(CAPI_DIST)/ && cp docs/c-api.md build/$(CAPI_DIST)/README.md
	mkdir -p dist && tar -C build -czf dist/$(CAPI_DIST).tar.gz $(CAPI_DIST)
	tar -tzf dist/$(CAPI_DIST).tar.gz

c-example: capi ## Build and run examples/c/cluster.c against the static library
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I rust/capi/include examples/c/cluster.c \
		$(CARGO_TARGET)/release/libsenate_capi.a -lpthread -ldl -lm -o $(CARGO_TARGET)/cluster
	$(CARGO_TARGET)/cluster
