"""A FAKE Argo CD API server for tests: a real HTTP server on loopback holding Applications
in memory.

The local stack runs the real Argo CD (test_real_api.py); this fake stays for what a real one
cannot be made to show on demand: exact written states (operations by named users, fixed
histories and diffs), a hung server, and the requests the client sends. It speaks the REST
shapes of Argo CD v2.14 (its `assets/swagger.json`, and what its API server answered here):
applications list (with `projects`, `selector`, `appNamespace` and the `fields` selection the
web UI uses) and get (with `refresh`), `managed-resources`, `resource-tree`, `events`,
`sync`, `rollback` (POST) and `DELETE .../operation`; grpc-gateway errors (`{"error", "code",
"message"}`) with Argo CD's status codes: 401 for a bad token, 403 "permission denied" from
its RBAC (also for an application that does not exist, unless the request names a project
the account may get it in: then 404), 400 for failed preconditions, 500 for a selector it
cannot parse, 415 for any method but GET without a JSON content type. RBAC is the `p` lines
of a policy.csv (glob objects `project/app`, allow and deny).
"""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

VERSION = "v2.14.21+fake"
ARGOCD_NAMESPACE = "argocd"
# Argo CD's `appFields` (pkg/apiclient/application/forwarder_overwrite.go): what `fields`
# may select on a list, and what each key returns.
_LIST_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "metadata.name": lambda a: a["metadata"].get("name"),
    "metadata.namespace": lambda a: a["metadata"].get("namespace"),
    "metadata.annotations": lambda a: a["metadata"].get("annotations"),
    "metadata.labels": lambda a: a["metadata"].get("labels"),
    "metadata.creationTimestamp": lambda a: a["metadata"].get("creationTimestamp"),
    "spec": lambda a: a.get("spec"),
    "status.sync.status": lambda a: a.get("status", {}).get("sync", {}).get("status"),
    "status.health": lambda a: a.get("status", {}).get("health"),
    "status.summary": lambda a: a.get("status", {}).get("summary"),
    "status.resources": lambda a: a.get("status", {}).get("resources") or None,
    "operation.sync": lambda a: (a.get("operation") or {}).get("sync"),
    "status.operationState.phase": lambda a: _state(a).get("phase"),
    "status.operationState.startedAt": lambda a: _state(a).get("startedAt"),
    "status.operationState.finishedAt": lambda a: _state(a).get("finishedAt"),
    "status.operationState.operation.sync": lambda a: _state(a).get("syncResult"),
}


def _state(app: dict[str, Any]) -> dict[str, Any]:
    return dict(app.get("status", {}).get("operationState") or {})


class _Error(Exception):
    """A grpc-gateway error: HTTP status, gRPC code, message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _denied() -> _Error:
    return _Error(403, 7, "permission denied")


@dataclass
class FakeApp:
    app: dict[str, Any]
    managed: list[dict[str, Any]] = field(default_factory=list)
    tree: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any


class FakeArgoCD:
    """`with FakeArgoCD(token, policy_csv) as fake:`; `fake.add(...)` Applications."""

    def __init__(self, tokens: dict[str, str]) -> None:
        """`tokens`: bearer token -> policy.csv text whose `p` lines govern it."""
        self.tokens = {t: _parse_csv(csv) for t, csv in tokens.items()}
        self.apps: dict[tuple[str, str], FakeApp] = {}
        self.received: list[Received] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        routes = [Route("/{path:path}", self._handle, methods=["GET", "POST", "DELETE", "PUT"])]
        config = uvicorn.Config(
            Starlette(routes=routes), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> FakeArgoCD:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Argo CD server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def add(self, app: dict[str, Any], **parts: list[dict[str, Any]]) -> None:
        key = (app["metadata"].get("namespace", ARGOCD_NAMESPACE), app["metadata"]["name"])
        with self._lock:
            self.apps[key] = FakeApp(copy.deepcopy(app), **parts)

    def app(self, name: str, namespace: str = ARGOCD_NAMESPACE) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.apps[(namespace, name)].app)

    async def _handle(self, request: Request) -> Response:
        if request.method != "GET" and not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            # Argo CD refuses other types for every method but GET (a CSRF guard), in plain text
            return PlainTextResponse("Invalid content type", status_code=415)
        body = await request.json() if request.method in ("POST", "PUT") else None
        query = list(request.query_params.multi_items())
        self.received.append(Received(request.method, request.url.path, query, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            with self._lock:
                result = self._route(request, query, body)
        except _Error as exc:
            content = {"error": exc.message, "code": exc.code, "message": exc.message}
            return JSONResponse(content, status_code=exc.status)
        return JSONResponse(result)

    def _route(self, request: Request, query: list[tuple[str, str]], body: Any) -> Any:
        path = request.url.path.rstrip("/")
        if path == "/api/version":
            return {"Version": VERSION}
        rules = self._rules(request)
        params = dict(query)
        parts = path.split("/")
        if path == "/api/v1/applications" and request.method == "GET":
            return self._list(rules, query)
        if len(parts) < 5 or parts[:4] != ["", "api", "v1", "applications"]:
            raise _Error(404, 5, f"Not Found: {path}")
        name, sub = parts[4], "/".join(parts[5:])
        namespace = (
            (body or {}).get("appNamespace") or params.get("appNamespace") or ARGOCD_NAMESPACE
        )
        entry = self._get(
            rules,
            namespace,
            params.get("project", ""),
            name,
            "get" if sub in ("", "managed-resources", "resource-tree", "events") else "sync",
        )
        app = entry.app
        if sub == "" and request.method == "GET":
            if params.get("refresh") in ("normal", "hard"):
                notes = app["metadata"].setdefault("annotations", {})
                notes["argocd.argoproj.io/refresh"] = params["refresh"]
            return app
        if sub == "managed-resources":
            return {"items": entry.managed}
        if sub == "resource-tree":
            return {"nodes": entry.tree, "orphanedNodes": [], "hosts": []}
        if sub == "events":
            return {"metadata": {}, "items": entry.events}
        if sub == "sync" and request.method == "POST":
            return self._sync(app, body)
        if sub == "rollback" and request.method == "POST":
            return self._rollback(app, body)
        if sub == "operation" and request.method == "DELETE":
            if not app.get("operation") and _state(app).get("phase") != "Running":
                raise _Error(400, 9, "Unable to terminate operation. No operation is in progress")
            app["status"]["operationState"]["phase"] = "Terminating"
            return {}
        raise _Error(404, 5, f"Not Found: {request.method} {path}")

    def _rules(self, request: Request) -> list[tuple[str, str, str]]:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if not header.startswith("Bearer ") or token not in self.tokens:
            raise _Error(401, 16, "invalid session: token signature is invalid")
        return self.tokens[token]

    def _list(self, rules: list[tuple[str, str, str]], query: list[tuple[str, str]]) -> Any:
        params = dict(query)
        projects = [v for k, v in query if k in ("projects", "project")]
        selector = _selector(params.get("selector", ""))
        namespace = params.get("appNamespace")
        items = [
            e.app
            for (ns, _), e in sorted(self.apps.items())
            if (namespace is None or ns == namespace)
            and (not projects or e.app["spec"].get("project") in projects)
            and _allowed(rules, "get", _object(e.app))
            and all(_matches(e.app["metadata"].get("labels") or {}, req) for req in selector)
        ]
        fields = params.get("fields")
        if fields:
            wanted = {f.removeprefix("items.") for f in fields.lstrip("-").split(",")}
            items = [_select(app, wanted, exclude=fields.startswith("-")) for app in items]
        return {"metadata": {"resourceVersion": "1"}, "items": items}

    def _get(
        self,
        rules: list[tuple[str, str, str]],
        namespace: str,
        project: str,
        name: str,
        action: str,
    ) -> FakeApp:
        entry = self.apps.get((namespace, name))
        if entry is None:
            # Argo CD hides whether an application exists, from admins too, unless the
            # request names a project in which the account may get it.
            if not project or not _allowed(rules, "get", f"{project}/{name}"):
                raise _denied()
            raise _Error(404, 5, f'applications.argoproj.io "{name}" not found')
        if not _allowed(rules, "get", _object(entry.app)) or not _allowed(
            rules, action, _object(entry.app)
        ):
            raise _denied()
        return entry

    def _sync(self, app: dict[str, Any], body: dict[str, Any]) -> Any:
        _check_project(app, body)
        if app.get("operation") or _state(app).get("phase") == "Running":
            raise _Error(400, 9, "another operation is already in progress")
        sync: dict[str, Any] = {
            "prune": bool(body.get("prune")),
            "dryRun": bool(body.get("dryRun")),
        }
        for key in ("revision", "resources"):
            if body.get(key):
                sync[key] = body[key]
        app["operation"] = {"sync": sync, "initiatedBy": {"username": "autodevops-mcp"}}
        return app

    def _rollback(self, app: dict[str, Any], body: dict[str, Any]) -> Any:
        _check_project(app, body)
        if (app["spec"].get("syncPolicy") or {}).get("automated"):
            raise _Error(400, 9, "rollback cannot be initiated when auto-sync is enabled")
        history = {int(h["id"]): h for h in app.get("status", {}).get("history") or []}
        wanted = int(body.get("id", -1))
        if wanted not in history:
            raise _Error(
                400,
                3,
                f"application {app['metadata']['name']} does not have deployment with id {wanted}",
            )
        entry = history[wanted]
        app["operation"] = {
            "sync": {
                "revision": entry["revision"],
                "source": entry.get("source"),
                "prune": bool(body.get("prune")),
            },
            "initiatedBy": {"username": "autodevops-mcp"},
        }
        return app


def _check_project(app: dict[str, Any], body: dict[str, Any]) -> None:
    if body.get("project") and body["project"] != app["spec"].get("project"):
        raise _denied()


def _object(app: dict[str, Any]) -> str:
    namespace = app["metadata"].get("namespace", ARGOCD_NAMESPACE)
    project = app["spec"].get("project", "default")
    name = app["metadata"]["name"]
    return f"{project}/{name}" if namespace == ARGOCD_NAMESPACE else f"{project}/{namespace}/{name}"


def _parse_csv(text: str) -> list[tuple[str, str, str]]:
    """(action, object glob, effect) of each `p` line on the `applications` resource."""
    rules = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == 6 and cells[0] == "p" and cells[2] in ("applications", "*"):
            rules.append((cells[3], cells[4], cells[5]))
    return rules


def _allowed(rules: Iterable[tuple[str, str, str]], action: str, obj: str) -> bool:
    matching = [e for a, o, e in rules if fnmatchcase(action, a) and fnmatchcase(obj, o)]
    return "allow" in matching and "deny" not in matching


def _selector(text: str) -> list[tuple[str, str, str]]:
    """The equality-based label selector subset: `k=v`, `k==v`, `k!=v`, `k`, `!k`."""
    requirements = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        for op in ("!=", "==", "="):
            if op in part:
                key, value = (s.strip() for s in part.split(op, 1))
                requirements.append((key, "!=" if op == "!=" else "=", value))
                break
        else:
            requirements.append((part.lstrip("!"), "!" if part.startswith("!") else "exists", ""))
    for key, _, _ in requirements:
        if not key or not all(c.isalnum() or c in "-_./" for c in key):
            raise _Error(
                500, 2, f"error parsing the selector: unable to parse requirement: {text!r}"
            )
    return requirements


def _matches(labels: dict[str, str], requirement: tuple[str, str, str]) -> bool:
    key, op, value = requirement
    if op == "=":
        return labels.get(key) == value
    if op == "!=":
        return labels.get(key) != value
    return (key in labels) == (op == "exists")


def _select(app: dict[str, Any], wanted: set[str], exclude: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, getter in _LIST_FIELDS.items():
        if (name in wanted) == exclude:
            continue
        value = getter(app)
        if value is None:
            continue
        node = out
        *parents, last = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out
