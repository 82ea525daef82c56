"""The Tempo the tests talk to: the fake by default; a real Tempo when TEMPO_URL is given.

With TEMPO_URL, TEMPO_OTLP_URL (its OTLP/HTTP receiver, e.g. http://tempo:4318) is required
too: the fixture traces are pushed there first, moved to the present, and the tests wait
until Tempo can find them. Tests of behaviours only a configured fake can show (an old
Tempo, multi-tenancy, a slow answer) always use the fake.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.fake_tempo import CHECKOUT, FakeTempo

POLICY: dict[str, Any] = {
    "server": "tempo",
    "stdio_role": "viewer",
    "roles": {
        "viewer": {"tools": ["*"], "scope": {"max_spans": 40}},
        "team-a": {"tools": ["*"], "scope": {"values": ["team-a"], "max_spans": 20}},
        "tenant-b": {"tools": ["*"], "scope": {"tenant": "tenant-b"}},
        "impatient": {"tools": ["*"], "limits": {"timeout_seconds": 1.0}},
    },
}


@pytest.fixture(scope="session")
def tempo_url() -> Iterator[str]:
    live = os.environ.get("TEMPO_URL")
    if not live:
        with FakeTempo() as fake:
            yield fake.url
        return
    otlp = os.environ.get("TEMPO_OTLP_URL")
    if not otlp:
        raise RuntimeError("TEMPO_URL is set: set TEMPO_OTLP_URL (Tempo's OTLP/HTTP receiver)")
    with FakeTempo() as fake:  # the fixtures, already moved to the present
        for stored in fake.traces.values():
            response = httpx.post(f"{otlp.rstrip('/')}/v1/traces", json=stored.body, timeout=10)
            response.raise_for_status()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{live.rstrip('/')}/api/traces/{CHECKOUT}", timeout=5).status_code == 200:
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"the pushed traces did not appear in the Tempo at {live} in 60 s")
    yield live


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
