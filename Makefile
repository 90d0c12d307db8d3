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

# The main job: train the virtual rodent's LSTM controller on skilled reaching (~4 min on 2 cores),
# evaluate it on the canonical task, lesion its core, score it against the rodent benchmarks (HTML
# report), and say where everything is.
DEMO_RUN := runs/demo/reach_lstm
demo: $(STAMP)
	rm -rf $(DEMO_RUN)
	$(VENV)/bin/windtunnel train task=reach circuit=lstm training.total_steps=100000 run_name=demo/reach_lstm
	$(VENV)/bin/windtunnel evaluate $(DEMO_RUN) episodes=50
	$(VENV)/bin/windtunnel lesion $(DEMO_RUN) populations=[core] episodes=50
	$(VENV)/bin/windtunnel compare runs=[$(DEMO_RUN)] episodes=20 out=$(DEMO_RUN)/compare
	@echo "results: $(DEMO_RUN) (metrics.csv, tensorboard/, checkpoints/, eval/intact.json, lesions/, compare/report.html, compare/scores.json)"

test: $(STAMP)
	$(PY) -m pytest -q tests

docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(PY) -m benchmarks.body
	$(PY) -m benchmarks.tasks
	$(PY) -m benchmarks.paper_tasks
	$(PY) -m benchmarks.spinal
	$(PY) -m benchmarks.spinal_mass
	$(PY) -m benchmarks.circuits
	$(PY) -m benchmarks.training

clean-venv:
	rm -rf $(VENV)
