"""The main job runs as the README says and shows what it promises."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_runs_both_acts_and_shows_the_gate_at_work() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
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
