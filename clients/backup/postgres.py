"""PostgreSQL backups with Debian's `pg_dump` (custom format) and `pg_restore`, whose major
version must be at least the server's: the client of the server's own version is preferred.

The password never reaches an argument or the environment: it goes into a private
`PGPASSFILE` that lives only as long as the command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from autodevops.common.unavailable import BackendUnavailable

from .archive import BackupError, staged, verify

DUMP = "database.dump"
CLIENT_DIRS = Path("/usr/lib/postgresql")


def backup(dsn: str, directory: Path) -> Path:
    """Dumps the DSN's database into a new backup folder; returns its path."""
    major = server_major(dsn)
    with staged(directory, "postgres") as (folder, final), _passfile(dsn) as (conninfo, env):
        _run(
            [client(major, "pg_dump"), "--format=custom", f"--file={folder / DUMP}", conninfo], env
        )
    return final


def restore(dsn: str, path: Path) -> None:
    """Restores a verified backup into the DSN's database (which should be empty)."""
    files = verify(path)
    if path / DUMP not in files:
        raise BackupError(f"{path}: no {DUMP}; not a PostgreSQL backup")
    major = server_major(dsn)
    with _passfile(dsn) as (conninfo, env):
        _run(
            [
                client(major, "pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={conninfo}",
                str(path / DUMP),
            ],
            env,
        )


def server_major(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            return int(conn.info.server_version) // 10000
    except psycopg.OperationalError as exc:
        raise _unavailable(dsn, exc) from None


def client(major: int, program: str) -> str:
    """The `program` of the server's major version, else the newest one installed."""
    own = CLIENT_DIRS / str(major) / "bin" / program
    if own.exists():
        return str(own)
    installed = sorted(
        (int(p.name), p / "bin" / program)
        for p in (CLIENT_DIRS.iterdir() if CLIENT_DIRS.is_dir() else ())
        if p.name.isdigit() and (p / "bin" / program).exists()
    )
    if installed and installed[-1][0] >= major:
        return str(installed[-1][1])
    found = shutil.which(program)
    if found is None:
        raise BackupError(
            f"{program} for PostgreSQL {major} is not installed; install postgresql-client-{major}"
        )
    return found


@contextmanager
def _passfile(dsn: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The DSN without its password, and an environment whose PGPASSFILE holds it."""
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    password = params.pop("password", None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    with tempfile.TemporaryDirectory() as private:
        if password is not None:
            passfile = Path(private) / "pgpass"
            fields = [params.get(k, "*") for k in ("host", "port", "dbname", "user")]
            escaped = [f.replace("\\", "\\\\").replace(":", "\\:") for f in [*fields, password]]
            passfile.write_text(":".join(escaped) + "\n", encoding="utf-8")
            passfile.chmod(0o600)
            env["PGPASSFILE"] = str(passfile)
        yield make_conninfo(**params), env


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(
            f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()}"
        )


def _unavailable(dsn: str, exc: Exception) -> BackendUnavailable:
    params = conninfo_to_dict(dsn)
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    return BackendUnavailable(
        "PostgreSQL",
        where,
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        "the DSN file's host, port, user and password, and that the server runs",
        secrets=[str(params.get("password", ""))],
    )
