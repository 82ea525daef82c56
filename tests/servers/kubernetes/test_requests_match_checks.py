"""A request is exactly what its check approved: manifests name only what discovery serves,
paths cannot be bent, built-in kinds cannot be shadowed, kind scopes match every spelling."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.services import audit_lines
from tests.mcp_helpers import call_text
from tests.servers.kubernetes.hardening_objects import NS, session


@pytest.fixture(scope="module")
def cluster(hardened: Any) -> Any:
    return hardened


@pytest.fixture
async def writer(cluster: Any, tmp_path: Path) -> AsyncIterator[Any]:
    async with session(cluster, "writer", tmp_path) as s:
        yield s


def config_map(api_version: str = "v1", metadata: str = f"{{name: cm1, namespace: {NS}}}") -> str:
    return f"apiVersion: {api_version}\nkind: ConfigMap\nmetadata: {metadata}\ndata: {{a: b}}\n"


@pytest.mark.parametrize(
    "api_version",
    [
        "'v1/namespaces/kt-a/secrets/db?dryRun=All#'",
        "'apps/v1%2F..%2F..%2Fapi%2Fv1'",
        "'v1/../../api/v1/namespaces/kt-a'",
        "'/v1'",
        "v2",
        "apps/v1",
    ],
)
async def test_apply_refuses_api_versions_discovery_does_not_serve(
    writer: Any, cluster: Any, api_version: str
) -> None:
    client, audit = writer
    text, error = await call_text(
        client, "apply_manifest", {"manifest": config_map(api_version), "dry_run": True}
    )
    assert error and "is not served by this cluster" in text, text
    assert "(served: v1 ConfigMap)" in text
    assert audit_lines(audit)[-1]["reason"] == "invalid_arguments"
    found = cluster.kubectl("-n", NS, "get", "configmap", "cm1", check=False)
    assert found.returncode != 0


async def test_apply_accepts_a_served_version_that_is_not_the_preferred_one(
    writer: Any,
) -> None:
    client, _ = writer
    manifest = f"""
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {{name: envy, namespace: {NS}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: envy}}
  maxReplicas: 3
"""
    text, error = await call_text(client, "apply_manifest", {"manifest": manifest, "dry_run": True})
    assert not error, text
    assert text == f"[dry run, nothing changed] HorizontalPodAutoscaler {NS}/envy applied"


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (config_map(metadata="{name: cm1, namespace: 123}"), "metadata.namespace must be a "
         "string, got int"),
        (config_map(metadata="{name: cm1, namespace: [kt-h]}"), "metadata.namespace must be a "
         "string, got list"),
        (config_map(metadata="[x]"), "metadata must be a mapping, got list"),
        (config_map(metadata="{namespace: kt-h}"), "metadata.name must be a non-empty string, "
         "got nothing"),
        (config_map(metadata="{name: {a: b}}"), "metadata.name must be a non-empty string, "
         "got mapping"),
        ("- a\n- b\n", "document 1 is a list, not a mapping"),
        ("apiVersion: v1\nkind: 7\nmetadata: {name: x}\n", "kind must be a non-empty string"),
        (config_map() + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: ''\n",
         "document 2: metadata must be a mapping, got an empty string"),
    ],
)  # fmt: skip
async def test_malformed_metadata_is_refused_naming_the_field(
    writer: Any, manifest: str, message: str
) -> None:
    client, audit = writer
    text, error = await call_text(client, "apply_manifest", {"manifest": manifest})
    assert error and text.startswith("invalid argument 'manifest': ") and message in text, text
    assert audit_lines(audit)[-1]["reason"] == "invalid_arguments"


@pytest.mark.parametrize(
    "manifest",
    [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: cm1, namespace: kt-h}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm1}\ndata: {a: &x b, c: *x}\n",
        "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
    ],
)
async def test_yaml_anchors_and_aliases_are_refused(writer: Any, manifest: str) -> None:
    client, _ = writer
    text, error = await call_text(client, "apply_manifest", {"manifest": manifest})
    assert error and "anchors and aliases" in text, text


async def test_a_refused_secret_leaves_no_value_in_the_audit_log(writer: Any) -> None:
    client, audit = writer
    manifest = f"""
apiVersion: v1
kind: Secret
metadata: {{name: leak, namespace: {NS}}}
stringData: {{note: plain-leak-1, password: plain-leak-2}}
data: {{other: cGxhaW4tbGVhay0z}}
"""
    text, error = await call_text(client, "apply_manifest", {"manifest": manifest})
    assert error and "kind Secret is outside your scope" in text
    line = audit.read_text().splitlines()[-1]
    for leak in ("plain-leak-1", "plain-leak-2", "cGxhaW4tbGVhay0z"):
        assert leak not in line, line
    assert (
        "<hidden: 12 bytes>" in line and "leak" in audit_lines(audit)[-1]["arguments"]["manifest"]
    )
    broken = manifest + "  bad: [\n"
    await call_text(client, "apply_manifest", {"manifest": broken})
    line = audit.read_text().splitlines()[-1]
    assert "plain-leak" not in line and "cGxhaW4tbGVhay0z" not in line, line


async def test_built_in_groups_win_over_a_custom_resource_of_the_same_kind(
    writer: Any,
) -> None:
    client, _ = writer
    for kind in ("Deployment", "deployments", "deploy", "DEPLOYMENT"):
        text, error = await call_text(
            client, "get_resource", {"kind": kind, "name": "envy", "namespace": NS}
        )
        assert not error and text.startswith("kind: Deployment\napiVersion: apps/v1"), text
        assert yaml.safe_load(text)["metadata"]["name"] == "envy", "the YAML stays whole"
        text, error = await call_text(
            client, "describe", {"kind": kind, "name": "envy", "namespace": NS}
        )
        assert not error and text.startswith(f"Deployment {NS}/envy"), text
        assert text.endswith(
            f"'{kind}' is Deployment.apps; also served as Deployment.aaa-shadow.example.com "
            "(name one as kind.group)"
        )
    text, error = await call_text(
        client, "list_resources", {"kind": "deploy", "namespace": NS, "output": "json"}
    )
    assert json.loads(text)["notes"] == [
        "'deploy' is Deployment.apps; also served as Deployment.aaa-shadow.example.com "
        "(name one as kind.group)"
    ]
    text, error = await call_text(client, "list_resources", {"kind": "events", "namespace": NS})
    assert not error and "also served" not in text, "Kubernetes' own duplicates need no note"
    text, error = await call_text(
        client,
        "scale",
        {"name": "envy", "namespace": NS, "replicas": 2, "dry_run": True},
    )
    assert not error and "'Deployment' is Deployment.apps" in text, text
    text, error = await call_text(
        client, "list_resources", {"kind": "deployments.aaa-shadow.example.com", "namespace": NS}
    )
    assert not error and "also served" not in text, text


async def test_two_custom_groups_with_one_name_are_refused_listing_both(writer: Any) -> None:
    client, _ = writer
    text, error = await call_text(client, "list_resources", {"kind": "gadget", "namespace": NS})
    assert error and text == (
        "invalid argument 'kind': 'gadget' is served by several groups "
        "(gadgets.one.example.com, gadgets.two.example.com); name one"
    )
    text, error = await call_text(
        client, "list_resources", {"kind": "Gadgets.One.Example.Com", "namespace": NS}
    )
    assert not error and "g1" in text, text


@pytest.mark.parametrize("role", ["deny-0", "deny-1", "deny-2"])
@pytest.mark.parametrize("kind", ["Secret", "secrets", "secret", "SECRETS", "secrets.v1"])
async def test_kind_denials_match_every_spelling(
    cluster: Any, tmp_path: Path, role: str, kind: str
) -> None:
    kind = "secrets" if kind == "secrets.v1" else kind
    async with session(cluster, role, tmp_path) as (client, _):
        text, error = await call_text(
            client, "get_resource", {"kind": kind, "name": "db", "namespace": NS}
        )
        assert error and text == "kind Secret is outside your scope", text
        text, error = await call_text(
            client, "get_resource", {"kind": "configmaps", "name": "nope", "namespace": NS}
        )
        assert "outside your scope" not in text


async def test_a_short_name_in_a_denial_denies_the_kind(cluster: Any, tmp_path: Path) -> None:
    async with session(cluster, "deny-3", tmp_path) as (client, _):
        text, error = await call_text(
            client, "list_resources", {"kind": "deployments.apps", "namespace": NS}
        )
        assert error and text == "kind Deployment.apps is outside your scope", text
