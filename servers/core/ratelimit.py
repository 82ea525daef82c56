"""Calls per minute, per (actor, subject), with a ceiling per actor; memory stays bounded.

Per process on purpose: each replica bounds its own load; a cluster-wide quota belongs in
the ingress or a shared store.

A caller acting for people (Jamie) is counted per person under its own name, so a person it
names never shares a count with a token's subject of the same name, and its ceiling bounds
what it may do for everyone together, however many people it invents. Each key holds two
counters (this window and the previous one, weighted by how much of it still overlaps), so a
key costs the same at any limit; the least recently used keys are dropped past `max_keys`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 10_000


@dataclass
class _Window:
    start: float
    current: int = 0
    previous: int = 0

    def estimate(self, now: float, length: float) -> float:
        self._advance(now, length)
        overlap = 1.0 - (now - self.start) / length
        return self.previous * overlap + self.current

    def _advance(self, now: float, length: float) -> None:
        passed = int((now - self.start) // length)
        if passed >= 1:
            self.previous = self.current if passed == 1 else 0
            self.current = 0
            self.start += passed * length


class RateLimiter:
    def __init__(self, window_seconds: float = 60.0, max_keys: int = MAX_KEYS) -> None:
        self._window = window_seconds
        self._max_keys = max_keys
        self._keys: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def allow(self, subject: str, per_window: int, now: float | None = None) -> bool:
        """One call by a caller acting for itself."""
        return self.allow_call(None, subject, per_window, None, now) is None

    def allow_call(
        self,
        actor: str | None,
        subject: str,
        per_window: int,
        actor_per_window: int | None,
        now: float | None = None,
    ) -> str | None:
        """Count one call and return None, or say which limit refused it (nothing counted)."""
        moment = time.monotonic() if now is None else now
        person = self._entry((actor or "", subject), moment)
        if person.estimate(moment, self._window) >= per_window:
            return "subject"
        ceiling = None
        if actor is not None and actor_per_window is not None:
            ceiling = self._entry((actor, ""), moment)
            if ceiling.estimate(moment, self._window) >= actor_per_window:
                return "actor"
            ceiling.current += 1
        person.current += 1
        return None

    def _entry(self, key: tuple[str, str], moment: float) -> _Window:
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = _Window(moment)
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        return entry

    def __len__(self) -> int:
        return len(self._keys)
