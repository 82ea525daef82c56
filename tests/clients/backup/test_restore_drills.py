"""Restore drills on the local stack: Scarlet's operations database and Jamie's memory are
filled through their own stores, backed up with `autodevops backup`, dropped, restored into a
fresh database with `autodevops restore`, and compared row by row, document by document and
index by index."""

from __future__ import annotations

import json
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from ollama import AsyncClient
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pymongo import MongoClient

from autodevops.clients.backup.archive import SUMS, backups
from autodevops.clients.jamie.memory import MemorySettings, open_memory
from autodevops.clients.scarlet.store import OpsStore
from devstack.ferretdb import FerretHandle
from devstack.postgres import PostgresHandle
from devstack.services import cli
from tests.fakes.fake_ollama import (
    FakeOllama,
    fake_ollama_server,  # noqa: F401 (registers the fake_ollama fixture)
)

LABELS = {"alertname": "KubePodCrashLooping", "namespace": "shop"}


def autodevops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli(), *args], capture_output=True, text=True, timeout=120)


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def create_database(admin_url: str) -> str:
    name = f"drill_{secrets.token_hex(5)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(admin_url, dbname=name)


def drop_database(admin_url: str, dsn: str) -> None:
    name = str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_contents(dsn: str) -> dict[str, Any]:
    """Every row of every table, every index and every sequence position."""
    with psycopg.connect(dsn) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        contents: dict[str, Any] = {
            "indexes": conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = 'public' ORDER BY 1, 2"
            ).fetchall(),
            "sequences": conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
            ).fetchall(),
        }
        for table in tables:
            query = sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table))
            contents[table] = conn.execute(query).fetchall()
    return contents


async def fill_scarlet(dsn: str) -> None:
    store = await OpsStore.open(dsn)
    try:
        for n in range(12):
            alert = {"labels": {**LABELS, "pod": f"shop-{n}"}, "status": "firing"}
            run, _ = await store.runs.submit("alert", f"why does shop-{n} restart?", alert=alert)
            await store.runs.add_step(run.id, "finding", {"title": f"shop-{n} crash-loops"})
            await store.runs.record_tool_call(
                run.id, "kubernetes__pod_logs", {"pod": f"shop-{n}"}, "ok", 12.5, 2048
            )
            action = await store.actions.propose(
                run.id,
                "kubernetes__restart",
                {"namespace": "shop", "name": f"shop-{n}"},
                "the config was fixed",
                "approval",
                datetime.now(UTC) + timedelta(hours=1),
            )
            if n % 2:
                await store.actions.decide(action.id, n % 4 == 1, "alice", "checked the logs")
    finally:
        await store.close()


async def test_scarlet_database_survives_backup_drop_and_restore(
    postgres: PostgresHandle, tmp_path: Path
) -> None:
    source = create_database(postgres.url)
    await fill_scarlet(source)
    before = postgres_contents(source)
    assert len(before["runs"]) == 12 and len(before["approvals"]) == 6

    taken = autodevops(
        "backup",
        "postgres",
        "--dsn-file",
        str(secret_file(tmp_path, "dsn", source)),
        "--dir",
        str(tmp_path / "backups"),
    )
    assert taken.returncode == 0, taken.stderr
    drop_database(postgres.url, source)

    target = create_database(postgres.url)
    (backup,) = backups(tmp_path / "backups", "postgres")
    restored = autodevops(
        "restore",
        "postgres",
        "--dsn-file",
        str(secret_file(tmp_path, "target", target)),
        str(backup.path),
    )
    assert restored.returncode == 0, restored.stderr
    assert postgres_contents(target) == before
    # The restored database is Scarlet's again: it opens (migrations already applied) and reads.
    store = await OpsStore.open(target)
    try:
        assert len(await store.runs.newest(limit=50)) == 12
    finally:
        await store.close()
    drop_database(postgres.url, target)


def mongo_contents(url: str, database: str) -> dict[str, Any]:
    with MongoClient[dict[str, Any]](url) as client:
        db = client[database]
        return {
            name: {
                "documents": list(db[name].find().sort("_id", 1)),
                "indexes": sorted(
                    (index["name"], dict(index["key"]), bool(index.get("unique")))
                    for index in db[name].list_indexes()
                ),
            }
            for name in sorted(db.list_collection_names())
        }


async def fill_jamie(fake: FakeOllama, url: str, database: str) -> None:
    memory = await open_memory(
        url, database, AsyncClient(host=fake.url), MemorySettings(embed_model="embedder")
    )
    try:
        for person in ("alice", "bob"):
            conversation = await memory.create_conversation(person, f"{person}'s incident")
            for n in range(5):
                fake.expect_embed([[float(n), 1.0, 0.5]])
                await memory.add_exchange(
                    person, conversation.id, f"why is pod {n} pending?", f"quota {n} is full"
                )
    finally:
        await memory.close()


async def test_jamie_memory_survives_backup_drop_and_restore(
    ferretdb: FerretHandle, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    database = f"jamie_{secrets.token_hex(5)}"
    await fill_jamie(fake_ollama, ferretdb.url, database)
    before = mongo_contents(ferretdb.url, database)
    assert sum(len(c["documents"]) for c in before.values()) >= 12
    assert any(len(c["indexes"]) > 1 for c in before.values())
    uri = secret_file(tmp_path, "uri", ferretdb.url)

    taken = autodevops(
        "backup",
        "mongodb",
        "--uri-file",
        str(uri),
        "--database",
        database,
        "--dir",
        str(tmp_path / "backups"),
    )
    assert taken.returncode == 0, taken.stderr
    (backup,) = backups(tmp_path / "backups", "mongodb")
    assert (backup.path / SUMS).is_file()
    for name, collection in before.items():  # mongodump's layout, which mongorestore reads
        metadata = json.loads((backup.path / database / f"{name}.metadata.json").read_text())
        assert metadata["collectionName"] == name
        assert len(metadata["indexes"]) == len(collection["indexes"])
        assert (backup.path / database / f"{name}.bson").stat().st_size > 0
    with MongoClient[dict[str, Any]](ferretdb.url) as client:
        client.drop_database(database)

    fresh = f"{database}_restored"
    restored = autodevops(
        "restore", "mongodb", "--uri-file", str(uri), "--into", fresh, str(backup.path)
    )
    assert restored.returncode == 0, restored.stderr
    assert mongo_contents(ferretdb.url, fresh) == before
    again = autodevops(
        "restore", "mongodb", "--uri-file", str(uri), "--into", fresh, str(backup.path)
    )
    assert again.returncode == 1 and "--drop" in again.stderr
    with MongoClient[dict[str, Any]](ferretdb.url) as client:
        client.drop_database(fresh)


def test_a_damaged_backup_is_refused_by_restore(postgres: PostgresHandle, tmp_path: Path) -> None:
    source = create_database(postgres.url)
    with psycopg.connect(source) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes SELECT n, 'note ' || n FROM generate_series(1, 100) n")
    dsn = secret_file(tmp_path, "dsn", source)
    assert (
        autodevops("backup", "postgres", "--dsn-file", str(dsn), "--dir", str(tmp_path)).returncode
        == 0
    )
    (backup,) = backups(tmp_path, "postgres")
    dump = backup.path / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))

    refused = autodevops("restore", "postgres", "--dsn-file", str(dsn), str(backup.path))
    assert refused.returncode == 1
    assert "database.dump does not match its checksum" in refused.stderr
    assert "Traceback" not in refused.stderr
    drop_database(postgres.url, source)


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    dsn = secret_file(tmp_path, "dsn", "postgresql://scarlet:hunter2@127.0.0.1:1/ops")
    failed = autodevops("backup", "postgres", "--dsn-file", str(dsn), "--dir", str(tmp_path / "b"))
    assert failed.returncode == 1
    assert "PostgreSQL at 127.0.0.1:1" in failed.stderr and "hunter2" not in failed.stderr
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
