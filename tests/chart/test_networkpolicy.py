"""Default deny, then only the flows each component needs."""

from __future__ import annotations

import yaml

from devstack.tools import Tools

from .flows import HOME, Pod, allowed, flows, release_pod
from .helpers import (
    ALL_VALUES,
    INGRESS_NGINX,
    RELEASE,
    SERVERS,
    Doc,
    chart_values,
    find,
    network_policy,
    ports_of,
    render,
    selects,
    split_docs,
)


def test_network_policies_allow_only_the_needed_flows(all_docs: list[Doc]) -> None:
    values = yaml.safe_load(ALL_VALUES.read_text())
    deny = find(all_docs, "NetworkPolicy", f"{RELEASE}-default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "autodevops",
        "app.kubernetes.io/instance": RELEASE,
    }
    dns = {("UDP", 53), ("TCP", 53)}
    api_server = [{"ipBlock": {"cidr": c}} for c in values["networkPolicy"]["apiServer"]["cidrs"]]

    scarlet = network_policy(all_docs, "scarlet")
    egress = scarlet["egress"]
    assert ports_of(egress[0]) == dns
    to_servers = {s for s in SERVERS for r in egress if any(selects(p, s) for p in r["to"])}
    assert to_servers == set(SERVERS)
    by_port = {tuple(sorted(ports_of(r))): r.get("to") for r in egress}
    database = by_port[(("TCP", 5432),)]
    assert database == [
        {k: v for k, v in values["scarlet"]["database"].items() if k.endswith("Selector")}
    ]
    assert by_port[(("TCP", 11434),)] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ollama"}}}
    ]
    assert by_port[(("TCP", 6443),)] == api_server  # the schedules' Lease
    assert len(egress) == 4 + len(SERVERS)  # DNS, each server, database, Ollama, Lease
    assert {tuple(ports_of(r)) for r in scarlet["ingress"]} == {(("TCP", 8001),), (("TCP", 9001),)}

    for server in SERVERS:
        policy = network_policy(all_docs, server)
        callers = [r for r in policy["ingress"] if any(selects(p, "scarlet") for p in r["from"])]
        assert len(callers) == 1 and ports_of(callers[0]) == {("TCP", 8080)}
        assert all(ports_of(r) == {("TCP", 8080)} for r in policy["ingress"])
        assert ports_of(policy["egress"][0]) == dns
        assert len(policy["egress"]) == 2
        backend = policy["egress"][1]
        if chart_values(ALL_VALUES)["servers"][server].get("apiServer"):  # argocd: core mode
            assert backend["to"] == api_server and ports_of(backend) == {("TCP", 6443)}
        elif server == "loki":
            assert backend["to"] == [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "loki"}},
                }
            ]
            assert ports_of(backend) == {("TCP", 3100)}
        elif server == "tempo":
            assert ports_of(backend) == {("TCP", 3200)}
            assert backend["to"][0]["podSelector"] == {
                "matchLabels": {"app.kubernetes.io/name": "tempo"}
            }
        elif server == "postgres":
            assert backend["to"] == [
                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}}}
            ]
            assert ports_of(backend) == {("TCP", 5432)}
        else:
            peer = values["servers"][server]["backend"]
            assert backend["to"] == [{"ipBlock": {"cidr": c}} for c in peer["cidrs"]]
            assert ports_of(backend) == {("TCP", port) for port in peer["ports"]}
    ide = values["servers"]["prometheus"]["ingressFrom"]
    assert [r["from"] for r in network_policy(all_docs, "prometheus")["ingress"]].count(ide) == 1
    assert ide not in [r["from"] for r in network_policy(all_docs, "kubernetes")["ingress"]]


def test_jamie_network_paths(all_docs: list[Doc], tools: Tools) -> None:
    jamie = release_pod("jamie")
    controller = INGRESS_NGINX
    assert flows(all_docs, controller, jamie, 3000)
    assert not flows(all_docs, controller, jamie, 8000)
    assert not flows(all_docs, controller, jamie, 9000)
    team_a = {"kubernetes.io/metadata.name": "team-a"}
    strangers: list[Pod] = [
        release_pod("scarlet"),
        release_pod("kubernetes"),
        (HOME, {"app": "web"}),
        (team_a, {}),
        (INGRESS_NGINX[0], {"app.kubernetes.io/name": "cert-manager-solver"}),
        (team_a, INGRESS_NGINX[1]),  # the controller's labels, in another namespace
    ]
    for stranger in strangers:
        assert not flows(all_docs, stranger, jamie, 3000), stranger
    # The API alone (8000): only jamie.apiFrom.
    bridge = (HOME, {"app.kubernetes.io/name": "chatops-bridge"})
    assert flows(all_docs, bridge, jamie, 8000)
    assert not flows(all_docs, bridge, jamie, 3000)
    assert not flows(all_docs, release_pod("scarlet"), jamie, 8000)
    # Metrics (9000): the monitoring namespace's scrapers, nobody else.
    scraper = ({"kubernetes.io/metadata.name": "monitoring"}, {"app": "prometheus"})
    assert flows(all_docs, scraper, jamie, 9000)
    assert not flows(all_docs, scraper, jamie, 3000)
    assert not flows(all_docs, bridge, jamie, 9000)
    for server in SERVERS:
        assert flows(all_docs, jamie, release_pod(server), 8080), server
        assert not flows(all_docs, controller, release_pod(server), 8080), server
    mongodb = ({"kubernetes.io/metadata.name": "databases"}, {"app.kubernetes.io/name": "mongodb"})
    redis = (HOME, {"app.kubernetes.io/name": "redis"})
    ollama = ({"kubernetes.io/metadata.name": "ollama"}, {"app": "ollama"})
    for backend, port in ((mongodb, 27017), (redis, 6379), (ollama, 11434)):
        assert allowed(all_docs, "Egress", jamie, backend, port), backend
        assert not allowed(all_docs, "Egress", jamie, backend, port + 1), backend
    assert not allowed(all_docs, "Egress", jamie, (HOME, {"app.kubernetes.io/name": "x"}), 27017)
    # Scarlet's agent API, for the portal's runs and approvals; Jamie's only way in there.
    assert flows(all_docs, jamie, release_pod("scarlet"), 8001)
    assert not flows(all_docs, jamie, release_pod("scarlet"), 9001)
    assert not flows(all_docs, release_pod("kubernetes"), release_pod("scarlet"), 8001)
    apart = split_docs(render(tools, "autodevops", str(ALL_VALUES), "jamie.scarlet.enabled=false"))
    assert not flows(apart, jamie, release_pod("scarlet"), 8001)
    dns = ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
    assert allowed(all_docs, "Egress", jamie, dns, 53)
    # The evaluator itself: Scarlet reaches the servers, and without Jamie nothing lets Jamie's
    # pods reach them (the default deny still selects them).
    assert flows(all_docs, release_pod("scarlet"), release_pod("kubernetes"), 8080)
    without = split_docs(render(tools, "autodevops", str(ALL_VALUES), "jamie.enabled=false"))
    assert not flows(without, jamie, release_pod("kubernetes"), 8080)
    assert not flows(without, controller, jamie, 3000)


def test_network_policies_can_be_turned_off(tools: Tools) -> None:
    docs = split_docs(render(tools, "autodevops", "networkPolicy.enabled=false"))
    assert not [d for d in docs if d["kind"] == "NetworkPolicy"]
