"""`autodevops backup postgres|mongodb` and `autodevops restore postgres|mongodb`.

Credentials come from files only (`--dsn-file`, `--uri-file`), never from arguments, so they
stay out of process listings, shell history and job specs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from autodevops.common.unavailable import BackendUnavailable

if TYPE_CHECKING:
    from .bucket import Bucket

KEEP_DAYS = 30
T = TypeVar("T")


def add_commands(commands: Any) -> None:
    backup = commands.add_parser("backup", help="back up Scarlet's PostgreSQL or Jamie's MongoDB")
    backup_kinds = backup.add_subparsers(metavar="STORE", required=True)
    restore = commands.add_parser("restore", help="restore a backup made by `autodevops backup`")
    restore_kinds = restore.add_subparsers(metavar="STORE", required=True)
    for kind, credential, help_text in (
        ("postgres", "--dsn-file", "file holding the PostgreSQL DSN (libpq URL or key=value)"),
        ("mongodb", "--uri-file", "file holding the MongoDB URI"),
    ):
        take = backup_kinds.add_parser(kind, help=f"a {kind} backup into a new folder")
        take.add_argument(
            credential, dest="credential", metavar="FILE", type=Path, required=True, help=help_text
        )
        take.add_argument("--dir", type=Path, required=True, help="folder that keeps the backups")
        take.add_argument(
            "--keep-days",
            type=int,
            default=KEEP_DAYS,
            help="remove backups older than this after a good one (default %(default)s; "
            "the newest good backup always stays)",
        )
        back = restore_kinds.add_parser(kind, help=f"restore a {kind} backup folder")
        back.add_argument(
            credential, dest="credential", metavar="FILE", type=Path, required=True, help=help_text
        )
        back.add_argument(
            "backup",
            help="the backup folder (e.g. DIR/postgres-...Z), or with --bucket-url its name",
        )
        if kind == "mongodb":
            take.add_argument(
                "--database",
                action="append",
                help="database to back up (repeatable; default: all but admin, local and config)",
            )
            back.add_argument("--into", help="restore the backup's one database under this name")
            back.add_argument(
                "--drop", action="store_true", help="replace collections that hold documents"
            )
        for command in (take, back):
            command.add_argument(
                "--bucket-url",
                help="also keep backups in an S3-compatible bucket: http(s)://host/bucket[/prefix]",
            )
            command.add_argument(
                "--bucket-credentials-file",
                type=Path,
                help="YAML with access_key and secret_key for --bucket-url",
            )
        take.set_defaults(run=_backup, kind=kind)
        back.set_defaults(run=_restore, kind=kind)


def _backup(options: argparse.Namespace) -> int:
    from .archive import prune

    def take() -> Path:
        secret = _read_secret(options)
        if options.kind == "postgres":
            from .postgres import backup

            return backup(secret, options.dir)
        from .mongodb import backup as mongo_backup

        return mongo_backup(secret, options.dir, options.database)

    def keep(path: Path) -> None:
        for removed in prune(options.dir, options.kind, options.keep_days):
            print(f"removed (older than {options.keep_days} days): {removed}")
        bucket = _bucket(options)
        if bucket is not None:
            print(f"uploaded to {bucket.where}: {bucket.upload(path)}")
            for name in bucket.prune(options.kind, options.keep_days):
                print(f"removed from {bucket.where} (older than {options.keep_days} days): {name}")

    ok, path = _guarded(take)
    if not ok or path is None:
        return 1
    print(f"backup written: {path}")
    kept, _ = _guarded(lambda: keep(path))
    return 0 if kept else 1


def _restore(options: argparse.Namespace) -> int:
    def put() -> None:
        secret = _read_secret(options)
        bucket = _bucket(options)
        with tempfile.TemporaryDirectory() as scratch:
            folder = (
                Path(options.backup)
                if bucket is None
                else bucket.download(options.backup, Path(scratch))
            )
            if options.kind == "postgres":
                from .postgres import restore

                restore(secret, folder)
            else:
                from .mongodb import restore as mongo_restore

                mongo_restore(secret, folder, options.into, options.drop)

    ok, _ = _guarded(put)
    if not ok:
        return 1
    print(f"restored: {options.backup}")
    return 0


def _read_secret(options: argparse.Namespace) -> str:
    from autodevops.clients.core.config import read_secret

    flag = "--dsn-file" if options.kind == "postgres" else "--uri-file"
    return read_secret(options.credential, flag)


def _bucket(options: argparse.Namespace) -> Bucket | None:
    from .archive import BackupError
    from .bucket import Bucket

    if options.bucket_url is None:
        return None
    if options.bucket_credentials_file is None:
        raise BackupError("--bucket-url needs --bucket-credentials-file")
    return Bucket(options.bucket_url, options.bucket_credentials_file)


def _guarded(work: Callable[[], T]) -> tuple[bool, T | None]:
    """Runs `work`; the errors people can act on become one line on stderr, not a traceback."""
    from autodevops.common.config import ConfigError

    from .archive import BackupError

    try:
        return True, work()
    except (BackupError, BackendUnavailable, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False, None
