"""Which analyzers a run uses, in order. Adding one is one line here (see the README)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import alerts, endpoints, pods, references, scheduling, workloads
from .findings import Finding
from .reader import Reader

Analyzer = Callable[[Reader], Awaitable[list[Finding]]]

ANALYZERS: list[Analyzer] = [
    pods.crashloops,
    pods.oom_kills,
    pods.image_pulls,
    scheduling.pending,
    references.missing_config,
    workloads.rollouts,
    endpoints.services,
    alerts.alerts,
]
