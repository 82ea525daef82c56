"""The stack CLI: up is safe twice, status tells, down leaves no process; failures show logs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack import base


def _stack(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _exports(stdout: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in stdout.splitlines())
    return {key: value for key, value in pairs}


def test_up_twice_status_down(tmp_path: Path) -> None:
    first = _stack(tmp_path, "up", "redis")
    assert first.returncode == 0, first.stderr
    env = _exports(first.stdout)
    assert env["REDIS_URL"].startswith("redis://127.0.0.1:")
    assert env[base.STATE_ENV] == str(tmp_path.resolve())
    proc = base.load(tmp_path, "redis")
    assert proc is not None and proc.alive()

    second = _stack(tmp_path, "up", "redis")
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    assert _exports(second.stdout)["REDIS_URL"] == env["REDIS_URL"]
    assert base.load(tmp_path, "redis") == proc

    status = _stack(tmp_path, "status", "redis")
    assert status.returncode == 0
    assert status.stdout.startswith("redis: running")

    down = _stack(tmp_path, "down")
    assert down.returncode == 0
    assert "redis" in down.stdout
    assert not proc.alive()
    assert not base.group_alive(proc.pid)
    assert _stack(tmp_path, "status", "redis").returncode == 1


def test_a_failing_component_is_reported_with_its_log_tail(tmp_path: Path) -> None:
    proc = base.spawn("broken", ["sh", "-c", "echo 'fatal: port taken'; exit 3"], tmp_path)
    with pytest.raises(base.ComponentError) as failed:
        base.wait_until(proc, lambda: False, timeout=10, what="ready")
    assert "broken exited before ready" in str(failed.value)
    assert "fatal: port taken" in str(failed.value)


def test_unknown_component_is_refused(tmp_path: Path) -> None:
    result = _stack(tmp_path, "up", "mysql")
    assert result.returncode != 0
    assert "unknown component" in result.stderr


def test_a_killed_test_session_leaves_nothing_running(tmp_path: Path) -> None:
    """What a pytest session starts dies with it, even when pytest gets SIGKILL."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from devstack import base, components\n"
        "base.die_with_starter = True\n"
        "handle, _ = components.ensure('redis', Path(sys.argv[1]))\n"
        "print(handle.proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    session = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert session.stdout is not None
        pid = int(session.stdout.readline())
        assert base.group_alive(pid)
    finally:
        session.kill()
        session.wait()
    deadline = time.monotonic() + 10
    while base.group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not base.group_alive(pid)
