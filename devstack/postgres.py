"""PostgreSQL (the Debian package) on a loopback port, data in the state directory.

The server refuses to run as root, so when the stack runs as root the cluster is owned by and
run as the ``postgres`` user the Debian package creates. Unix sockets are off: TCP only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import base

NAME = "postgres"
SYSTEM_USER = "postgres"


def bindir() -> Path:
    """The newest installed PostgreSQL (15 or later) server directory."""
    found = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin/postgres"):
        try:
            found.append((int(candidate.parent.parent.name), candidate.parent))
        except ValueError:
            continue
    usable = [item for item in found if item[0] >= 15]
    if not usable:
        raise base.ComponentError(
            "PostgreSQL 15+ is not installed: run `python -m devstack install` "
            "(Debian package postgresql)"
        )
    return max(usable)[1]


@dataclass
class PostgresHandle:
    """A running PostgreSQL; ``url`` is a DSN for the superuser ``postgres`` (trust auth)."""

    url: str
    port: int
    proc: base.Proc
    state_dir: Path

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.url}

    def stop(self) -> None:
        self.proc.stop()
        base.forget(self.state_dir, NAME)


def _as_user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    shutil.chown(path, user, user)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(root, name), user, user)


def _check_reachable(path: Path, user: str | None) -> None:
    """As root, the postgres user must be able to reach the data directory."""
    if user is None:
        return
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise base.ComponentError(
                f"{parent} is not searchable by others, so the {user} user cannot reach "
                f"{path}; use a state dir under a world-searchable path (chmod o+x {parent})"
            )


def _url(port: int) -> str:
    return f"postgresql://postgres@{base.LOOPBACK}:{port}/postgres"


def _ready(pg_isready: Path, port: int) -> bool:
    result = subprocess.run(
        [str(pg_isready), "-q", "-h", base.LOOPBACK, "-p", str(port), "-U", "postgres"],
        check=False,
    )
    return result.returncode == 0


def start(state_dir: Path) -> PostgresHandle:
    """initdb on first use, then start the server on a free port and wait until it accepts."""
    state_dir = Path(state_dir).resolve()
    bins = bindir()
    user = _as_user()
    workdir = state_dir / NAME
    data = workdir / "data"
    workdir.mkdir(parents=True, exist_ok=True)
    _check_reachable(workdir, user)
    if not (data / "PG_VERSION").exists():
        base.progress(f"initdb {data}")
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(mode=0o700)
        _chown(workdir, user)
        base.run(
            [
                str(bins / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=user,
            cwd=str(workdir),
        )
    _chown(workdir, user)
    port = base.free_port()
    proc = base.spawn(
        NAME,
        [
            str(bins / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={base.LOOPBACK}",
            "-c",
            "unix_socket_directories=",
            # Statement statistics, for the PostgreSQL server's top_queries.
            "-c",
            "shared_preload_libraries=pg_stat_statements",
            # Test data: speed over durability.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        state_dir,
        user=user,
        ports={"tcp": port},
    )
    handle = PostgresHandle(_url(port), port, proc, state_dir)
    return base.serving(
        handle,
        proc,
        state_dir,
        lambda: base.wait_until(
            proc, lambda: _ready(bins / "pg_isready", port), timeout=60, what="accepting"
        ),
    )


def attach(state_dir: Path) -> PostgresHandle | None:
    """The PostgreSQL already running for this state dir, if it accepts connections."""
    state_dir = Path(state_dir).resolve()
    proc = base.load(state_dir, NAME)
    if not proc or not proc.alive():
        return None
    port = proc.ports["tcp"]
    if not _ready(bindir() / "pg_isready", port):
        return None
    return PostgresHandle(_url(port), port, proc, state_dir)
