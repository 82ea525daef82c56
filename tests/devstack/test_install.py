"""The build cache: keyed by the recipe, and pruned without deleting another checkout's build."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from devstack import install


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTODEVOPS_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_a_changed_flag_package_or_cgo_setting_is_a_new_cache_key(cache: Path) -> None:
    build = install.FERRETDB
    assert replace(build).binary == build.binary
    assert replace(build, ldflags="-s").binary != build.binary
    assert replace(build, package="./cmd").binary != build.binary
    assert replace(build, cgo=not build.cgo).binary != build.binary
    assert build.binary.is_relative_to(cache / "ferretdb")


def test_prune_drops_only_builds_unused_for_days(cache: Path) -> None:
    build = install.FERRETDB
    build.binary.parent.mkdir(parents=True)
    build.binary.write_bytes(b"binary")
    recent = cache / "ferretdb" / "v1.24.2-another-branch"
    stale = cache / "ferretdb" / "v1.23.0-old"
    for folder in (recent, stale):
        folder.mkdir()
        (folder / "ferretdb").write_bytes(b"old binary")
    long_ago = time.time() - install.PRUNE_AFTER_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    os.utime(build.binary.parent, (long_ago, long_ago))

    assert install.go_build(build) == build.binary  # found: no build, only the pruning

    assert recent.exists()
    assert not stale.exists()
    assert build.binary.parent.stat().st_mtime > long_ago + 60  # marked as used
