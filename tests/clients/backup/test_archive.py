"""Backup folders: atomic, checksummed, and a retention that never leaves no good backup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autodevops.clients.backup import postgres as pg_backup
from autodevops.clients.backup.archive import SUMS, BackupError, backups, prune, staged, verify
from devstack.postgres import PostgresHandle

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def take(directory: Path, days_ago: float, payload: bytes = b"dump") -> Path:
    with staged(directory, "postgres", NOW - timedelta(days=days_ago)) as (folder, final):
        (folder / "database.dump").write_bytes(payload)
    return final


def test_a_backup_appears_only_when_complete_and_verifies(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staged(tmp_path, "postgres", NOW) as (folder, final):
        (folder / "database.dump").write_bytes(b"half a dump")
        assert not final.exists() and backups(tmp_path, "postgres") == []
        raise RuntimeError("the dump died")
    assert list(tmp_path.iterdir()) == []
    path = take(tmp_path, 0)
    assert path.name == "postgres-20261130T030000Z"
    assert verify(path) == [path / "database.dump"]
    assert (path / SUMS).read_text().endswith("  database.dump\n")


def test_retention_removes_old_backups_but_keeps_the_newest_good_one(tmp_path: Path) -> None:
    old = [take(tmp_path, days) for days in (45, 40, 31)]
    recent = take(tmp_path, 2)
    assert prune(tmp_path, "postgres", 30, NOW) == old
    assert [b.path for b in backups(tmp_path, "postgres")] == [recent]
    # Alone and past its age, the only backup stays.
    assert prune(tmp_path, "postgres", 1, NOW) == []
    assert recent.exists()


def test_retention_keeps_the_last_good_backup_when_newer_ones_are_damaged(tmp_path: Path) -> None:
    older = take(tmp_path, 50)
    good = take(tmp_path, 40)
    damaged = take(tmp_path, 35)
    (damaged / "database.dump").write_bytes(b"bit rot")
    assert prune(tmp_path, "postgres", 30, NOW) == [older]
    assert good.exists() and damaged.exists()


def test_a_listed_file_that_went_missing_is_refused(tmp_path: Path) -> None:
    path = take(tmp_path, 0)
    (path / "database.dump").unlink()
    with pytest.raises(BackupError, match="listed in SHA256SUMS but missing"):
        verify(path)


def test_a_dump_that_fails_midway_leaves_the_previous_backup_intact(
    postgres: PostgresHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = take(tmp_path, 1, b"yesterday")
    dying = tmp_path / "pg_dump"
    dying.write_text(
        "#!/bin/sh\n"
        "for a; do case $a in --file=*) out=${a#--file=};; esac; done\n"
        "printf 'PGDMP half' > \"$out\"; echo 'connection lost' >&2; exit 1\n"
    )
    dying.chmod(0o755)
    monkeypatch.setattr(pg_backup, "client", lambda major, program: str(dying))
    with pytest.raises(BackupError, match="connection lost"):
        pg_backup.backup(postgres.url, tmp_path)
    assert [b.path for b in backups(tmp_path, "postgres")] == [previous]
    assert (previous / "database.dump").read_bytes() == b"yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([previous.name, "pg_dump"])
