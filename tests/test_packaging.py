"""The product's wheel holds the product only, and its command offers only what works there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_the_product_without_tests_or_the_local_stack(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert "Warning" not in build.stderr, build.stderr
    (wheel,) = tmp_path.glob("autodevops-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[1] for name in names if name.startswith("autodevops/")}
    assert packages == {"common", "servers", "clients", "policies"}
    assert not [n for n in names if n.startswith(("tests/", "devstack/", "bench/"))]
    assert not [n for n in names if "/stack/" in n or n.endswith(("demo.py", ".go"))]
    for shipped in (
        "autodevops/policies/prometheus.yaml",
        "autodevops/policies/kubernetes.yaml",
        "autodevops/clients/jamie/portal/index.html",
        "autodevops/servers/prometheus/server.py",
    ):
        assert shipped in names


def test_the_command_offers_no_development_commands() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "autodevops.clients.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0
    commands = shown.stdout.split("positional arguments:")[1].split("options:")[0]
    assert [line.split()[0] for line in commands.splitlines()[2:] if line.strip()] == [
        "serve",
        "policy",
        "scarlet",
        "jamie",
        "backup",
        "restore",
    ]
