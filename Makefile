# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the package with what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean zips

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m model.knapsack_kernels  # numba compiles the bound's loops once, here, not in a first run
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tplan run scenarios/georgia.yaml

# Most tests run one process each, so two pytest workers use both cores (pytest 10 min 10 s -> 6 min 25 s
# on the project's machine, 2026-12-04);
# the tests marked `serial` fork a second process or time a run, and run afterwards on an idle machine.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not serial"
	$(BIN)/python -m pytest -q -m serial

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_territories.py
	$(BIN)/python tests/benchmarks/bench_territories.py --threads 2
	$(BIN)/python tests/benchmarks/bench_territories.py --scale
	$(BIN)/python tests/benchmarks/bench_exact_phase.py --cases GA:10:0.05 --seconds 300
	$(BIN)/python tests/benchmarks/bench_redesign.py 60
	$(BIN)/python tests/benchmarks/bench_coverage.py 100000 200 60
	$(BIN)/python tests/benchmarks/bench_sweep.py 10 2
	$(BIN)/python tests/benchmarks/bench_report.py 1000 60
	$(BIN)/python -m geodata.national zips
	$(BIN)/python tests/benchmarks/bench_national.py --time-limit 600 --parallel 2

# The ZIP cells (about 33,000, 9 MB) are built from the registries on demand; the counties are committed.
zips: $(STAMP)
	$(BIN)/python -m geodata.national zips

clean:
	rm -rf $(VENV) runs .pytest_cache
