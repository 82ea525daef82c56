"""The PostgreSQL tools, by topic: the catalog, SQL, health, and the two signals."""

from __future__ import annotations

from .catalog import describe_table, list_databases, list_schemas, list_tables
from .health import blocking, connections, health, replication, sessions, top_queries, vacuum
from .sql import explain, query
from .writes import cancel_query, terminate_backend

TOOLS = [
    list_databases,
    list_schemas,
    list_tables,
    describe_table,
    query,
    explain,
    health,
    connections,
    sessions,
    blocking,
    vacuum,
    replication,
    top_queries,
    cancel_query,
    terminate_backend,
]
