# One-command set-up: every target below creates .venv on first use and reuses it while
# pyproject.toml and constraints.txt are unchanged.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests and benchmarks run single-threaded: torch with 2 threads on a busy 2-core box is much slower.
export OMP_NUM_THREADS ?= 1
# Ray (and anything else that opens sockets) must see loopback only; fall back to the host
# network where user namespaces are not allowed.
NETNS := $(shell unshare -rn true 2>/dev/null && echo "unshare -rn")
# The cluster tier as real root in a network namespace of its own (munge cannot switch users in a user namespace).
ROOTNS := $(shell [ "$$(id -u)" = 0 ] && unshare -n true 2>/dev/null && echo "unshare -n")

.PHONY: setup train tune test test-slow test-cluster lint bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,bohb]"
	$(PY) -m pip install -q --no-deps $$($(PY) scripts/ci/extra.py data)
	@touch $(STAMP)

train: $(STAMP)
	$(PY) src/train.py $(ARGS)

tune: $(STAMP)
	$(NETNS) bash -c 'ip link set lo up 2>/dev/null; $(PY) src/tune.py -m $(ARGS)'

# As root it installs a headless chromium first (scripts/ci/browser.sh; outside the namespace): the HTML report tests
# open report.html in a real browser, and skip with the reason where there is none.
test: $(STAMP)
	@scripts/ci/browser.sh
	$(NETNS) bash -c 'ip link set lo up 2>/dev/null; $(PY) -m pytest -q $(ARGS)'

# The slow tier (.ci/run runs it after test): longer real-Ray searches (resume after kill -9, PBT, HyperBand/BOHB
# pauses, GPU shares, sweep budgets that skip a family), kept out of the few-minute default suite.
test-slow: $(STAMP)
	$(NETNS) bash -c 'ip link set lo up 2>/dev/null; $(PY) -m pytest -q -m "slow and not gpu and not cluster" $(ARGS)'

# The cluster tier: DDP processes and real SLURM daemons, on loopback only (.ci/run runs it after test). As root
# it installs SLURM from Debian's packages first (outside the namespace: apt needs the network); the tests start
# and stop the daemons themselves. Without root the SLURM tests skip with the reason.
test-cluster: $(STAMP)
	@if [ -n "$(ROOTNS)" ]; then scripts/ci/slurm_up.sh --install; fi
	$(or $(ROOTNS),$(NETNS)) bash -c 'ip link set lo up 2>/dev/null; $(PY) -m pytest -q -m cluster $(ARGS)'

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts

clean-venv:
	rm -rf $(VENV)
