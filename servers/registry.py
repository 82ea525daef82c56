"""Server names to their specs, imported lazily so one server never pays for another."""

from __future__ import annotations

import importlib

from autodevops.servers.core.spec import ServerSpec

SERVERS = {
    "prometheus": "autodevops.servers.prometheus.server",
    "kubernetes": "autodevops.servers.kubernetes.server",
    "loki": "autodevops.servers.loki.server",
    "tempo": "autodevops.servers.tempo.server",
    "postgres": "autodevops.servers.postgres.server",
    "argocd": "autodevops.servers.argocd.server",
    "mongodb": "autodevops.servers.mongodb.server",
}


def load_spec(name: str) -> ServerSpec:
    if name not in SERVERS:
        raise KeyError(f"unknown server '{name}' (known: {', '.join(sorted(SERVERS))})")
    spec: ServerSpec = importlib.import_module(SERVERS[name]).SPEC
    return spec
