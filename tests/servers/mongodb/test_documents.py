"""How documents are shown: relaxed Extended JSON that reads well and goes back into filters,
secret-named fields redacted whatever their type, sizes bounded. (Decimal128 is tested here:
FerretDB has no decimals.)"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from bson import Binary, ObjectId
from bson.decimal128 import Decimal128

from autodevops.servers.mongodb.documents import MAX_ARRAY, line
from autodevops.servers.mongodb.pipeline import from_json


def test_extended_json_types_read_well_and_round_trip() -> None:
    document = {
        "_id": ObjectId("65f000000000000000000001"),
        "at": datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
        "price": Decimal128("19.90"),
        "id": Binary(uuid.UUID("12345678-1234-5678-1234-567812345678").bytes, 4),
    }
    shown = json.loads(line(document))
    assert shown["_id"] == {"$oid": "65f000000000000000000001"}
    assert shown["at"] == {"$date": "2026-01-31T12:00:00Z"}
    assert shown["price"] == {"$numberDecimal": "19.90"}
    assert from_json(shown, "filter") == document


def test_secret_fields_lose_their_whole_value() -> None:
    shown = json.loads(
        line(
            {
                "password": "correct horse battery staple",
                "credentials": {"user": "u", "pass": "p"},
                "tokens": ["a", "b"],
                "token_count": 3,
                "author": "ada",
                "note": "Authorization: Bearer abcdefghijklmnop",
            }
        )
    )
    assert shown["password"] == shown["credentials"] == shown["tokens"] == "[REDACTED]"
    assert shown["token_count"] == 3 and shown["author"] == "ada"
    assert "abcdefghijklmnop" not in shown["note"]


def test_sizes_are_bounded() -> None:
    shown = json.loads(line({"s": "x" * 5000, "a": list(range(500)), "b": b"\x00" * 4096}))
    assert shown["s"].endswith("… (5000 chars)") and len(shown["s"]) < 250
    assert len(shown["a"]) == MAX_ARRAY + 1 and shown["a"][-1] == "… 450 more items"
    assert shown["b"] == {"$binary": "4096 bytes, subtype 0, not shown"}
    deep: dict[str, object] = {"v": 1}
    for _ in range(20):
        deep = {"d": deep}
    assert "fields}" in line(deep)
