"""What a caller may send MongoDB: filters and pipelines checked through their whole depth.

Input arrives as JSON and is read as MongoDB Extended JSON (``{"$oid": ...}``, ``{"$date":
...}``), so results can be pasted back into filters. Then every value is walked:

* stages are allowed by name (reads only); anything else is refused wherever it appears:
  at the top level or inside ``$facet``, ``$lookup.pipeline`` and ``$unionWith.pipeline``;
* ``$where``, ``$function`` and ``$accumulator`` (server-side JavaScript) and any BSON Code
  value are refused at any depth: in filters, projections, ``$expr``, groups, sub-pipelines;
* every collection a stage names (``$lookup.from``, ``$graphLookup.from``, ``$unionWith``) must
  be in the caller's scope, in the same database; the ``{db, coll}`` forms are refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from bson import json_util
from bson.code import Code
from bson.errors import InvalidBSON, InvalidId
from bson.json_util import JSONMode, JSONOptions

from autodevops.servers.core.errors import InvalidArgument, OutOfScope

from .scope import MongoScope

MAX_DEPTH = 64
MAX_STAGES = 100

ALLOWED_STAGES = frozenset(
    {"$match", "$project", "$addFields", "$set", "$unset", "$group", "$sort", "$limit",
     "$skip", "$count", "$unwind", "$facet", "$lookup", "$graphLookup", "$unionWith",
     "$bucket", "$bucketAuto", "$sortByCount", "$replaceRoot", "$replaceWith", "$sample",
     "$redact", "$densify", "$fill", "$setWindowFields", "$geoNear", "$documents",
     "$vectorSearch", "$search", "$searchMeta"}
)  # fmt: skip
_REFUSED_STAGES = {
    "$out": "it writes a collection",
    "$merge": "it writes a collection",
    "$currentOp": "it reads other sessions' operations; use current_ops",
    "$listSessions": "it reads other sessions",
    "$collStats": "use list_collections",
    "$indexStats": "use indexes",
    "$changeStream": "it opens a change stream",
}
JAVASCRIPT = {
    "$where": "$where runs JavaScript on the server",
    "$function": "$function runs JavaScript on the server",
    "$accumulator": "$accumulator runs JavaScript on the server",
}
_READ = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True)


class Refused(OutOfScope):
    """A filter or pipeline that may not run, naming where it is and why."""


def from_json(value: Any, field: str) -> Any:
    """JSON as the client sent it, read as Extended JSON into BSON values."""
    try:
        return json_util.loads(json.dumps(value), json_options=_READ)
    except (ValueError, TypeError, InvalidBSON, InvalidId) as exc:
        raise InvalidArgument(field, f"not valid MongoDB Extended JSON: {exc}") from exc


def check_value(value: Any, field: str) -> None:
    """Refuse JavaScript anywhere in a filter, projection, sort or expression."""
    for path, key, item in _walk(value, field):
        if isinstance(item, Code):
            raise Refused(f"{path}: JavaScript code values are refused")
        if key in JAVASCRIPT:
            raise Refused(f"{path}: {JAVASCRIPT[key]}, which this server refuses")


def check_pipeline(
    pipeline: Any, database: str, scope: MongoScope, field: str = "pipeline"
) -> list[str]:
    """Refuse what may not run; return every collection the pipeline reads besides its own."""
    named: list[str] = []
    _pipeline(pipeline, database, scope, field, named, 0)
    return named


def _pipeline(
    pipeline: Any, database: str, scope: MongoScope, field: str, named: list[str], depth: int
) -> None:
    if depth > MAX_DEPTH // 4:
        raise Refused(f"{field}: pipelines nested more than {MAX_DEPTH // 4} deep are refused")
    if not isinstance(pipeline, list):
        raise InvalidArgument(field, "a pipeline is a list of stages")
    if len(pipeline) > MAX_STAGES:
        raise InvalidArgument(field, f"{len(pipeline)} stages; at most {MAX_STAGES}")
    for index, stage in enumerate(pipeline):
        where = f"{field}[{index}]"
        if not isinstance(stage, dict) or len(stage) != 1:
            raise InvalidArgument(
                where, "each stage is an object with one key, e.g. {'$match': {}}"
            )
        ((name, body),) = stage.items()
        if name not in ALLOWED_STAGES:
            why = _REFUSED_STAGES.get(name, "it is not on the list of read-only stages")
            raise Refused(f"{where}: stage {name} is refused: {why}")
        _stage(name, body, database, scope, f"{where}.{name}", named, depth)


def _stage(
    name: str,
    body: Any,
    database: str,
    scope: MongoScope,
    where: str,
    named: list[str],
    depth: int,
) -> None:
    subpipelines: list[tuple[str, Any]] = []
    rest = body
    if name == "$facet":
        if not isinstance(body, dict):
            raise InvalidArgument(where, "$facet takes an object of named pipelines")
        subpipelines = [(f"{where}.{key}", sub) for key, sub in body.items()]
        rest = None
    elif name in ("$lookup", "$graphLookup", "$unionWith"):
        if name == "$unionWith" and isinstance(body, str):
            body = {"coll": body}
        if not isinstance(body, dict):
            raise InvalidArgument(where, f"{name} takes an object")
        key = "coll" if name == "$unionWith" else "from"
        if key in body or name == "$graphLookup":
            named.append(_collection(body.get(key), database, scope, f"{where}.{key}"))
        if "pipeline" in body:
            subpipelines = [(f"{where}.pipeline", body["pipeline"])]
        rest = {k: v for k, v in body.items() if k not in (key, "pipeline")}
    check_value(rest, where)
    for sub_field, sub in subpipelines:
        _pipeline(sub, database, scope, sub_field, named, depth + 1)


def _collection(value: Any, database: str, scope: MongoScope, where: str) -> str:
    if isinstance(value, dict):
        raise Refused(
            f"{where}: a collection in another database ({{db, coll}}) is refused; "
            f"name a collection of '{database}'"
        )
    if not isinstance(value, str):
        raise InvalidArgument(where, "must name a collection")
    return scope.check_collection(database, value, where)


def _walk(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str | None, Any]]:
    """(path, key, value) of every value inside, keys included; bounded in depth."""
    if depth > MAX_DEPTH:
        raise Refused(f"{path}: nested more than {MAX_DEPTH} levels deep")
    yield path, None, value
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            yield here, str(key), item
            yield from _walk(item, here, depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]", depth + 1)
