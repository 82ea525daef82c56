"""Kubernetes tokens over HTTP, verified with TokenReview against the real control plane.

The server runs as users run it (`autodevops serve prometheus --transport http --token-review`),
acting as its own ServiceAccount that holds only `system:auth-delegator`.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.common.config import ConfigError
from autodevops.servers.core.identity import AuthUnavailable
from autodevops.servers.core.policy import Policy, load_policy
from autodevops.servers.core.token_review import (
    ACCEPTED_TTL_SECONDS,
    REFUSED_TTL_SECONDS,
    Review,
    TokenReviewAuthenticator,
)
from devstack.base import free_port
from devstack.kube import KubeError, KubeHandle, write_kubeconfig
from devstack.services import audit_lines, cli
from tests.conftest import TEST_POLICY, TOKENS, HttpServer
from tests.mcp_helpers import client_for, initialize, text_of

AUDIENCE = "autodevops-mcp"


@dataclass
class Cluster:
    """Namespaces and ServiceAccounts made for this module, and the server's own kubeconfig."""

    kube: KubeHandle
    apps: str
    monitoring: str
    server_kubeconfig: Path
    unprivileged_kubeconfig: Path

    def token(self, namespace: str, name: str, audiences: Sequence[str] = (AUDIENCE,)) -> str:
        return self.kube.create_token(namespace, name, audiences=list(audiences))


def _create(kube: KubeHandle, path: str, body: dict[str, Any]) -> None:
    kube.request("POST", path, body)


def _service_account(kube: KubeHandle, namespace: str, name: str) -> None:
    _create(
        kube,
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )


def _can_review(kube: KubeHandle, token: str) -> bool:
    review: dict[str, Any] = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }
    try:
        kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", review, token=token)
    except KubeError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(kube: KubeHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    suffix = uuid.uuid4().hex[:6]
    apps, monitoring, system = f"tr-apps-{suffix}", f"tr-mon-{suffix}", f"tr-mcp-{suffix}"
    binding = f"tr-mcp-{suffix}-auth-delegator"
    for namespace in (apps, monitoring, system):
        _create(
            kube,
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
    for namespace, name in [
        (apps, "scarlet"),
        (apps, "stranger"),
        (apps, "bot-1"),
        (monitoring, "grafana"),
        (system, "mcp-server"),
        (system, "no-rbac"),
    ]:
        _service_account(kube, namespace, name)
    _create(
        kube,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": binding},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "mcp-server", "namespace": system}],
        },
    )
    server_token = kube.create_token(system, "mcp-server")
    deadline = time.monotonic() + 30
    while not _can_review(kube, server_token):
        assert time.monotonic() < deadline, "the auth-delegator binding never took effect"
        time.sleep(0.2)
    workdir = tmp_path_factory.mktemp("token-review")
    yield Cluster(
        kube,
        apps,
        monitoring,
        kube.kubeconfig_for_token(server_token, workdir / "server.kubeconfig"),
        kube.kubeconfig_for_token(
            kube.create_token(system, "no-rbac"), workdir / "no-rbac.kubeconfig"
        ),
    )
    kube.request("DELETE", f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{binding}")
    for namespace in (apps, monitoring, system):
        kube.request("DELETE", f"/api/v1/namespaces/{namespace}")


@pytest.fixture
def policy_path(tmp_path: Path, cluster: Cluster) -> Path:
    """The shared test policy plus bindings for this module's ServiceAccounts."""
    policy = dict(
        TEST_POLICY,
        bindings=[
            {"subject": f"system:serviceaccount:{cluster.apps}:scarlet", "roles": ["team-a"]},
            {"subject": f"system:serviceaccount:{cluster.apps}:bot-*", "roles": ["viewer"]},
            {"group": f"system:serviceaccounts:{cluster.monitoring}", "roles": ["query-only"]},
        ],
    )
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return path


def review_args(kubeconfig: Path, audience: str = AUDIENCE) -> list[str]:
    return [
        "--token-review",
        "--token-audience",
        audience,
        "--token-review-kubeconfig",
        str(kubeconfig),
    ]


@pytest.fixture
def server(prometheus: Any, start_http_server: Any, cluster: Cluster) -> HttpServer:
    started: HttpServer = start_http_server(prometheus.url, *review_args(cluster.server_kubeconfig))
    return started


async def test_bound_service_account_is_scoped_and_audited(
    server: HttpServer, cluster: Cluster
) -> None:
    async with client_for(server.mcp_url, cluster.token(cluster.apps, "scarlet")) as client:
        assert len(await client.list_tools()) == 10
        result = await client.call_tool("label_values", {"label": "namespace"})
        assert text_of(result).splitlines()[1:] == ["team-a"]
    record = audit_lines(server.audit_log)[-1]
    assert record["subject"] == f"system:serviceaccount:{cluster.apps}:scarlet"
    assert record["roles"] == ["team-a"] and record["role"] == "team-a"
    assert record["transport"] == "http" and record["decision"] == "allow"


async def test_subject_glob_and_group_bindings(server: HttpServer, cluster: Cluster) -> None:
    async with client_for(server.mcp_url, cluster.token(cluster.apps, "bot-1")) as client:
        assert len(await client.list_tools()) == 10
    async with client_for(server.mcp_url, cluster.token(cluster.monitoring, "grafana")) as client:
        assert [tool.name for tool in await client.list_tools()] == ["query"]
        assert not (await client.call_tool("query", {"query": "up"})).is_error
    record = audit_lines(server.audit_log)[-1]
    assert record["subject"] == f"system:serviceaccount:{cluster.monitoring}:grafana"
    assert record["roles"] == ["query-only"]


async def test_unbound_service_account_sees_and_calls_nothing(
    server: HttpServer, cluster: Cluster
) -> None:
    async with client_for(server.mcp_url, cluster.token(cluster.apps, "stranger")) as client:
        assert await client.list_tools() == []
        result = await client.call_tool("query", {"query": "up"}, raise_on_error=False)
    assert result.is_error and "not allowed" in text_of(result)
    record = audit_lines(server.audit_log)[-1]
    assert record["subject"] == f"system:serviceaccount:{cluster.apps}:stranger"
    assert record["roles"] == [] and record["decision"] == "deny"


def test_wrong_audience_and_garbage_tokens_are_401(server: HttpServer, cluster: Cluster) -> None:
    other_audience = cluster.token(cluster.apps, "scarlet", ["some-other-service"])
    api_server_audience = cluster.token(cluster.apps, "scarlet", [])
    for token in (other_audience, api_server_audience, "garbage-token-0123456789", "x.y.z"):
        response = initialize(server, token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert initialize(server, cluster.token(cluster.apps, "scarlet")).status_code == 200


async def test_static_tokens_still_work_alongside(server: HttpServer) -> None:
    async with client_for(server.mcp_url, TOKENS["query-only"]) as client:
        assert [tool.name for tool in await client.list_tools()] == ["query"]
    assert initialize(server, TOKENS["viewer"]).status_code == 200


def _unreachable_kubeconfig(cluster: Cluster, path: Path, port: int) -> Path:
    return write_kubeconfig(
        path,
        f"https://127.0.0.1:{port}",
        cluster.kube.ca_file,
        "mcp-server",
        {"token": "not-sent-anywhere-that-answers"},
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose kernel accepts connections that nobody ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_unreachable_api_server_is_503_within_the_timeout(
    prometheus: Any,
    start_http_server: Any,
    cluster: Cluster,
    tmp_path: Path,
    silent_port: int,
    kind: str,
) -> None:
    port = free_port() if kind == "closed" else silent_port
    kubeconfig = _unreachable_kubeconfig(cluster, tmp_path / "down.kubeconfig", port)
    server = start_http_server(prometheus.url, *review_args(kubeconfig))
    started = time.monotonic()
    response = initialize(server, cluster.token(cluster.apps, "scarlet"))
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and elapsed < 8, (response.status_code, elapsed)
    body = response.json()
    assert body["error"] == "authentication unavailable"
    assert f"Kubernetes API server at https://127.0.0.1:{port}" in body["detail"]
    expected = (
        "is unreachable"
        if kind == "closed"
        else "did not answer a TokenReview within 5s; check its health"
    )
    assert expected in body["detail"]
    assert initialize(server, TOKENS["viewer"]).status_code == 200


def test_server_identity_without_rbac_is_503_with_a_hint(
    prometheus: Any, start_http_server: Any, cluster: Cluster
) -> None:
    server = start_http_server(prometheus.url, *review_args(cluster.unprivileged_kubeconfig))
    response = initialize(server, cluster.token(cluster.apps, "scarlet"))
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "answered HTTP 403" in detail and "system:auth-delegator" in detail


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--token-review"], "--token-review needs --transport http and --token-audience"),
        (
            [*review_args(Path("absent.kubeconfig"))],
            "TokenReview: cannot load absent.kubeconfig",
        ),
    ],
)
def test_token_review_misconfiguration_refuses_to_start(
    policy_path: Path, extra: list[str], expected: str
) -> None:
    command = [*cli(), "serve", "prometheus", "--transport", "http", "--policy", str(policy_path)]
    result = subprocess.run(
        [*command, *extra], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1 and expected in result.stderr, result.stderr


# The cache and the audience check, with a fake API server and a fake clock.


class FakeReviewer:
    url = "https://api.example:6443"

    def __init__(self) -> None:
        self.reviewed: list[str] = []
        self.answers: dict[str, Review] = {}
        self.down = False

    def review(self, token: str, audiences: Sequence[str], timeout: float) -> Review:
        self.reviewed.append(token)
        if self.down:
            raise AuthUnavailable(f"the Kubernetes API server at {self.url} is unreachable")
        return self.answers.get(token, Review(authenticated=False, error="invalid bearer token"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _policy() -> Policy:
    return Policy.model_validate(
        {
            "server": "prometheus",
            "roles": {"viewer": {"tools": ["*"]}, "team": {"tools": ["query"]}},
            "bindings": [
                {"group": "system:serviceaccounts:mon", "roles": ["team"]},
                {"subject": "system:serviceaccount:apps:*", "roles": ["viewer", "team"]},
            ],
        }
    )


def _authenticator() -> tuple[TokenReviewAuthenticator, FakeReviewer, FakeClock]:
    reviewer, clock = FakeReviewer(), FakeClock()
    return TokenReviewAuthenticator(reviewer, [AUDIENCE], _policy(), clock=clock), reviewer, clock


def _accepted(username: str, *groups: str, audience: str = AUDIENCE) -> Review:
    return Review(True, username, groups, (audience,))


async def test_accepted_tokens_are_cached_for_the_ttl() -> None:
    authenticator, reviewer, clock = _authenticator()
    reviewer.answers["good"] = _accepted("system:serviceaccount:apps:x", "system:serviceaccounts")
    first = await authenticator.authenticate("good")
    assert first is not None and first.roles == ("viewer", "team")
    clock.now += ACCEPTED_TTL_SECONDS - 1
    assert await authenticator.authenticate("good") == first
    assert reviewer.reviewed == ["good"]
    clock.now += 2
    reviewer.answers.clear()
    assert await authenticator.authenticate("good") is None
    assert reviewer.reviewed == ["good", "good"]


async def test_refused_tokens_are_cached_briefly_and_outages_not_at_all() -> None:
    authenticator, reviewer, clock = _authenticator()
    assert await authenticator.authenticate("bad") is None
    assert await authenticator.authenticate("bad") is None
    assert reviewer.reviewed == ["bad"]
    clock.now += REFUSED_TTL_SECONDS + 1
    reviewer.down = True
    for _ in range(2):
        with pytest.raises(AuthUnavailable, match=r"api\.example"):
            await authenticator.authenticate("bad")
    assert reviewer.reviewed == ["bad"] * 3


async def test_returned_audiences_are_checked_and_groups_bind() -> None:
    authenticator, reviewer, _ = _authenticator()
    reviewer.answers["elsewhere"] = _accepted("system:serviceaccount:apps:x", audience="other")
    assert await authenticator.authenticate("elsewhere") is None
    reviewer.answers["mon"] = _accepted(
        "system:serviceaccount:mon:grafana", "system:serviceaccounts:mon"
    )
    principal = await authenticator.authenticate("mon")
    assert principal is not None and principal.roles == ("team",)
    reviewer.answers["user"] = _accepted("alice")
    principal = await authenticator.authenticate("user")
    assert principal is not None and principal.subject == "alice" and principal.roles == ()


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        (
            {"subject": "system:serviceaccount:a:c", "roles": ["admin"]},
            "bindings.1.roles: unknown role(s) admin (the policy has viewer)",
        ),
        (
            {"subject": "x", "group": "y", "roles": ["viewer"]},
            "bindings.1: Value error, give exactly one of subject or group",
        ),
        ({"group": "y", "roles": []}, "bindings.1.roles: List should have at least 1 item"),
    ],
)
def test_bindings_are_validated(tmp_path: Path, binding: dict[str, Any], expected: str) -> None:
    path = tmp_path / "bad.yaml"
    policy = {
        "server": "prometheus",
        "roles": {"viewer": {"tools": ["*"]}},
        "bindings": [{"subject": "system:serviceaccount:a:b", "roles": ["viewer"]}, binding],
    }
    path.write_text(yaml.safe_dump(policy))
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert str(error.value).startswith(f"{path}: {expected}"), error.value
