"""A configuration file read again when it changes, so a rotated Kubernetes Secret (Jamie's
users, Scarlet's API tokens) applies without a restart.

A changed file that does not load is logged and the last good content stays in force: a
half-written update must not lock everyone out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from .config import ConfigError

T = TypeVar("T")
Signature = tuple[int, int, int] | None


def signature(path: Path) -> Signature:
    """What changes when the file is replaced or rewritten (a Secret update swaps a symlink)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ino, stat.st_size


class WatchedFile(Generic[T]):
    """`load` reads the file once (a `ConfigError` then stops the start); `current` re-reads it
    when its signature changed."""

    def __init__(self, path: Path, parse: Callable[[Path], T], log: logging.Logger) -> None:
        self.path = path
        self._parse = parse
        self._log = log
        self._lock = threading.Lock()
        self._signature = signature(path)
        self._value = parse(path)

    def current(self) -> T:
        with self._lock:
            now = signature(self.path)
            if now != self._signature:
                self._signature = now
                try:
                    self._value = self._parse(self.path)
                except ConfigError as exc:
                    self._log.warning(
                        "%s not reloaded, the previous content stays in force: %s", self.path, exc
                    )
                else:
                    self._log.info("%s reloaded", self.path)
            return self._value
