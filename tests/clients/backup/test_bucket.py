"""Backups kept in an S3-compatible bucket: versitygw, a real S3 API server, on loopback."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from minio import Minio

from autodevops.clients.backup.archive import SUMS, staged
from autodevops.clients.backup.bucket import Bucket
from devstack.postgres import PostgresHandle
from devstack.versitygw import S3Handle

from .test_restore_drills import autodevops, create_database, drop_database, secret_file

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


@pytest.fixture
def bucket_url(s3: S3Handle) -> str:
    name = f"backups-{secrets.token_hex(4)}"
    Minio(s3.url.removeprefix("http://"), s3.access_key, s3.secret_key, secure=False).make_bucket(
        name
    )
    return f"{s3.url}/{name}/autodevops"


@pytest.fixture
def credentials(s3: S3Handle, tmp_path: Path) -> Path:
    keys = {"access_key": s3.access_key, "secret_key": s3.secret_key}
    return secret_file(tmp_path, "bucket.yaml", yaml.safe_dump(keys))


def local_backup(directory: Path, days_ago: int) -> Path:
    with staged(directory, "postgres", NOW - timedelta(days=days_ago)) as (folder, final):
        (folder / "database.dump").write_bytes(f"dump of day -{days_ago}".encode())
    return final


def test_uploads_complete_backups_and_prunes_old_ones(
    bucket_url: str, credentials: Path, tmp_path: Path
) -> None:
    bucket = Bucket(bucket_url, credentials)
    names = [bucket.upload(local_backup(tmp_path, days)) for days in (40, 35, 1)]
    assert [b.name for b in bucket.backups("postgres")] == names
    assert bucket.prune("postgres", 30, NOW) == names[:2]
    assert [b.name for b in bucket.backups("postgres")] == names[2:]
    # Alone and old, the last backup stays.
    assert bucket.prune("postgres", 0, NOW + timedelta(days=90)) == []
    fetched = bucket.download(names[2], tmp_path / "fetched")
    assert (fetched / "database.dump").read_bytes() == b"dump of day -1"
    assert (fetched / SUMS).is_file()


def test_a_backup_without_its_checksums_is_not_a_backup(
    bucket_url: str, credentials: Path, tmp_path: Path, s3: S3Handle
) -> None:
    bucket = Bucket(bucket_url, credentials)
    folder = local_backup(tmp_path, 2)
    name = bucket.upload(folder)
    bucket.client.remove_object(bucket.bucket, f"{bucket.prefix}{name}/{SUMS}")
    assert bucket.backups("postgres") == []


def test_backup_to_a_bucket_then_restore_from_it(
    postgres: PostgresHandle, bucket_url: str, credentials: Path, tmp_path: Path
) -> None:
    source = create_database(postgres.url)
    with psycopg.connect(source) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes SELECT n, 'note ' || n FROM generate_series(1, 50) n")
    bucket_args = ["--bucket-url", bucket_url, "--bucket-credentials-file", str(credentials)]
    dsn = secret_file(tmp_path, "dsn", source)
    taken = autodevops(
        "backup", "postgres", "--dsn-file", str(dsn), "--dir", str(tmp_path / "local"),
        *bucket_args,
    )  # fmt: skip
    assert taken.returncode == 0, taken.stderr
    (name,) = [b.name for b in Bucket(bucket_url, credentials).backups("postgres")]
    assert "uploaded to " in taken.stdout and name in taken.stdout
    drop_database(postgres.url, source)

    target = create_database(postgres.url)
    restored = autodevops(
        "restore", "postgres", "--dsn-file", str(secret_file(tmp_path, "t", target)),
        *bucket_args, name,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (50,)
    drop_database(postgres.url, target)


def test_wrong_bucket_credentials_are_a_clear_error(
    bucket_url: str, tmp_path: Path, postgres: PostgresHandle
) -> None:
    wrong = secret_file(tmp_path, "wrong.yaml", yaml.safe_dump(
        {"access_key": "autodevops", "secret_key": "not-the-secret"}
    ))  # fmt: skip
    source = create_database(postgres.url)
    failed = autodevops(
        "backup", "postgres", "--dsn-file", str(secret_file(tmp_path, "dsn", source)),
        "--dir", str(tmp_path / "local"), "--bucket-url", bucket_url,
        "--bucket-credentials-file", str(wrong),
    )  # fmt: skip
    assert failed.returncode == 1
    assert "bucket 127.0.0.1" in failed.stderr and "not-the-secret" not in failed.stderr
    assert "Traceback" not in failed.stderr
    drop_database(postgres.url, source)
