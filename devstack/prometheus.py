"""Prometheus (the Debian package) scraping the fixed-series exporter, with one rule file.

``start_prometheus`` gives a test its own, separately stoppable Prometheus; the session fixture
and ``stack up`` use the same function. It returns only once the exporter target is up, the
series are queryable, the recording rule has a value and the alert fires.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import base

NAME = "prometheus"
EXPORTER = "exporter"
ALERT = "AutodevopsTestHighErrors"
RECORD = "namespace:autodevops_test_requests:sum"
READY_TIMEOUT = 60.0

RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "autodevops-test",
            "interval": "1s",
            "rules": [
                {
                    "alert": ALERT,
                    "expr": 'autodevops_test_requests_total{code="500"} > 1',
                    "for": "0s",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "{{ $labels.namespace }} answers with errors",
                    },
                },
                {
                    "record": RECORD,
                    "expr": "sum by (namespace) (autodevops_test_requests_total)",
                },
            ],
        }
    ]
}


def binary() -> str:
    path = shutil.which("prometheus")
    if not path:
        raise base.ComponentError(
            "prometheus is not installed: run `python -m devstack install` "
            "(Debian package prometheus)"
        )
    return path


def config(prometheus_port: int, exporter_port: int) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"{base.LOOPBACK}:{prometheus_port}"]}],
            },
            {
                "job_name": "exporter",
                "static_configs": [{"targets": [f"{base.LOOPBACK}:{exporter_port}"]}],
            },
        ],
    }


def api(url: str, path: str, **params: str) -> Any:
    """GET a Prometheus API path and return its data, raising if the status is not success."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=5) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body}")
    return body["data"]


def _ready(url: str) -> bool:
    """Target up, series queryable, recording rule evaluated, alert firing."""
    with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
        if response.status != 200:
            return False
    targets = api(url, "/api/v1/targets")["activeTargets"]
    jobs = {t["labels"]["job"]: t["health"] for t in targets}
    if jobs.get("exporter") != "up" or jobs.get("prometheus") != "up":
        return False
    if len(api(url, "/api/v1/query", query="autodevops_test_requests_total")["result"]) < 6:
        return False
    if not api(url, "/api/v1/query", query=RECORD)["result"]:
        return False
    alerts = api(url, "/api/v1/alerts")["alerts"]
    return any(a["labels"]["alertname"] == ALERT and a["state"] == "firing" for a in alerts)


@dataclass
class PrometheusHandle:
    """A running Prometheus and its exporter; stop() ends both."""

    url: str
    exporter_url: str
    prometheus: base.Proc
    exporter: base.Proc
    state_dir: Path

    def env(self) -> dict[str, str]:
        return {"PROMETHEUS_URL": self.url}

    def alive(self) -> bool:
        return self.prometheus.alive() and self.exporter.alive()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; returns the result vector."""
        result: list[dict[str, Any]] = api(self.url, "/api/v1/query", query=promql)["result"]
        return result

    def stop(self) -> None:
        self.prometheus.stop()
        self.exporter.stop()
        base.forget(self.state_dir, NAME)
        base.forget(self.state_dir, EXPORTER)


def start_prometheus(state_dir: Path) -> PrometheusHandle:
    """Start an exporter and a Prometheus scraping it, data under state_dir; wait until ready."""
    state_dir = Path(state_dir).resolve()
    exe = binary()
    exporter_port = base.free_port()
    exporter = base.spawn(
        EXPORTER,
        [sys.executable, "-m", "devstack.exporter", "--port", str(exporter_port)],
        state_dir,
        ports={"http": exporter_port},
    )
    exporter_url = f"http://{base.LOOPBACK}:{exporter_port}"
    try:
        base.wait_until(
            exporter,
            lambda: base.port_open(exporter_port),
            timeout=20,
            what="listening",
        )
        prom_port = base.free_port()
        workdir = state_dir / NAME
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config(prom_port, exporter_port)))
        (workdir / "rules.yml").write_text(yaml.safe_dump(RULES, sort_keys=False))
        url = f"http://{base.LOOPBACK}:{prom_port}"
        prometheus = base.spawn(
            NAME,
            [
                exe,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={base.LOOPBACK}:{prom_port}",
                "--storage.tsdb.retention.time=1d",
            ],
            state_dir,
            ports={"http": prom_port},
        )
    except BaseException:
        exporter.stop()
        base.forget(state_dir, EXPORTER)
        raise
    handle = PrometheusHandle(url, exporter_url, prometheus, exporter, state_dir)
    try:
        base.wait_until(prometheus, lambda: _ready(url), timeout=READY_TIMEOUT, what="ready")
    except BaseException:
        handle.stop()
        raise
    prometheus.env = handle.env()
    base.save(state_dir, prometheus)
    return handle


def attach(state_dir: Path) -> PrometheusHandle | None:
    """The Prometheus already running for this state dir, if it still answers; else None."""
    state_dir = Path(state_dir).resolve()
    prometheus = base.load(state_dir, NAME)
    exporter = base.load(state_dir, EXPORTER)
    if not prometheus or not exporter or not (prometheus.alive() and exporter.alive()):
        return None
    url = f"http://{base.LOOPBACK}:{prometheus.ports['http']}"
    exporter_url = f"http://{base.LOOPBACK}:{exporter.ports['http']}"
    handle = PrometheusHandle(url, exporter_url, prometheus, exporter, state_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if _ready(url):
                return handle
        except Exception:  # not ready yet
            pass
        time.sleep(0.5)
    return None
