# Podium: one Makefile that the README, CI and developers share.
#   make demo   install, then run the whole pipeline on the embedded default
#   make test   install, then run the test suite (what CI runs)
#
# TORCH_INDEX selects the torch build: empty takes the pinned CPU wheel; for CUDA use e.g.
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cu128

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_INDEX ?=
PYTEST_ARGS ?=

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1

.PHONY: install lock demo up test test-deps test-all lint bench clean scanners

PIP_VERSION := 26.3

# Installs exactly what requirements.lock names (no resolver choices on a fresh machine), then
# the project itself without dependencies, then checks the lock satisfies pyproject.toml.
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

install: $(BIN)/.installed

# The review scanners (checkov, cfn-lint, bandit) in their own virtualenv, .venv-scanners,
# pinned by requirements-scanners.lock; does nothing when it is already up to date.
scanners:
	PYTHON=$(PYTHON) scripts/scanners.sh

# A deliberate upgrade: resolve pyproject.toml afresh in a scratch venv and rewrite the lock.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet pip==$(PIP_VERSION)
	.lock-venv/bin/pip install --quiet torch==2.13.0
	.lock-venv/bin/pip install --quiet -e '.[dev,dask]'
	{ echo "# Exact versions that \`make install\` installs (besides torch, pinned in the Makefile)."; \
	  echo "# Regenerate deliberately with \`make lock\` after changing pyproject.toml; commit the result."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^torch=='; } > requirements.lock
	rm -rf .lock-venv

demo: install
	$(BIN)/podium demo $(DEMO_ARGS)

up: install
	$(BIN)/podium up

# What the tests drive for real beyond Python: system programs (Chromium, Redis, PostgreSQL,
# Prometheus; installed from Debian's packages when run as root, else one command to run) and
# a pinned pretalx server in its own virtualenv. Idempotent: a second run returns at once.
test-deps:
	bash tests/setup/system.sh
	bash tests/setup/pretalx.sh

# Type checks of the code that runs (incremental: its cache under build/, seconds once warm).
MYPY := $(BIN)/mypy --cache-dir build/mypy-cache podium flows tasks deployments

test: install test-deps scanners
	$(MYPY)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-all: install test-deps scanners
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check podium flows tasks deployments tests bench
	$(BIN)/ruff format --check podium flows tasks deployments tests bench
	$(MYPY)

clean:
	rm -rf .podium
