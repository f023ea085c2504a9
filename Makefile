# fastroute — `make demo` and `make test` work on a fresh machine: they create
# .venv, build both compiled cores, and apt-get what integration tests need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# rustup installs cargo under ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)
BUILD_STAMP := $(VENV)/.fastroute-built
SOURCES := $(shell find rust/engine/src rust/py/src cext src/fastroute -name '*.rs' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.py' 2>/dev/null) \
           rust/Cargo.toml rust/Cargo.lock rust/engine/Cargo.toml rust/py/Cargo.toml rust/py/build.rs setup.py pyproject.toml

.PHONY: help venv dev system-deps test test-rust test-stubs test-python demo bench wheel-check clean fuzz arm-test

help:
	@echo "make demo        route the bundled sample transactions and print the summary"
	@echo "make test        build everything, run cargo test and the whole pytest suite"
	@echo "make dev         (re)build the editable install in .venv"
	@echo "make bench       quick benchmark set (release build)"
	@echo "make bench-ceiling  fastroute's batch paths against no-Python loops on the same data (issue 15)"
	@echo "make wheel-check build sdist -> wheel, install it in a scratch venv, smoke test + whole suite on it"
	@echo "make fuzz        every cargo-fuzz target and the atheris harness, FUZZ_SECONDS each (default 30; not in make test)"
	@echo "make arm-test    cross-compile the aarch64 wheel and run the suite on aarch64 under qemu (hours; resumable: ARM_SKIP_BUILD=1 ARM_RESUME=1; not in CI)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

venv: $(PY)

# Build requirements are installed into .venv so the editable build can run
# without isolation and reuse rust/target and build/cython incrementally.
$(BUILD_STAMP): $(PY) $(SOURCES)
	@command -v cargo >/dev/null || scripts/ensure-rust.sh
	$(PIP) install -q "setuptools>=77" "setuptools-rust>=1.12" "cython>=3.1,<3.4" "numpy>=2" wheel
	$(PIP) install -q --no-build-isolation -e '.[test,bench]'
	@touch $@

dev: $(BUILD_STAMP)

system-deps:
	@scripts/ensure-system-deps.sh

# The engine's unit tests (the binding crate has none: pytest covers it).
# Also fetches the ceiling benchmark's crates: tests/test_ceiling.py builds it --offline.
test-rust:
	cargo test -q --manifest-path rust/Cargo.toml --workspace
	cargo fetch -q --manifest-path benches/ceiling/Cargo.toml

# src/fastroute/_rust.pyi and _cext.pyi must match the compiled modules exactly (mypy's stubtest;
# the allowlist names only what Cython generates in every module).
test-stubs: $(BUILD_STAMP)
	$(PY) -m mypy.stubtest fastroute._rust fastroute._cext fastroute._locality --allowlist scripts/stubtest-allowlist.txt

test-python: $(BUILD_STAMP)
	$(PY) -m pytest -q

test: system-deps $(BUILD_STAMP) test-rust test-stubs test-python

demo: $(BUILD_STAMP)
	@mkdir -p build/demo
	$(VENV)/bin/fastroute route src/fastroute/data/sample_transactions.csv --cluster src/fastroute/data/sample_cluster.toml --key card_id \
		-o build/demo/routed.parquet --report build/demo/report.html
	@echo "wrote build/demo/routed.parquet and build/demo/report.html"

bench: $(BUILD_STAMP)
	$(PY) -m pytest benches/pytest -q --benchmark-only --benchmark-columns=min,median,mean,ops

# Batch paths as a fraction of plain loops over the same data, same run (docs/build.md §12).
.PHONY: bench-ceiling
bench-ceiling: $(BUILD_STAMP)
	$(PY) benches/ceiling.py

wheel-check: system-deps $(PY)
	scripts/wheel-check.sh

# cargo-fuzz on the stable toolchain: RUSTC_BOOTSTRAP=1 allows the -Z flags it needs.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := ring_build_lookup key_batch maglev_build weights_build
fuzz: $(BUILD_STAMP)
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd rust && for target in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done
	$(PIP) install -q atheris
	$(PY) fuzz/atheris_placement.py -max_total_time=$(FUZZ_SECONDS)

# Not part of `make test` or CI: emulation is slow (docs/build.md §10).
arm-test:
	nice -n 10 scripts/arm-test.sh

clean:
	rm -rf build dist $(VENV) src/fastroute/*.so rust/target .pytest_cache
