"""Every registered server against the MCP conformance suite, over streamable HTTP.

The suite runs its whole active set; `baseline.yml` lists the scenarios that do not apply,
with the reason, and the suite itself fails on any other failure or on a stale entry.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from autodevops.servers.registry import SERVERS, load_spec
from devstack.conformance import Conformance, install_conformance
from devstack.services import start_mcp_server
from tests.conformance.token_proxy import TokenProxy
from tests.fakes.fake_loki import DEFAULT_TENANT, fake_loki_server
from tests.fakes.fake_tempo import FakeTempo

__all__ = ["fake_loki_server"]  # a fixture, used by name
BASELINE = Path(__file__).with_name("baseline.yml")
TOKEN = "conformance-token-0123456789"
SUITE_SECONDS = 300


def _prometheus(request: pytest.FixtureRequest) -> list[str]:
    return ["--prometheus-url", request.getfixturevalue("prometheus").url]


def _kubernetes(request: pytest.FixtureRequest) -> list[str]:
    return ["--kubeconfig", str(request.getfixturevalue("kube").kubeconfig)]


def _loki(request: pytest.FixtureRequest) -> list[str]:
    fake = request.getfixturevalue("fake_loki")
    return ["--loki-url", fake.url, "--loki-tenant", DEFAULT_TENANT]


def _tempo(request: pytest.FixtureRequest) -> list[str]:
    tempo = FakeTempo()
    tempo.__enter__()
    request.addfinalizer(tempo.__exit__)
    return ["--tempo-url", tempo.url]


def _postgres(request: pytest.FixtureRequest) -> list[str]:
    dsn_file: Path = request.getfixturevalue("tmp_path") / "dsn"
    dsn_file.write_text(request.getfixturevalue("postgres").url)
    return ["--dsn-file", str(dsn_file)]


def _argocd(request: pytest.FixtureRequest) -> list[str]:
    argocd = request.getfixturevalue("argocd")
    return [
        *("--argocd-url", argocd.url, "--argocd-token-file", str(argocd.token_file)),
        *("--argocd-ca-file", str(argocd.ca_file)),
    ]


def _mongodb(request: pytest.FixtureRequest) -> list[str]:
    uri = request.getfixturevalue("tmp_path") / "mongodb-uri"
    uri.write_text(request.getfixturevalue("ferretdb").url)
    return ["--uri-file", str(uri)]


# How each server reaches a backend of the stack (Loki and Tempo: their fakes, as neither can
# run here; Argo CD: the stack's own, in API mode over TLS); a new server adds its line here.
BACKEND_ARGS: dict[str, Callable[[pytest.FixtureRequest], list[str]]] = {
    "prometheus": _prometheus,
    "kubernetes": _kubernetes,
    "loki": _loki,
    "tempo": _tempo,
    "postgres": _postgres,
    "argocd": _argocd,
    "mongodb": _mongodb,
}


@pytest.fixture(scope="module")
def suite() -> Conformance:
    return install_conformance()


def test_every_server_has_a_backend_here() -> None:
    assert sorted(BACKEND_ARGS) == sorted(SERVERS)


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_server_passes_the_conformance_suite(
    name: str, suite: Conformance, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    spec = load_spec(name)
    policy: dict[str, Any] = yaml.safe_load(
        (files("autodevops.policies") / spec.default_policy).read_text()
    )
    role = policy["stdio_role"]
    tokens = [{"token": TOKEN, "subject": "conformance", "roles": [role]}]
    server = start_mcp_server(tmp_path, name, policy, tokens, *BACKEND_ARGS[name](request))
    try:
        with TokenProxy(server.url.removesuffix("/mcp"), TOKEN) as proxy:
            result = suite.run(
                "server",
                "--url",
                f"{proxy.url}/mcp",
                "--expected-failures",
                str(BASELINE),
                "--output-dir",
                str(tmp_path / "results"),
                timeout=SUITE_SECONDS,
            )
    finally:
        server.stop()
    summary = result.stdout[result.stdout.find("=== SUMMARY") :]
    assert result.returncode == 0, f"{summary}\n{result.stderr[-2000:]}"
    assert "dns-rebinding-protection" in result.stdout
