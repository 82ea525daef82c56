# Two commands: `make demo` runs the main job, `make test` runs every check.
# Both install what they need (virtualenv, Python packages, Debian packages when root,
# the local stack's binaries) and are safe to run twice.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint typecheck pytest bench stack-up stack-down clean

# setuptools announces every editable install of a mapped layout as a warning ("information
# only", in its own words): that one is silenced, real packaging warnings still show.
$(VENV)/.installed: pyproject.toml setup.py devstack/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install --quiet -e '.[dev]' -e ./devstack
	touch $@

install: $(VENV)/.installed
	$(PY) -m devstack install

# The demo builds only what it runs (the control plane, Ollama), not what only the tests use.
demo: $(VENV)/.installed
	$(PY) -m devstack install --demo
	$(PY) -m devstack demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy reads the packages through a tree of links named as they are imported (autodevops.*).
typecheck: $(VENV)/.installed
	mkdir -p build/typecheck/autodevops
	for d in common servers clients policies; do ln -sfn ../../../$$d build/typecheck/autodevops/$$d; done
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: install
	$(PY) -m bench.run

stack-up: install
	$(PY) -m devstack up

stack-down: $(VENV)/.installed
	$(PY) -m devstack down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The chart's copies of the policies (every file of policies/) and the RBAC derived from each
# policy among them of a server whose backend is the Kubernetes API (the Kubernetes server,
# Argo CD in core mode); tests/chart fails when either drifts. Run after editing or adding a
# file in policies/.
CHART_FILES := charts/autodevops/files
.PHONY: chart-rbac
chart-rbac: $(VENV)/.installed
	cp policies/*.yaml $(CHART_FILES)/policies/
	rm -f $(CHART_FILES)/rbac/*.yaml
	for policy in $(CHART_FILES)/policies/*.yaml; do \
		grep -qxE 'server: (kubernetes|argocd)' "$$policy" || continue; \
		$(VENV)/bin/autodevops policy rbac "$$policy" \
			> $(CHART_FILES)/rbac/$$(basename "$$policy") || exit 1; \
	done
