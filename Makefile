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

.PHONY: install demo up test test-all lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e '.[dev,dask]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/podium demo $(DEMO_ARGS)

up: install
	$(BIN)/podium up

test: install
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-all: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check podium flows tasks deployments tests bench
	$(BIN)/ruff format --check podium flows tasks deployments tests bench
	$(BIN)/mypy podium

clean:
	rm -rf .podium
