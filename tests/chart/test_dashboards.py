"""The Grafana dashboards: shipped as sidecar ConfigMaps when asked, and every panel's query
is valid PromQL over series the services export."""

from __future__ import annotations

import json
from typing import Any

from devstack.tools import Tools

from .helpers import CHART, render, split_docs
from .series import known_series, selected_names

DASHBOARDS = sorted((CHART / "files" / "dashboards").glob("*.json"))
# Grafana's variables, replaced by values PromQL accepts before parsing.
VARIABLES = {"$__rate_interval": "5m", "$server": "prometheus"}


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_every_panel_query_parses_and_reads_exported_series() -> None:
    assert [d.stem for d in DASHBOARDS] == ["jamie", "overview", "scarlet", "server"]
    known = known_series()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] == f"autodevops-{path.stem}"
        assert queries(dashboard), path.name
        for title, expr in queries(dashboard):
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{path.name} {title}: an unknown variable in {expr}"
            used = selected_names(expr)
            assert used and used <= known, f"{path.name} {title}: unknown {sorted(used - known)}"


def test_the_chart_ships_them_for_grafanas_sidecar_when_asked(tools: Tools) -> None:
    def maps(*values: str) -> dict[str, Any]:
        docs = split_docs(render(tools, "ops", *values))
        return {d["metadata"]["name"]: d for d in docs if "-dashboard-" in d["metadata"]["name"]}

    assert maps() == {}
    shipped = maps("dashboards.enabled=true", "dashboards.annotations.grafana_folder=Ops")
    assert set(shipped) == {f"autodevops-dashboard-{d.stem}" for d in DASHBOARDS}
    for path in DASHBOARDS:
        config_map = shipped[f"autodevops-dashboard-{path.stem}"]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Ops"}
        (content,) = config_map["data"].values()
        assert json.loads(content) == json.loads(path.read_text())
