"""Both modes over the same applications: core mode against the real local control plane
with Argo CD's CRDs installed, API mode against the fake Argo CD API server (for written,
exact states); `real_argo` is the local stack's real Argo CD (test_real_api.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from autodevops.servers.argocd.api import ArgoApi
from autodevops.servers.argocd.core import ArgoCore
from autodevops.servers.argocd.rbac import argocd_policy_csv
from autodevops.servers.argocd.server import SPEC
from autodevops.servers.core.policy import Policy
from devstack.argocd import install_crds
from devstack.kube import KubeError
from tests.fakes.fake_argocd import FakeArgoCD
from tests.mcp_helpers import server_session

from .data import EVENTS, MANAGED, POLICY, TREE, applications
from .real import RealArgo, set_up

APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
TOKENS = {
    "admin": "p, role:admin, applications, *, */*, allow",
    "derived": argocd_policy_csv(Policy.model_validate(POLICY), "autodevops-mcp"),
    "nobody": "",
}


def put_apps(kube: Any) -> None:
    """Every test application as data.py has it, whatever earlier tests wrote."""
    for app in applications():
        name = app["metadata"]["name"]
        try:
            kube.request("DELETE", f"{APPS}/{name}")
        except KubeError as exc:
            if exc.status != 404:
                raise
        kube.request("POST", APPS, app)


@pytest.fixture(scope="session")
def argocd_cluster(kube: Any) -> Any:
    install_crds(kube)
    for namespace in ("argocd", "team-a"):
        kube.kubectl("create", "namespace", namespace, check=False)
    put_apps(kube)
    for event in EVENTS:
        kube.request("POST", "/api/v1/namespaces/argocd/events", event)
    return kube


@pytest.fixture(scope="session")
def real_argo(argocd: Any, tmp_path_factory: pytest.TempPathFactory) -> RealArgo:
    """The stack's Argo CD with the test repository's applications, first syncs done."""
    return set_up(argocd, tmp_path_factory.mktemp("argocd-real"))


@pytest.fixture
def fake_argocd() -> Iterator[FakeArgoCD]:
    with FakeArgoCD({f"{name}-token-0123456789": csv for name, csv in TOKENS.items()}) as fake:
        for app in applications():
            extra: dict[str, list[dict[str, Any]]] = {}
            if app["metadata"]["name"] == "team-a-api":
                extra = {"managed": MANAGED, "tree": TREE, "events": EVENTS}
            fake.add(app, **extra)
        yield fake


def token_file(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.token"
    path.write_text(f"{name}-token-0123456789\n", encoding="utf-8")
    return str(path)


class Mode:
    """One mode's server session maker and a way to read an application's stored state."""

    def __init__(self, name: str, tmp_path: Path, kube: Any, fake: FakeArgoCD | None) -> None:
        self.name, self.tmp_path, self.kube, self.fake = name, tmp_path, kube, fake

    def source(self, token: str = "admin") -> Any:
        if self.fake is not None:
            return ArgoApi(self.fake.url, token_file(self.tmp_path, token))
        return ArgoCore(str(self.kube.kubeconfig))

    @asynccontextmanager
    async def session(self, role: str, token: str = "admin") -> AsyncIterator[Any]:
        async with server_session(SPEC, self.source(token), POLICY, role, self.tmp_path) as s:
            yield s[0]

    def stored(self, name: str) -> dict[str, Any]:
        if self.fake is not None:
            return self.fake.app(name)
        result: dict[str, Any] = self.kube.request("GET", f"{APPS}/{name}")
        return result


@pytest.fixture(params=["core", "api"])
def mode(request: pytest.FixtureRequest, tmp_path: Path) -> Mode:
    """Each test runs in both modes; core mode starts from freshly written applications."""
    if request.param == "core":
        kube = request.getfixturevalue("argocd_cluster")
        put_apps(kube)
        return Mode("core", tmp_path, kube, None)
    return Mode("api", tmp_path, None, request.getfixturevalue("fake_argocd"))
