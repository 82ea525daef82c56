"""Proof that the stack's data stores are real servers: PostgreSQL, Redis, FerretDB."""

from __future__ import annotations

import psycopg
import pymongo
import redis as redis_client

from devstack.ferretdb import FerretHandle
from devstack.postgres import PostgresHandle
from devstack.redis import RedisHandle


def test_postgres_round_trip(postgres: PostgresHandle) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 150000
        conn.execute("CREATE TEMP TABLE runs (id serial PRIMARY KEY, state text NOT NULL)")
        conn.execute("INSERT INTO runs (state) VALUES ('queued'), ('queued'), ('done')")
        claimed = conn.execute(
            "SELECT id FROM runs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ).fetchall()
        assert claimed == [(1,)]


def test_redis_set_get(redis: RedisHandle) -> None:
    client = redis_client.Redis.from_url(redis.url)
    try:
        client.set("autodevops:test", "value", ex=60)
        assert client.get("autodevops:test") == b"value"
        info = client.info("server")
        assert int(str(info["redis_version"]).split(".")[0]) >= 7
    finally:
        client.close()


def test_ferretdb_insert_find_aggregate(ferretdb: FerretHandle) -> None:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        ferretdb.url, serverSelectionTimeoutMS=10_000
    )
    try:
        coll = client["autodevops_test"]["conversations"]
        coll.drop()
        coll.insert_many(
            [
                {"user": "ana", "turns": 3},
                {"user": "ana", "turns": 4},
                {"user": "ben", "turns": 1},
            ]
        )
        assert coll.find_one({"user": "ben"}, {"_id": 0}) == {"user": "ben", "turns": 1}
        totals = list(
            coll.aggregate(
                [{"$group": {"_id": "$user", "turns": {"$sum": "$turns"}}}, {"$sort": {"_id": 1}}]
            )
        )
        assert totals == [{"_id": "ana", "turns": 7}, {"_id": "ben", "turns": 1}]
    finally:
        client.close()
