"""MongoDB backups in mongodump's folder layout, written with pymongo's `bson`, so that the
standard `mongorestore` reads them too: `<db>/<collection>.bson` (the documents, byte for
byte as the server sent them) and `<db>/<collection>.metadata.json` (indexes and options, in
canonical Extended JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bson import CodecOptions, decode_file_iter, json_util
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

from autodevops.common.unavailable import BackendUnavailable

from .archive import BackupError, staged, verify

SYSTEM_DATABASES = frozenset({"admin", "local", "config"})
BATCH = 1000
RAW = CodecOptions(document_class=RawBSONDocument)


def backup(uri: str, directory: Path, databases: list[str] | None = None) -> Path:
    """Dumps the databases (all but the system ones by default) into a new backup folder."""
    with _connected(uri) as client, staged(directory, "mongodb") as (folder, final):
        names = databases or [n for n in client.list_database_names() if n not in SYSTEM_DATABASES]
        for name in names:
            _dump_database(client, name, folder / name)
    return final


def restore(uri: str, path: Path, into: str | None = None, drop: bool = False) -> None:
    """Restores a verified backup; `into` renames its one database. Refuses to write into a
    collection that holds documents unless `drop` says to replace it."""
    files = verify(path)
    dumps = sorted(f for f in files if f.suffix == ".bson")
    sources = sorted({f.parent.name for f in dumps})
    if into is not None and len(sources) != 1:
        raise BackupError(f"{path}: --into needs a backup of one database, it holds {sources}")
    with _connected(uri) as client:
        for dump in dumps:
            _restore_collection(client[into or dump.parent.name], dump, drop)


def _dump_database(client: MongoClient[Any], name: str, folder: Path) -> None:
    database = client[name]
    folder.mkdir()
    for info in database.list_collections():
        collection = info["name"]
        if info.get("type", "collection") != "collection" or collection.startswith("system."):
            continue
        with (folder / f"{collection}.bson").open("wb") as out:
            for batch in database[collection].find_raw_batches(sort=[("_id", 1)]):
                out.write(batch)
        indexes = [dict(index) for index in database[collection].list_indexes()]
        metadata = {
            "options": info.get("options", {}),
            "indexes": indexes,
            "collectionName": collection,
            "type": "collection",
        }
        (folder / f"{collection}.metadata.json").write_text(
            json_util.dumps(metadata, json_options=json_util.CANONICAL_JSON_OPTIONS),
            encoding="utf-8",
        )


def _restore_collection(database: Any, dump: Path, drop: bool) -> None:
    name = dump.stem
    collection = database[name]
    if collection.estimated_document_count() and not drop:
        raise BackupError(
            f"{database.name}.{name} holds documents; restore into an empty database, "
            "or pass --drop to replace it"
        )
    if drop:
        collection.drop()
    with dump.open("rb") as stream:
        batch: list[RawBSONDocument] = []
        for document in decode_file_iter(stream, codec_options=RAW):
            batch.append(document)
            if len(batch) == BATCH:
                collection.insert_many(batch, ordered=True)
                batch = []
        if batch:
            collection.insert_many(batch, ordered=True)
    metadata_file = dump.with_name(f"{name}.metadata.json")
    if metadata_file.is_file():
        metadata = json_util.loads(metadata_file.read_text(encoding="utf-8"))
        indexes = [
            {k: v for k, v in index.items() if k not in ("v", "ns")}
            for index in metadata.get("indexes", [])
            if index.get("name") != "_id_"
        ]
        if indexes:
            database.command("createIndexes", name, indexes=indexes)


@contextmanager
def _connected(uri: str) -> Iterator[MongoClient[Any]]:
    """A short-lived client, checked with a ping, whose failures name host:port only."""
    client: MongoClient[Any] = MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        client.admin.command("ping")
        yield client
    except PyMongoError as exc:
        raise _unavailable(uri, exc) from None
    finally:
        client.close()


def _unavailable(uri: str, exc: Exception) -> BackendUnavailable:
    parsed = parse_uri(uri, warn=True)
    where = ",".join(f"{host}:{port}" for host, port in parsed["nodelist"])
    problem = str(exc).split(", Timeout:")[0].strip() or type(exc).__name__
    return BackendUnavailable(
        "MongoDB",
        where,
        problem,
        "the URI file's host, port, user and password, and that the server runs",
        secrets=[parsed.get("password")],
    )
