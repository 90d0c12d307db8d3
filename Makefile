# windtunnel: `make demo` runs the main job on defaults, `make test` the tests, `make bench` the
# benchmarks (tables into the ignored results/), `make docs` the documentation site (site/).
# Each creates .venv (CPU torch first, then the package with its pinned deps) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench docs clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

# The main job: the wind tunnel in one command (about 9 minutes on 2 cores, fresh clone). One circuit (CIRCUIT=lstm by
# default; any spec name) is trained fresh on the timed lever press for 5 minutes, evaluated on the canonical
# task, lesioned like Kawai's rats, and scored against the rodent data beside every circuit of the shipped
# lab_ladder study (zoo/lab_ladder): `windtunnel study study=demo` (windtunnel/conf/study/demo.yaml).
CIRCUIT ?= lstm
demo: $(STAMP)
	rm -rf runs/demo
	$(VENV)/bin/windtunnel study study=demo "study.circuits=[$(CIRCUIT)]"
	@echo "report: runs/demo/report.html (scores: runs/demo/scores.json; the run: runs/demo/runs/lever_timing/$(CIRCUIT)/seed0)"
	@echo "see it rendered: python -m benchmarks.report_screenshot runs/demo/report.html (needs Chromium)"

# One test process per core (pytest-xdist), each test file whole in one process (its module fixtures are built
# once): 6 min instead of 10.5 on 2 cores. A plain `pytest` still runs everything in one process.
test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadfile tests

docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(PY) -m benchmarks.body
	$(PY) -m benchmarks.tasks
	$(PY) -m benchmarks.paper_tasks
	$(PY) -m benchmarks.spinal
	$(PY) -m benchmarks.spinal_mass
	$(PY) -m benchmarks.circuits
	$(PY) -m benchmarks.spec_cost
	$(PY) -m benchmarks.training

clean-venv:
	rm -rf $(VENV)
