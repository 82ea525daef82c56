"""The MongoDB tools, by topic: the catalogue, queries, and the server's health."""

from .catalog import indexes, list_collections, list_databases, schema
from .health import current_ops, kill_op, server_status
from .query import aggregate, count, explain, find

TOOLS = [
    list_databases,
    list_collections,
    indexes,
    schema,
    find,
    count,
    aggregate,
    explain,
    server_status,
    current_ops,
    kill_op,
]
