"""The OTLP endpoint is one value: every component then exports its traces there and its
NetworkPolicy lets it; without it, nothing is sent and nothing is opened."""

from __future__ import annotations

from devstack.tools import Tools

from .helpers import ALL_VALUES, Doc, render, split_docs

ENDPOINT = "http://tempo-distributor.monitoring.svc:4318"


def _envs(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: {
            e["name"]: e.get("value", "")
            for c in d["spec"]["template"]["spec"]["containers"]
            for e in c.get("env", [])
        }
        for d in docs
        if d["kind"] == "Deployment"
    }


def _otlp_egress(docs: list[Doc]) -> dict[str, list[Doc]]:
    return {
        d["metadata"]["name"]: [
            rule for rule in d["spec"].get("egress", []) if {"protocol": "TCP", "port": 4318}
            in rule.get("ports", [])
        ]
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["spec"].get("egress")
    }  # fmt: skip


def test_an_otlp_endpoint_reaches_every_component(tools: Tools) -> None:
    docs = split_docs(
        render(tools, "autodevops", str(ALL_VALUES), f"telemetry.otlpEndpoint={ENDPOINT}")
    )
    envs = _envs(docs)
    assert len(envs) >= 5
    assert {env.get("OTEL_EXPORTER_OTLP_ENDPOINT") for env in envs.values()} == {ENDPOINT}
    egress = _otlp_egress(docs)
    assert set(envs) <= set(egress)
    for name, rules in egress.items():
        if name not in envs:  # the backup jobs send no traces
            assert rules == []
            continue
        assert rules == [
            {
                "ports": [{"protocol": "TCP", "port": 4318}],
                "to": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {}}],
            }
        ]  # fmt: skip


def test_without_an_endpoint_nothing_is_sent_or_opened(tools: Tools) -> None:
    docs = split_docs(render(tools, "autodevops", str(ALL_VALUES)))
    assert all("OTEL_EXPORTER_OTLP_ENDPOINT" not in env for env in _envs(docs).values())
    assert all(rules == [] for rules in _otlp_egress(docs).values())
