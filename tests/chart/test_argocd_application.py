"""The Argo CD Application example that installs the chart by GitOps: accepted by a
server-side dry run against Argo CD's own CRDs, and its values render the chart."""

from __future__ import annotations

from pathlib import Path

import yaml

from devstack.argocd import install_crds
from devstack.kube import KubeHandle
from devstack.tools import Tools

from .helpers import CHART, find, name_of, render, split_docs

EXAMPLE = CHART.parent / "examples" / "argocd-application.yaml"


def test_the_example_passes_a_server_side_dry_run(cluster: KubeHandle) -> None:
    install_crds(cluster)
    cluster.kubectl("create", "namespace", "argocd", check=False)
    result = cluster.kubectl("apply", "--dry-run=server", "-o", "yaml", "-f", str(EXAMPLE))
    stored = yaml.safe_load(result.stdout)
    assert stored["kind"] == "Application" and stored["metadata"]["namespace"] == "argocd"
    # What the API server would store (defaults and schema pruning applied) keeps our fields.
    assert stored["spec"]["source"]["helm"]["valuesObject"]["servers"]["argocd"] == {
        "enabled": True
    }
    assert stored["spec"]["syncPolicy"]["syncOptions"] == [
        "CreateNamespace=true",
        "ServerSideApply=true",
    ]
    absent = cluster.kubectl("-n", "argocd", "get", "application", "autodevops", check=False)
    assert absent.returncode != 0 and "NotFound" in absent.stderr


def test_a_wrong_field_is_refused_by_the_crd(cluster: KubeHandle, tmp_path: Path) -> None:
    install_crds(cluster)
    cluster.kubectl("create", "namespace", "argocd", check=False)
    app = yaml.safe_load(EXAMPLE.read_text())
    app["spec"]["syncPolicy"]["automated"]["prune"] = "sometimes"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(app))
    result = cluster.kubectl("apply", "--dry-run=server", "-f", str(broken), check=False)
    assert result.returncode != 0 and "spec.syncPolicy.automated.prune" in result.stderr


def test_its_values_render_the_chart(tools: Tools, tmp_path: Path) -> None:
    app = yaml.safe_load(EXAMPLE.read_text())
    helm = app["spec"]["source"]["helm"]
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(helm["valuesObject"]))
    docs = split_docs(
        render(
            tools, app["spec"]["destination"]["namespace"], str(values), release=helm["releaseName"]
        )
    )
    for component in ("prometheus", "kubernetes", "argocd", "scarlet"):
        find(docs, "Deployment", name_of(component, helm["releaseName"]))
    role = find(docs, "Role", name_of("argocd", helm["releaseName"]))
    assert role["metadata"]["namespace"] == "argocd"
    assert app["spec"]["source"]["path"] == str(CHART.relative_to(CHART.parents[1]))
