# senate: build, lint, test and benchmark. `make help` lists the targets.

PYTHON ?= python3
PIP := $(PYTHON) -m pip

.DEFAULT_GOAL := help
.PHONY: help system-deps install build lint test test-rust test-python bench bench-rust capi header c-example

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

install: ## Build the extension (release) and install senate with its test extras
	$(PIP) install '.[test]'

build: ## Build the wheel into dist/
	$(PIP) wheel --no-deps --wheel-dir dist .

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

test: system-deps install lint test-rust test-python ## Install, then lint and run every test

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

c-example: capi ## Build and run examples/c/cluster.c against the static library
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I rust/capi/include examples/c/cluster.c \
		$(CARGO_TARGET)/release/libsenate_capi.a -lpthread -ldl -lm -o $(CARGO_TARGET)/cluster
	$(CARGO_TARGET)/cluster
