"""Proof that the stack's Prometheus is real: it scrapes the exporter and evaluates the rules."""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import pytest

from devstack.prometheus import ALERT, RECORD, PrometheusHandle, api, start_prometheus


def _by_labels(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"][k] for k in labels): float(r["value"][1]) for r in result}


def test_exporter_series_are_queryable(prometheus: PrometheusHandle) -> None:
    requests = prometheus.query("autodevops_test_requests_total")
    assert _by_labels(requests, "namespace", "code") == {
        ("team-a", "200"): 100,
        ("team-a", "500"): 5,
        ("team-b", "200"): 200,
        ("team-b", "500"): 10,
        ("kube-system", "200"): 1000,
        ("kube-system", "500"): 0,
    }
    assert {r["metric"]["job"] for r in requests} == {"exporter"}
    queue = prometheus.query("autodevops_test_queue_depth")
    assert _by_labels(queue, "namespace") == {("team-a",): 3, ("team-b",): 7, ("kube-system",): 0}
    note = prometheus.query("autodevops_test_secret_note")
    assert [r["metric"]["note"] for r in note] == ["password=hunter2"]


def test_prometheus_scrapes_itself(prometheus: PrometheusHandle) -> None:
    up = _by_labels(prometheus.query("up"), "job")
    assert up == {("prometheus",): 1, ("exporter",): 1}


def test_help_text_is_in_metadata(prometheus: PrometheusHandle) -> None:
    meta = api(prometheus.url, "/api/v1/metadata", metric="autodevops_test_requests_total")
    assert meta["autodevops_test_requests_total"][0]["help"] == (
        "Requests handled, by namespace and code"
    )


def test_rules_record_and_fire(prometheus: PrometheusHandle) -> None:
    recorded = _by_labels(prometheus.query(RECORD), "namespace")
    assert recorded == {("team-a",): 105, ("team-b",): 210, ("kube-system",): 1000}
    alerts = api(prometheus.url, "/api/v1/alerts")["alerts"]
    firing = {a["labels"]["namespace"] for a in alerts if a["labels"]["alertname"] == ALERT}
    assert firing == {"team-a", "team-b"}
    assert all(a["state"] == "firing" and a["labels"]["severity"] == "warning" for a in alerts)


def test_private_prometheus_stops(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    handle = start_prometheus(tmp_path)
    assert handle.query("up")
    handle.stop()
    assert not handle.alive()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        handle.query("up")
