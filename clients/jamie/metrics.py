"""What Jamie counts for Prometheus (served on the health port, /metrics): sign-ins, questions
and how they ended, tool calls as seen by Jamie, confirmations, the tool cache, and whether
its stores and model answer (checked at each scrape, as /readyz checks them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

TURN_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class JamieMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sign_ins = Counter(
            "jamie_sign_ins",
            "Password sign-in attempts, by result (ok, wrong, limited).",
            ["result"],
            registry=self.registry,
        )
        self.questions = Counter(
            "jamie_questions",
            "Questions answered, by how the turn stopped (answer, steps, time, ...).",
            ["stop_reason"],
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "jamie_turn_seconds",
            "Time from a question to its final answer, confirmations included.",
            buckets=TURN_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "jamie_tool_calls",
            "Tool calls made for people, by server and outcome.",
            ["server", "outcome"],
            registry=self.registry,
        )
        self.confirmations = Counter(
            "jamie_confirmations",
            "Writes that asked a person, by decision "
            "(approved, cancelled, expired, abandoned, lost).",
            ["decision"],
            registry=self.registry,
        )
        self.tool_cache = Counter(
            "jamie_tool_cache",
            "Read-only tool results looked up in the cache, by result (hit, miss, unavailable).",
            ["result"],
            registry=self.registry,
        )

        self.dependency_up = Gauge(
            "jamie_dependency_up",
            "Whether a dependency answered at the last scrape (redis, mongodb, model).",
            ["dependency"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
