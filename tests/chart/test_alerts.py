"""The suite's own alert rules: valid for Prometheus, unit-tested with promtool, and written
over metric names the services really export."""

from __future__ import annotations

import subprocess
from pathlib import Path

import promql_parser as pql
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from autodevops.clients.jamie.metrics import JamieMetrics
from autodevops.clients.scarlet.api import Metrics as ScarletMetrics
from autodevops.servers.core.metrics import ServerMetrics
from autodevops.servers.prometheus.scope import _all_selectors as all_selectors
from devstack.tools import Tools

from .helpers import CHART, Doc, render, split_docs

RULES = CHART / "files" / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")
# Series from Prometheus itself and from kube-state-metrics, which the rules also read.
EXTERNAL = {"up", "kube_cronjob_status_last_successful_time"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


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


def exported_series() -> set[str]:
    """The sample names of every metric family the servers, Scarlet and Jamie expose."""
    registries: list[CollectorRegistry] = [
        ServerMetrics("prometheus").registry,
        ScarletMetrics().registry,
        JamieMetrics().registry,
    ]
    names: set[str] = set()
    for registry in registries:
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def rules() -> list[dict[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def selected_names(expr: str) -> set[str]:
    return {selector.name for selector in all_selectors(pql.parse(expr)) if selector.name}


def test_every_rule_reads_series_that_exist() -> None:
    known = exported_series() | EXTERNAL
    for rule in rules():
        used = selected_names(rule["expr"])
        assert used, f"{rule['alert']}: selects no series"
        assert used <= known, f"{rule['alert']}: unknown series {sorted(used - known)}"


def test_the_chart_ships_the_rules_as_a_prometheus_rule_when_asked(tools: Tools) -> None:
    def rules_in(*values: str) -> list[Doc]:
        docs = split_docs(render(tools, "ops", *values))
        return [doc for doc in docs if doc["kind"] == "PrometheusRule"]

    assert rules_in() == []
    (shipped,) = rules_in("prometheusRule.enabled=true", "prometheusRule.labels.release=kps")
    assert shipped["metadata"]["labels"]["release"] == "kps"
    assert shipped["metadata"]["namespace"] == "ops"
    assert shipped["spec"] == yaml.safe_load(RULES.read_text())
