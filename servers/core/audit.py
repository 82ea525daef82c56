"""One JSON line per tool call, allowed or refused: who, what, when, decision, outcome.

`subject` is whom the call is for; `actor` is the caller acting for them, if any.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


@dataclass
class AuditRecord:
    subject: str
    roles: list[str]
    server: str
    tool: str
    arguments: dict[str, Any]
    decision: str
    reason: str
    outcome: str
    duration_ms: float = 0.0
    result_bytes: int = 0
    cut: bool = False
    transport: str = ""
    role: str | None = None
    actor: str | None = None
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))


STDOUT = Path("-")


class AuditLog:
    """Appends records to a file, stdout (`-`, where a log pipeline collects a container's
    output) or stderr; a line is written whole or not at all."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._stream: TextIO
        if path is None or path == STDOUT:
            self._stream = sys.stderr if path is None else sys.stdout
            self._owned = False
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = path.open("a", encoding="utf-8", buffering=1)
            self._owned = True

    def write(self, record: AuditRecord) -> None:
        # The record's fields are flat, so they are written as they are, without the deep
        # copy `asdict` makes of the arguments on every call.
        line = json.dumps(vars(record), separators=(",", ":"), default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()
