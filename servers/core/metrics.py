"""Prometheus metrics for a server: calls by tool and outcome, latency, denials by reason."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class ServerMetrics:
    """A registry per server instance, so tests and several servers in one process don't mix."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "autodevops_mcp_calls",
            "Tool calls by server, tool and outcome.",
            ["server", "tool", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "autodevops_mcp_call_duration_seconds",
            "Tool call latency, gate included.",
            ["server", "tool"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.denials = Counter(
            "autodevops_mcp_denials",
            "Calls refused by the gate, by reason.",
            ["server", "reason"],
            registry=self.registry,
        )

    def observe(self, tool: str, outcome: str, seconds: float, denial: str | None) -> None:
        self.calls.labels(self.server, tool, outcome).inc()
        self.latency.labels(self.server, tool).observe(seconds)
        if denial is not None:
            self.denials.labels(self.server, denial).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
