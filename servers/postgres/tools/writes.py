"""The two writes: cancel a query, end a session. Off unless the policy allows the tool and
names the roles whose sessions may be signalled; never a superuser's or this server's own."""

from __future__ import annotations

from pydantic import Field

from autodevops.servers.core.args import Args
from autodevops.servers.core.output import Output, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedPostgres


class PidArgs(Args):
    pid: int = Field(ge=1, description="backend pid, from sessions or blocking")


@tool(read_only=False, destructive=True)
async def cancel_query(args: PidArgs, pg: ScopedPostgres) -> Output:
    """Cancel the running query of one session (pg_cancel_backend); the session stays
    connected and its transaction is rolled back. Only sessions of roles your policy names."""
    return Text(await pg.signal(args.pid, terminate=False))


@tool(read_only=False, destructive=True)
async def terminate_backend(args: PidArgs, pg: ScopedPostgres) -> Output:
    """End one session (pg_terminate_backend): its transaction is rolled back and its locks
    released, e.g. the root of a lock chain idle in transaction. Only sessions of roles your
    policy names."""
    return Text(await pg.signal(args.pid, terminate=True))
