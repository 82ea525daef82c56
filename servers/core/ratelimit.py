"""Calls per minute per subject: a sliding one-minute window kept in memory.

Per process on purpose: each replica bounds its own load; a cluster-wide quota belongs in
the ingress or a shared store.
"""

from __future__ import annotations

import time
from collections import deque


class RateLimiter:
    def __init__(self, window_seconds: float = 60.0) -> None:
        self._window = window_seconds
        self._calls: dict[str, deque[float]] = {}

    def allow(self, subject: str, per_window: int, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        calls = self._calls.setdefault(subject, deque())
        while calls and moment - calls[0] >= self._window:
            calls.popleft()
        if len(calls) >= per_window:
            return False
        calls.append(moment)
        return True
