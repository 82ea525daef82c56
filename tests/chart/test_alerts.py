"""The suite's own alert rules: valid for Prometheus, unit-tested with promtool, and written
over metric names the services really export."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client import generate_latest

from autodevops.servers.core.metrics import ServerMetrics
from devstack.tools import Tools

from .helpers import CHART, Doc, render, split_docs
from .series import known_series, selected_names, series_of

RULES = CHART / "files" / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    tested = promtool("test", "rules", str(UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_names = {
        case["alertname"]
        for group in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in group["alert_rule_test"]
    }
    assert tested_names == {rule["alert"] for rule in rules()}


def rules() -> list[dict[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_rule_reads_series_that_exist() -> None:
    known = known_series()
    for rule in rules():
        used = selected_names(rule["expr"])
        assert used, f"{rule['alert']}: selects no series"
        assert used <= known, f"{rule['alert']}: unknown series {sorted(used - known)}"


def test_a_running_server_exports_what_its_registry_declares(
    prometheus: Any, start_http_server: Any
) -> None:
    server = start_http_server(prometheus.url)
    scraped = series_of(httpx.get(f"{server.url}/metrics", timeout=10).text)
    declared = series_of(generate_latest(ServerMetrics("prometheus").registry).decode())
    assert declared and declared <= scraped


def test_the_chart_ships_the_rules_as_a_prometheus_rule_when_asked(tools: Tools) -> None:
    def rules_in(*values: str) -> list[Doc]:
        docs = split_docs(render(tools, "ops", *values))
        return [doc for doc in docs if doc["kind"] == "PrometheusRule"]

    assert rules_in() == []
    (shipped,) = rules_in("prometheusRule.enabled=true", "prometheusRule.labels.release=kps")
    assert shipped["metadata"]["labels"]["release"] == "kps"
    assert shipped["metadata"]["namespace"] == "ops"
    assert shipped["spec"] == yaml.safe_load(RULES.read_text())
