"""Caller-supplied regular expressions, matched in linear time and off the event loop.

Python's `re` backtracks: a pattern such as `^(?:.|.){25}!` takes seconds on a short line,
and a tool that ran it on the event loop would stall every other call and `/healthz` with
it. Every server that filters text by a caller's pattern compiles it here, with RE2 (no
backreferences or lookaround, so no backtracking), and matches in a worker thread. Servers
that hand a pattern to their backend (LogQL, `$regex`) can use `check_pattern` to refuse a
bad one with a clear message before the backend sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2

from .errors import InvalidArgument

MAX_PATTERN_CHARS = 1000
# RE2 bounds the memory of each compiled program; a pattern that needs more is refused.
MAX_PROGRAM_BYTES = 8 << 20


@dataclass(frozen=True)
class SafePattern:
    """A compiled RE2 pattern; `search` is linear in the text's length."""

    source: str
    _compiled: Any

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None


def compile_pattern(field: str, pattern: str, *, ignore_case: bool = False) -> SafePattern:
    """Compile with RE2 or refuse, naming the field and what RE2 could not accept."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidArgument(field, f"the pattern is longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    options.case_sensitive = not ignore_case
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InvalidArgument(
            field,
            f"not a valid RE2 regular expression ({reason}); backreferences and lookaround "
            "are not supported",
        ) from exc
    return SafePattern(pattern, compiled)


def check_pattern(field: str, pattern: str) -> None:
    """Refuse a pattern RE2 cannot compile, before it is passed on to a backend."""
    compile_pattern(field, pattern)


async def matching_lines(pattern: SafePattern, lines: Sequence[str]) -> list[str]:
    """The lines the pattern finds something in, matched in a worker thread."""
    return await asyncio.to_thread(lambda: [line for line in lines if pattern.search(line)])
