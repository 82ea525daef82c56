"""Every pod: locked down, probed on its health ports, sized, and with an API token only
where it calls the API server."""

from __future__ import annotations

import yaml

from devstack.tools import Tools

from .helpers import (
    ALL_VALUES,
    ON_BY_DEFAULT,
    SERVERS,
    Doc,
    chart_values,
    find,
    name_of,
    pod_specs,
    render,
    split_docs,
)


def test_every_pod_is_restricted_and_read_only(all_docs: list[Doc]) -> None:
    values = chart_values(ALL_VALUES)
    for component, pod in pod_specs(all_docs).items():
        entry = values["servers"][component] if component in SERVERS else values[component]
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] > 0
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        tmp = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0]
        assert all("hostPath" not in v for v in pod["volumes"])
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, component
            assert sc["readOnlyRootFilesystem"] is True, component
            assert sc["capabilities"] == {"drop": ["ALL"]}, component
            assert sc["runAsNonRoot"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"] == entry["resources"], component


def test_probes_on_the_health_ports(all_docs: list[Doc]) -> None:
    pods = pod_specs(all_docs)
    for server in SERVERS:
        container = pods[server]["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    agents = {
        "scarlet": {"health": 8080, "api": 8001, "metrics": 9001},
        "jamie": {"portal": 3000, "api": 8000, "health": 9000},
    }
    for agent, ports in agents.items():
        container = pods[agent]["containers"][0]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == ports
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}


def test_default_sizing_follows_the_design(default_docs: list[Doc], tools: Tools) -> None:
    docs = split_docs(render(tools, "autodevops", "scarlet.enabled=true", "jamie.enabled=true"))
    scarlet = pod_specs(docs)["scarlet"]["containers"][0]["resources"]
    assert scarlet["requests"] == {"cpu": "4", "memory": "16Gi"}
    jamie = pod_specs(docs)["jamie"]["containers"][0]["resources"]
    assert jamie["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert jamie["requests"] == jamie["limits"]
    for server in ON_BY_DEFAULT:
        resources = pod_specs(default_docs)[server]["containers"][0]["resources"]
        assert resources["limits"] == {"cpu": "1", "memory": "512Mi"}


def test_tokens_only_where_the_api_server_is_called(all_docs: list[Doc], tools: Tools) -> None:
    pods = pod_specs(all_docs)
    accounts = {
        d["metadata"]["name"]: d["automountServiceAccountToken"]
        for d in all_docs
        if d["kind"] == "ServiceAccount"
    }
    for server in ("prometheus", "loki"):
        assert pods[server]["automountServiceAccountToken"] is False
        assert accounts[name_of(server)] is False
    assert pods["kubernetes"]["automountServiceAccountToken"] is True
    # Jamie never calls the API server.
    assert pods["jamie"]["automountServiceAccountToken"] is False
    assert accounts[name_of("jamie")] is False
    # Scarlet: only for its schedules' Lease.
    assert pods["scarlet"]["automountServiceAccountToken"] is True
    no_lease = split_docs(
        render(tools, "autodevops", str(ALL_VALUES), "scarlet.leaderElection.enabled=false")
    )
    assert pod_specs(no_lease)["scarlet"]["automountServiceAccountToken"] is False
    assert not [d for d in no_lease if d["kind"] in ("Role", "RoleBinding") and "leader" in str(d)]
    config = yaml.safe_load(
        find(no_lease, "ConfigMap", f"{name_of('scarlet')}-config")["data"]["scarlet.yaml"]
    )
    assert "leader_election" not in config
