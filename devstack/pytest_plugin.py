"""Session-scoped pytest fixtures for the local stack: ``-p devstack.pytest_plugin``.

Fixtures start components through the same code as ``stack up``. With AUTODEVOPS_STATE_DIR set
they reuse what already runs there and stop only what they started; otherwise the session gets a
private state directory and everything is stopped at its end. A component that cannot start
fails the test: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import base, components
from .argocd import ArgoHandle
from .ferretdb import FerretHandle
from .jaeger import JaegerHandle
from .kube import KubeHandle
from .ollama import OllamaHandle
from .postgres import PostgresHandle
from .prometheus import PrometheusHandle, start_prometheus
from .redis import RedisHandle
from .tools import Tools, install_tools
from .versitygw import S3Handle

__all__ = ["start_prometheus"]

# Whatever a test session starts dies with it, even if pytest itself is killed.
base.die_with_starter = True


@pytest.fixture(scope="session")
def stack_state_dir() -> Iterator[Path]:
    """The session's state dir: $AUTODEVOPS_STATE_DIR if set, else a private one."""
    env = os.environ.get(base.STATE_ENV)
    if env:
        path = Path(env).resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="autodevops-stack-"))
    # PostgreSQL refuses to run as root, so as root it runs as the postgres user: that user
    # must be able to reach its data directory inside this one.
    path.chmod(0o755)
    yield path
    components.stop_all(path)
    shutil.rmtree(path, ignore_errors=True)


def _component(name: str, state_dir: Path) -> Iterator[Any]:
    try:
        handle, started = components.ensure(name, state_dir)
    except base.ComponentError as exc:
        pytest.fail(f"stack component {name} did not start:\n{exc}", pytrace=False)
    yield handle
    if started:
        handle.stop()


@pytest.fixture(scope="session")
def prometheus(stack_state_dir: Path) -> Iterator[PrometheusHandle]:
    """Prometheus scraping the fixed-series exporter; ``.url``, ``.exporter_url``, ``.query``."""
    yield from _component("prometheus", stack_state_dir)


@pytest.fixture(scope="session")
def postgres(stack_state_dir: Path) -> Iterator[PostgresHandle]:
    """PostgreSQL; ``.url`` is a DSN for the superuser (trust auth, loopback only)."""
    yield from _component("postgres", stack_state_dir)


@pytest.fixture(scope="session")
def redis(stack_state_dir: Path) -> Iterator[RedisHandle]:
    """Redis; ``.url`` is redis://127.0.0.1:PORT/0."""
    yield from _component("redis", stack_state_dir)


@pytest.fixture(scope="session")
def ferretdb(stack_state_dir: Path) -> Iterator[FerretHandle]:
    """FerretDB speaking the MongoDB wire protocol; ``.url`` is mongodb://127.0.0.1:PORT/."""
    yield from _component("ferretdb", stack_state_dir)


@pytest.fixture(scope="session")
def s3(stack_state_dir: Path) -> Iterator[S3Handle]:
    """versitygw, a real S3 API over a folder; ``.url``, ``.access_key``, ``.secret_key``."""
    yield from _component("s3", stack_state_dir)


@pytest.fixture(scope="session")
def jaeger(stack_state_dir: Path) -> Iterator[JaegerHandle]:
    """Jaeger receiving OTLP/HTTP; ``.otlp_url``, ``.query_url``, ``.traces(service)``."""
    yield from _component("jaeger", stack_state_dir)


@pytest.fixture(scope="session")
def ollama(stack_state_dir: Path) -> Iterator[OllamaHandle]:
    """Ollama built here, serving the stack's models; ``.url``, ``.model`` (chat, tools
    declared in its template), ``.embed_model``."""
    yield from _component("ollama", stack_state_dir)


@pytest.fixture(scope="session")
def tools() -> Tools:
    """Paths of the ``helm`` and ``kubectl`` binaries (``.helm``, ``.kubectl``)."""
    try:
        return install_tools()
    except base.ComponentError as exc:
        pytest.fail(f"helm/kubectl could not be installed:\n{exc}", pytrace=False)


@pytest.fixture(scope="session")
def kube(stack_state_dir: Path) -> Iterator[KubeHandle]:
    """The control plane: ``.kubeconfig`` (admin), ``.url``, ``.request``, ``.create_token``,
    ``.kubeconfig_for_token``, ``.kubectl``, ``.api_client``."""
    yield from _component("kube", stack_state_dir)


@pytest.fixture(scope="session")
def argocd(stack_state_dir: Path, kube: KubeHandle, redis: RedisHandle) -> Iterator[ArgoHandle]:
    """Argo CD (repo server, API server, controller) on the control plane: ``.url``,
    ``.ca_file``, ``.token_file``, ``.account(name, policy_csv)``, ``.request``."""
    yield from _component("argocd", stack_state_dir)
