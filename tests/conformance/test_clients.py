"""The clients' MCP side (the pool Jamie and Scarlet share) against the conformance suite's
client scenarios: the suite serves, `pool_client.py` connects, lists and calls."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from devstack.conformance import Conformance, install_conformance

CLIENT = Path(__file__).with_name("pool_client.py")
SCENARIO_SECONDS = 120


@pytest.fixture(scope="module")
def suite() -> Conformance:
    return install_conformance()


@pytest.mark.parametrize("scenario", ["initialize", "tools_call", "sse-retry"])
def test_the_pool_passes_the_client_scenario(
    scenario: str, suite: Conformance, tmp_path: Path
) -> None:
    result = suite.run(
        "client",
        "--command",
        shlex.join([sys.executable, str(CLIENT)]),
        "--scenario",
        scenario,
        "--output-dir",
        str(tmp_path),
        timeout=SCENARIO_SECONDS,
    )
    output = result.stdout + result.stderr  # the suite reports client runs on stderr
    assert result.returncode == 0 and "OVERALL: PASSED" in output, output[-6000:]
