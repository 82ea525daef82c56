"""Caller patterns: RE2 in linear time, matched off the event loop."""

from __future__ import annotations

import threading
import time

import pytest

from autodevops.servers.core.errors import InvalidArgument
from autodevops.servers.core.safe_regex import (
    SafePattern,
    check_pattern,
    compile_pattern,
    matching_lines,
)

HOSTILE = [r"^(?:.|.){25}!", r"(a+)+$", r"(x+x+)+y", r"^(\w+\s?)*$"]


@pytest.mark.parametrize("pattern", HOSTILE)
async def test_backtracking_patterns_run_in_linear_time(pattern: str) -> None:
    compiled = compile_pattern("grep", pattern)
    lines = ["a" * 5000, "x" * 5000, "word " * 1000 + "!"] * 20
    started = time.perf_counter()
    await matching_lines(compiled, lines)
    assert time.perf_counter() - started < 1.0


async def test_matching_runs_off_the_event_loop() -> None:
    threads: set[int] = set()

    class Recording:
        def search(self, text: str) -> object:
            threads.add(threading.get_ident())
            return None

    await matching_lines(SafePattern("x", Recording()), ["a", "b"])
    assert threads and threading.get_ident() not in threads


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=x)y", r"(?<!x)y", "[", "x" * 1001])
def test_patterns_re2_cannot_take_are_refused_naming_the_field(pattern: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_pattern("grep", pattern)
    assert refused.value.field == "grep"


def test_matching_and_case() -> None:
    assert compile_pattern("grep", "ready$").search("x ready")
    assert not compile_pattern("grep", "READY").search("ready")
    assert compile_pattern("grep", "READY", ignore_case=True).search("ready")
