"""Jaeger v2 (built from its Go module) as the OTLP receiver of the suite's own traces.

In-memory storage, OTLP over HTTP in, the query API out, every port on loopback and chosen at
start; no telemetry of its own is served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import base, install

NAME = "jaeger"


@dataclass
class JaegerHandle:
    """A running Jaeger: ``otlp_url`` receives OTLP/HTTP (`/v1/traces`), ``query_url`` serves
    the query API (`/api/services`, `/api/traces`)."""

    otlp_url: str
    query_url: str
    proc: base.Proc
    state_dir: Path

    def env(self) -> dict[str, str]:
        return {"JAEGER_OTLP_URL": self.otlp_url, "JAEGER_QUERY_URL": self.query_url}

    def traces(self, service: str, **params: Any) -> list[dict[str, Any]]:
        """Traces with a span of `service`, as Jaeger's query API returns them."""
        response = httpx.get(
            f"{self.query_url}/api/traces", params={"service": service, **params}, timeout=10
        )
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json().get("data") or []
        return data

    def stop(self) -> None:
        self.proc.stop()
        base.forget(self.state_dir, NAME)


def _config(ports: dict[str, int]) -> dict[str, Any]:
    def at(port: str) -> str:
        return f"{base.LOOPBACK}:{ports[port]}"

    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": at("health")}},
            "jaeger_query": {
                "storage": {"traces": "memory"},
                "http": {"endpoint": at("query")},
                "grpc": {"endpoint": at("query_grpc")},
            },
            "jaeger_storage": {"backends": {"memory": {"memory": {"max_traces": 100000}}}},
        },
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": at("otlp")}}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory"}},
    }


def _ready(query_port: int) -> bool:
    response = httpx.get(f"http://{base.LOOPBACK}:{query_port}/api/services", timeout=2)
    return response.status_code == 200


def start(state_dir: Path) -> JaegerHandle:
    state_dir = Path(state_dir).resolve()
    exe = install.go_build(install.JAEGER)
    ports = {name: base.free_port() for name in ("otlp", "query", "query_grpc", "health")}
    workdir = state_dir / NAME
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.json"
    config.write_text(json.dumps(_config(ports), indent=1))
    proc = base.spawn(NAME, [str(exe), f"--config={config}"], state_dir, ports=ports)
    handle = JaegerHandle(
        f"http://{base.LOOPBACK}:{ports['otlp']}",
        f"http://{base.LOOPBACK}:{ports['query']}",
        proc,
        state_dir,
    )
    return base.serving(
        handle,
        proc,
        state_dir,
        lambda: base.wait_until(
            proc,
            lambda: base.port_open(ports["otlp"]) and _ready(ports["query"]),
            timeout=60,
            what="serving OTLP and its query API",
        ),
    )


def attach(state_dir: Path) -> JaegerHandle | None:
    state_dir = Path(state_dir).resolve()
    proc = base.load(state_dir, NAME)
    if not proc or not proc.alive() or not base.port_open(proc.ports.get("otlp", 0)):
        return None
    return JaegerHandle(
        f"http://{base.LOOPBACK}:{proc.ports['otlp']}",
        f"http://{base.LOOPBACK}:{proc.ports['query']}",
        proc,
        state_dir,
    )
