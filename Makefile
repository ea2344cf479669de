# The two commands of the README: `make simulate` and `make test`. Each sets itself up:
# a virtualenv in .venv with the project and its extras, and the helm binary for the chart tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test simulate bench crds lint typecheck unit clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

-include mk/*.mk

## simulate: the one-command demo — the world, the real operator, a scenario, a report
simulate: $(STAMP)
	JUDGE0_OPERATOR_LOOPBACK_ONLY=1 $(VENV)/bin/judge0-operator simulate $(ARGS)

## test: ruff, mypy, the import contracts, then the whole pytest suite (unit, integration, end-to-end, chart)
test: $(STAMP) $(HELM_DEP) debian-tools
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## bench: figures (never asserted): detection/recovery latency, API calls per pass, CPU and RSS
bench: $(STAMP)
	JUDGE0_OPERATOR_LOOPBACK_ONLY=1 $(PY) -m bench $(ARGS)

## crds: regenerate crds/ (and the chart's copy) from the pydantic models
crds: $(STAMP)
	$(VENV)/bin/judge0-operator crds --output crds
	@if [ -d charts/judge0-operator/crds ]; then cp crds/*.yaml charts/judge0-operator/crds/; fi

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
