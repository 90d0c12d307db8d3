# windtunnel: `make demo` runs the main job on defaults, `make test` the tests, `make bench` the
# benchmarks. Each creates .venv (CPU torch first, then the package with its pinned deps) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/windtunnel info
	$(VENV)/bin/windtunnel render body=free render.seconds=2

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m benchmarks.body
	$(PY) -m benchmarks.tasks
	$(PY) -m benchmarks.circuits

clean-venv:
	rm -rf $(VENV)
