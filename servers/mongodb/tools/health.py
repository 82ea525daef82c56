"""Is MongoDB itself healthy: server status in short, long-running operations, and the one
write, ending an operation of a user the policy names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from autodevops.servers.core.args import Args, NoArgs
from autodevops.servers.core.errors import NotFound, OutOfScope
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from ..client import ScopedMongo, Unsupported
from ..documents import line

# What serverStatus has on MongoDB and some compatible servers lack; said when missing.
_SECTIONS = ("connections", "opcounters", "mem", "repl")
_OPS = ("insert", "query", "update", "delete", "getmore", "command")


class CurrentOpsArgs(Args):
    min_seconds: int = Field(5, ge=0, le=86_400, description="running at least this long")


class KillOpArgs(Args):
    opid: int | str = Field(description="opid from current_ops")
    dry_run: bool = Field(False, description="check only; nothing is killed")


@tool()
async def server_status(args: NoArgs, mongo: ScopedMongo) -> Output:
    """MongoDB's health in short: version, uptime, connections, operation counters, memory,
    replication state and lag where it is a replica set. Says what the server does not
    report."""
    status = await mongo.admin("serverStatus", {"serverStatus": 1})
    product = "FerretDB" if "ferretdbVersion" in status else status.get("process", "mongod")
    lines = [
        f"server: {product} (reports MongoDB {status.get('version', '?')}) on "
        f"{status.get('host', '?')}, up {_duration(status.get('uptime'))}"
    ]
    connections = status.get("connections")
    if connections:
        lines.append(
            f"connections: {connections.get('current')} current, "
            f"{connections.get('available')} available, {connections.get('totalCreated')} created"
        )
    counters = status.get("opcounters")
    if counters:
        lines.append(
            "operations since start: " + ", ".join(f"{k} {counters.get(k, 0)}" for k in _OPS)
        )
    memory = status.get("mem")
    if memory:
        lines.append(
            f"memory: resident {memory.get('resident')} MiB, virtual {memory.get('virtual')} MiB"
        )
    queue = status.get("globalLock", {}).get("currentQueue")
    if queue:
        readers, writers = queue.get("readers", 0), queue.get("writers", 0)
        lines.append(f"waiting for locks: {readers} readers, {writers} writers")
    lines += await _replication(mongo, status.get("repl"))
    missing = [section for section in _SECTIONS if section not in status]
    if missing:
        lines.append(f"not reported by this server ({product}): {', '.join(missing)}")
    return Text("\n".join(lines))


@tool()
async def current_ops(args: CurrentOpsArgs, mongo: ScopedMongo) -> Output:
    """Operations running now for at least min_seconds: opid, seconds, type, namespace, user,
    what it runs. Operations on namespaces outside your scope are counted, not shown."""
    answer = await mongo.admin(
        "currentOp", {"currentOp": 1, "active": True, "secs_running": {"$gte": args.min_seconds}}
    )
    rows = []
    hidden = 0
    for op in sorted(answer.get("inprog", []), key=lambda o: -int(o.get("secs_running", 0))):
        if not _visible(mongo, str(op.get("ns", ""))):
            hidden += 1
            continue
        rows.append(
            [
                str(op.get("opid", "")),
                str(op.get("secs_running", "")),
                str(op.get("op", "")),
                str(op.get("ns", "")),
                ",".join(f"{u}@{d}" for u, d in _users(op)),
                line(op.get("command", {})),
            ]
        )
    notes = [f"{hidden} operations on namespaces outside your scope are not shown"] * bool(hidden)
    return Table(
        ["OPID", "SECS", "OP", "NS", "USERS", "COMMAND"],
        rows,
        narrow="Raise min_seconds.",
        notes=notes,
    )


@tool(read_only=False, destructive=True)
async def kill_op(args: KillOpArgs, mongo: ScopedMongo) -> Output:
    """End one running operation (from current_ops) of a user your policy names. Try
    dry_run first. Operations of other users or outside your scope are refused."""
    answer = await mongo.admin("currentOp", {"currentOp": 1, "opid": args.opid})
    found = answer.get("inprog", [])
    if not found:
        raise NotFound(f"no operation {args.opid} is running (it may have finished)")
    op = found[0]
    users = _users(op)
    if not _visible(mongo, str(op.get("ns", ""))):
        raise OutOfScope(f"operation {args.opid} works on a namespace outside your scope")
    if not mongo.scope.may_kill(users):
        who = ", ".join(f"{u}@{d}" for u, d in users) or "no authenticated user"
        raise OutOfScope(
            f"operation {args.opid} runs as {who}; your policy lets you end only operations of "
            f"{', '.join(mongo.scope.kill_ops_of) or 'nobody'}"
        )
    summary = f"operation {args.opid} ({op.get('op')} on {op.get('ns')}, {op.get('secs_running')}s)"
    if args.dry_run:
        return Text(f"dry run: would kill {summary}; nothing was changed")
    await mongo.admin("killOp", {"killOp": 1, "op": args.opid})
    return Text(f"killed {summary}; MongoDB ends it at its next interrupt point")


async def _replication(mongo: ScopedMongo, repl: dict[str, Any] | None) -> list[str]:
    if not repl:
        return ["replication: not a replica set member (standalone)"]
    role = "primary" if repl.get("isWritablePrimary") or repl.get("ismaster") else "secondary"
    name, primary_host = repl.get("setName"), repl.get("primary")
    lines = [f"replication: set {name}, this member is {role}, primary {primary_host}"]
    try:
        status = await mongo.admin("replSetGetStatus", {"replSetGetStatus": 1})
    except Unsupported as exc:
        return [*lines, f"lag: not reported ({exc.message})"]
    members = status.get("members", [])
    primary = next((m for m in members if m.get("stateStr") == "PRIMARY"), None)
    for member in members:
        lag = ""
        if primary and isinstance(member.get("optimeDate"), datetime):
            seconds = (primary["optimeDate"] - member["optimeDate"]).total_seconds()
            lag = f", lag {seconds:.0f}s"
        lines.append(
            f"  {member.get('name')}: {member.get('stateStr')}, health {member.get('health')}{lag}"
        )
    return lines


def _visible(mongo: ScopedMongo, namespace: str) -> bool:
    """Operations without a namespace (admin commands) are visible; others by scope."""
    if not namespace:
        return True
    database, _, collection = namespace.partition(".")
    if not collection or collection.startswith("$cmd"):
        return mongo.scope.visible_database(database)
    return mongo.scope.visible_collection(database, collection)


def _users(op: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(u.get("user")), str(u.get("db"))) for u in op.get("effectiveUsers", [])]


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h{minutes}m" if days else f"{hours}h{minutes}m{secs}s"
