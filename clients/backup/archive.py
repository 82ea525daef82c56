"""Backup folders: staged under a temporary name, fsynced, checksummed, then renamed.

A backup is a folder `<kind>-<UTC time>` holding the dump and `SHA256SUMS` (the format
`sha256sum -c` reads). Only a folder that was renamed into place counts: a run that dies
midway leaves a `.partial-` folder that no restore or retention ever takes for a backup.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SUMS = "SHA256SUMS"
STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^(?P<kind>[a-z]+)-(?P<stamp>\d{8}T\d{6}Z)$")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what and where."""


@dataclass(frozen=True)
class Backup:
    kind: str
    path: Path
    taken_at: datetime


def parse_name(name: str, kind: str) -> datetime | None:
    """When a backup of `kind` named `name` was taken; None for any other name."""
    match = _NAME.match(name)
    if not match or match["kind"] != kind:
        return None
    return datetime.strptime(match["stamp"], STAMP).replace(tzinfo=UTC)


def backups(directory: Path, kind: str) -> list[Backup]:
    """The complete backups of one kind, oldest first."""
    found = []
    for path in directory.iterdir() if directory.is_dir() else ():
        taken = parse_name(path.name, kind)
        if taken and (path / SUMS).is_file():
            found.append(Backup(kind, path, taken))
    return sorted(found, key=lambda b: b.taken_at)


@contextmanager
def staged(directory: Path, kind: str, now: datetime | None = None) -> Iterator[tuple[Path, Path]]:
    """A folder to write the dump into, and the name it gets: on success it is checksummed,
    synced and renamed to that name, on failure it is removed."""
    taken = (now or datetime.now(UTC)).strftime(STAMP)
    final = directory / f"{kind}-{taken}"
    if final.exists():
        raise BackupError(f"{final} exists already: one backup of {kind} per second")
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".partial-{kind}-{taken}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    try:
        yield partial, final
        _write_sums(partial)
        _fsync_tree(partial)
        partial.rename(final)
        _fsync(directory)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def verify(path: Path) -> list[Path]:
    """The backup's files, after checking each against SHA256SUMS; refuses a damaged backup."""
    sums = path / SUMS
    if not sums.is_file():
        raise BackupError(f"{path}: no {SUMS}; not a complete backup")
    files = []
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        member = path / name
        if not member.is_file():
            raise BackupError(f"{path}: {name} is listed in {SUMS} but missing")
        if _digest(member) != digest:
            raise BackupError(
                f"{path}: {name} does not match its checksum; the backup is damaged, "
                "restore an older one"
            )
        files.append(member)
    return files


def prune(directory: Path, kind: str, keep_days: int, now: datetime | None = None) -> list[Path]:
    """Removes backups older than `keep_days`; the newest backup that passes its checksums and
    everything after it stay, so retention never leaves no good backup. Returns what went."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    complete = backups(directory, kind)
    newest_good = next((i for i in reversed(range(len(complete))) if _is_good(complete[i])), None)
    if newest_good is None:
        return []
    removed = []
    for backup in complete[:newest_good]:
        if backup.taken_at < cutoff:
            shutil.rmtree(backup.path)
            removed.append(backup.path)
    return removed


def _is_good(backup: Backup) -> bool:
    try:
        verify(backup.path)
    except BackupError:
        return False
    return True


def _write_sums(folder: Path) -> None:
    lines = [
        f"{_digest(path)}  {path.relative_to(folder).as_posix()}"
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]
    (folder / SUMS).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        _fsync(path)
    _fsync(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
