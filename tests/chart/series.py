"""The series the suite's alerts and dashboards may read: what the servers, Scarlet and Jamie
export (their registries render exactly what a scrape returns), plus Prometheus's own `up`
and kube-state-metrics' CronJob times."""

from __future__ import annotations

import promql_parser as pql
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from autodevops.clients.jamie.metrics import JamieMetrics
from autodevops.clients.scarlet.api import Metrics as ScarletMetrics
from autodevops.servers.core.metrics import ServerMetrics
from autodevops.servers.prometheus.scope import _all_selectors as all_selectors

EXTERNAL = {"up", "kube_cronjob_status_last_successful_time"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def known_series() -> set[str]:
    registries: list[CollectorRegistry] = [
        ServerMetrics("prometheus").registry,
        ScarletMetrics().registry,
        JamieMetrics().registry,
    ]
    names = set(EXTERNAL)
    for registry in registries:
        names |= series_of(generate_latest(registry).decode())
    return names


def series_of(exposition: str) -> set[str]:
    """The sample names an exposition declares, whether or not a sample was observed yet."""
    return {
        family.name + suffix
        for family in text_string_to_metric_families(exposition)
        for suffix in SUFFIXES[family.type]
    }


def selected_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects, read by the same parser the Prometheus
    server uses."""
    return {selector.name for selector in all_selectors(pql.parse(expr)) if selector.name}
