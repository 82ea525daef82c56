"""Which analyzers a run uses, in order: an analyzer may explain what an earlier one found
(`Reader.findings`), so causes come before the symptoms they explain. Adding one is one line
here (see the README)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import alerts, endpoints, jobs, pods, references, scheduling, workloads
from .findings import Finding
from .reader import Reader

Analyzer = Callable[[Reader], Awaitable[list[Finding]]]

ANALYZERS: list[Analyzer] = [
    pods.crashloops,
    pods.oom_kills,
    pods.image_pulls,
    pods.readiness,
    scheduling.pending,
    references.missing_config,
    workloads.rollouts,
    jobs.jobs,
    jobs.cronjobs,
    endpoints.services,
    alerts.alerts,
]
