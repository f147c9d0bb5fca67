# Two commands on a fresh machine: `make demo` (set up + main job) and `make test` (set up + tests).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.cnnlab-installed

.PHONY: setup demo test test-slow bench data browser notebooks notebooks-sync clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch/torchvision pinned: on this machine pip takes both from the local disk.
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e '.[all]'
	touch $(STAMP)

setup: $(STAMP) data

# Debian ships the official Fashion-MNIST files; elsewhere cnnlab downloads them.
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) || \
		echo "note: could not install dataset-fashion-mnist; cnnlab will try to download Fashion-MNIST"; \
	fi

# Debian's Chromium renders the report and drives the explorer in the browser tests (skipped without it).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) || \
		echo "note: could not install chromium; browser tests will be skipped"; \
	fi

demo: setup
	$(VENV)/bin/cnnlab train --recipe demo

test: setup browser
	$(PY) -m pytest -n 2 -q

test-slow: setup browser
	$(PY) -m pytest -n 2 -q -m slow

# JupyterLab on the course's notebooks (the notebook extra comes with `make setup`'s '.[all]').
notebooks: setup
	$(VENV)/bin/jupyter lab notebooks/

# After editing a notebook's .py (or .ipynb) outside JupyterLab: update its pair, outputs cleared.
notebooks-sync: setup
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/[0-9][0-9]_*.ipynb

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
