# Two commands: `make demo` runs the main job, `make test` runs every check.
# Both install what they need (virtualenv, Python packages, Debian packages when root,
# the local stack's binaries) and are safe to run twice.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint typecheck pytest bench stack-up stack-down clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
	$(PY) -m autodevops.stack install

demo: install
	$(PY) -m autodevops.servers.cli demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy reads the packages through a tree of links named as they are imported (autodevops.*).
typecheck: $(VENV)/.installed
	mkdir -p build/typecheck/autodevops
	for d in servers clients policies; do ln -sfn ../../../$$d build/typecheck/autodevops/$$d; done
	ln -sfn ../../../tests/stack build/typecheck/autodevops/stack
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: install
	$(PY) -m bench.run

stack-up: install
	$(PY) -m autodevops.stack up

stack-down: $(VENV)/.installed
	$(PY) -m autodevops.stack down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The chart's copies of the policies and the Kubernetes server's RBAC derived from its policy
# (tests/test_chart.py fails when either drifts). Run after editing a file in policies/.
.PHONY: chart-rbac
chart-rbac: $(VENV)/.installed
	cp policies/kubernetes.yaml policies/prometheus.yaml charts/autodevops/files/policies/
	$(VENV)/bin/autodevops policy rbac charts/autodevops/files/policies/kubernetes.yaml \
		> charts/autodevops/files/rbac/kubernetes.yaml
