"""Backups kept in an S3-compatible bucket, through the `minio` client (any S3 API: AWS,
Ceph, versitygw, MinIO, ...).

A backup folder becomes the objects `<prefix>/<backup name>/<file>`; its `SHA256SUMS` is
uploaded last, so a backup without it is incomplete and never counts. Restore downloads a
backup and checks every checksum before touching a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from urllib3.exceptions import HTTPError

from autodevops.common.unavailable import BackendUnavailable

from .archive import SUMS, BackupError, parse_name


@dataclass(frozen=True)
class BucketBackup:
    name: str
    taken_at: datetime


class Bucket:
    """`url` is `http(s)://endpoint/bucket[/prefix]`; the credentials file is YAML with
    `access_key` and `secret_key` (and optionally `region`)."""

    def __init__(self, url: str, credentials_file: Path) -> None:
        parts = urlsplit(url)
        bucket, _, prefix = parts.path.strip("/").partition("/")
        if parts.scheme not in ("http", "https") or not parts.hostname or not bucket:
            raise BackupError(
                f"--bucket-url {url!r}: expected http(s)://host[:port]/bucket[/prefix]"
            )
        credentials = _credentials(credentials_file)
        self.where = f"{parts.netloc}/{bucket}"
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = Minio(
            parts.netloc,
            access_key=credentials["access_key"],
            secret_key=credentials["secret_key"],
            region=credentials.get("region"),
            secure=parts.scheme == "https",
        )

    def upload(self, folder: Path) -> str:
        """Uploads a complete backup folder, its checksums last; returns the backup's name."""
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SUMS)
        with self._errors():
            for path in [*files, folder / SUMS]:
                key = f"{self.prefix}{folder.name}/{path.relative_to(folder).as_posix()}"
                self.client.fput_object(self.bucket, key, str(path))
        return folder.name

    def backups(self, kind: str) -> list[BucketBackup]:
        """The complete backups of one kind in the bucket, oldest first."""
        found = []
        with self._errors():
            listed = list(self.client.list_objects(self.bucket, self.prefix))
            for item in listed:
                name = (item.object_name or "").removeprefix(self.prefix).rstrip("/")
                taken = parse_name(name, kind) if item.is_dir else None
                if taken and self._exists(f"{self.prefix}{name}/{SUMS}"):
                    found.append(BucketBackup(name, taken))
        return sorted(found, key=lambda b: b.taken_at)

    def download(self, name: str, into: Path) -> Path:
        """Downloads one backup into `into/<name>`; the caller verifies it."""
        target = into / name
        folder = f"{self.prefix}{name}/"
        with self._errors():
            keys = [
                o.object_name or ""
                for o in self.client.list_objects(self.bucket, folder, recursive=True)
            ]
            if not keys:
                raise BackupError(f"{self.where}: no backup {name}")
            for key in keys:
                relative = key.removeprefix(folder)
                if not relative or relative.startswith("/") or ".." in relative.split("/"):
                    raise BackupError(f"{self.where}: object {key} leaves its backup")
                self.client.fget_object(self.bucket, key, str(target / relative))
        return target

    def prune(self, kind: str, keep_days: int, now: datetime | None = None) -> list[str]:
        """Removes complete backups older than `keep_days`, never the newest; returns names."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
        removed = []
        for backup in self.backups(kind)[:-1]:
            if backup.taken_at >= cutoff:
                continue
            with self._errors():
                listed = self.client.list_objects(
                    self.bucket, f"{self.prefix}{backup.name}/", recursive=True
                )
                doomed = [DeleteObject(o.object_name or "") for o in listed]
                errors = list(self.client.remove_objects(self.bucket, doomed))
            if errors:
                raise BackupError(f"{self.where}: could not remove {backup.name}: {errors[0]}")
            removed.append(backup.name)
        return removed

    def _exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The client's errors as ours: the bucket refusing is a BackupError, the endpoint
        unreachable a BackendUnavailable naming it."""
        try:
            yield
        except MinioException as exc:
            raise BackupError(f"bucket {self.where}: {exc}") from None
        except (HTTPError, OSError) as exc:
            raise BackendUnavailable(
                "S3 bucket",
                self.where,
                str(exc) or type(exc).__name__,
                "--bucket-url, the endpoint's address and that it runs",
            ) from None


def _credentials(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BackupError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) and data[k] for k in ("access_key", "secret_key")
    ):
        raise BackupError(f"{path}: expected YAML with access_key and secret_key")
    return {k: str(v) for k, v in data.items()}
