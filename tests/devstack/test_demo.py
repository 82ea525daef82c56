"""The main job runs as the README says and shows what it promises."""

from __future__ import annotations

import re
import subprocess
import sys

from devstack.models import CHAT


def test_the_demo_runs_every_act_and_shows_the_gate_at_work() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "demo"],
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert '{namespace="team-a"}  105' in out
    assert "cannot be limited to your scope" in out
    assert '"decision":"deny","reason":"out_of_scope"' in out
    assert "CrashLoopBackOff" in out and "last terminated OOMKilled exit 137" in out
    assert "kind Secret is outside your scope" in out
    assert "[dry run, nothing changed] Deployment shop/web scaled to 3" in out
    assert "namespace 'kube-system' is outside your scope" in out
    # The model acts: what a small model reliably does, never its wording.
    assert f"model {CHAT.name}" in out
    assert "  [tool] kubernetes__" in out and '"namespace":"shop"' in out
    assert '"subject":"ben"' in out and '"actor":"jamie"' in out
    assert "Finding [critical] Deployment shop/cart" in out
    assert re.search(r"Proposed action #\d+: kubernetes__rollout_restart", out)
    assert ": approved by alice" in out
    restarted = r"#\d+ executed: \[dry run, nothing changed\] Deployment shop/cart restarted"
    assert re.search(restarted, out)
    assert "(Jamie act: " in out and "(Scarlet act: " in out
