"""Jamie's HTTP faces: the API (8000), the portal with the same API under /api (3000), and
health (9000).

No `from __future__ import annotations` here: FastAPI reads the dependency annotations at
run time, and they name closures.
"""

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from autodevops.clients.core.events import sse
from autodevops.common.unavailable import BackendUnavailable

from .chat import Chat, ModelUnavailable
from .config import JamieConfig
from .confirmations import Confirmations
from .export import as_json, as_markdown
from .guard import Guard
from .keyvalue import ping
from .markdown import LiveMarkdown, render, with_html
from .memory import ConversationNotFound, LazyMemory, Message
from .metrics import JamieMetrics
from .model_status import ModelProbe
from .people import Networks, Person, ProxyIdentity, ProxyRefused, UsersFile
from .ratelimit import RateLimiter
from .scarlet import ScarletApi, ScarletRefused
from .sessions import Session, Sessions
from .signin import SignInLimits
from .tools import PeoplesTools

COOKIE = "jamie_session"
PORTAL = Path(__file__).with_name("portal")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Jamie:
    """Everything a request may need; built once by the service, shared by the three apps."""

    config: JamieConfig
    redis: Redis
    sessions: Sessions
    limiter: RateLimiter
    sign_in_limits: SignInLimits
    users: UsersFile | None
    proxy: ProxyIdentity | None
    memory: LazyMemory
    tools: PeoplesTools
    confirmations: Confirmations
    probe: ModelProbe
    chat: Chat
    metrics: JamieMetrics
    scarlet: ScarletApi | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(_Body):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class NewConversation(_Body):
    title: str | None = Field(default=None, min_length=1, max_length=200)


class Rename(_Body):
    title: str = Field(min_length=1, max_length=200)


class Question(_Body):
    content: str = Field(min_length=1, max_length=8000)


class Confirmation(_Body):
    approve: bool


class ScarletDecision(_Body):
    run: int = Field(ge=1, description="the action's run: a mismatch decides nothing")
    reason: str = Field(default="", max_length=2000)


def api_app(jamie: Jamie) -> FastAPI:
    app = FastAPI(title="Jamie API", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(app)
    app.middleware("http")(_json_only)
    config = jamie.config
    forwarders = Networks(config.auth.forwarders)

    def bearer(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    async def signed_in(request: Request, response: Response) -> Person:
        token = request.cookies.get(COOKIE) or bearer(request)
        session = await jamie.sessions.get(token) if token else None
        behind_proxy = None
        if jamie.proxy is not None:
            # The socket's peer, never an address from a header: the ASGI server is told not
            # to rewrite it (see serving), so only the proxy itself can vouch for someone.
            peer = request.client.host if request.client else None
            try:
                behind_proxy = jamie.proxy.person(peer, request.headers.raw)
            except ProxyRefused as exc:
                raise HTTPException(401, str(exc)) from exc
        if behind_proxy is not None:
            if session is None or session.person != behind_proxy:
                created = await jamie.sessions.for_proxied(behind_proxy)
                if created is not None:
                    _set_cookie(response, request, created, config)
            return behind_proxy
        if session is None:
            raise HTTPException(401, "not signed in, or the session expired: sign in again")
        return session.person

    Who = Annotated[Person, Depends(signed_in)]

    @app.post("/api/session")
    async def sign_in(body: SignIn, request: Request, response: Response) -> dict[str, Any]:
        if jamie.users is None:
            raise HTTPException(400, "password sign-in is not configured; use the sign-in proxy")
        held = await jamie.sign_in_limits.before(body.username, client_address(request, forwarders))
        if held is not None:
            jamie.metrics.sign_ins.labels("limited").inc()
            raise _too_many(held.what, held.seconds)
        person = await asyncio.to_thread(jamie.users.verify, body.username, body.password)
        if person is None:
            await jamie.sign_in_limits.failed(body.username)
            jamie.metrics.sign_ins.labels("wrong").inc()
            raise HTTPException(401, "wrong user name or password")
        await jamie.sign_in_limits.succeeded(body.username)
        jamie.metrics.sign_ins.labels("ok").inc()
        session = await jamie.sessions.create(person)
        _set_cookie(response, request, session, config)
        return {**_person(person), "expires_at": session.expires_at, "token": session.token}

    @app.delete("/api/session", status_code=204)
    async def sign_out(request: Request, response: Response) -> None:
        token = request.cookies.get(COOKIE) or bearer(request)
        if token:
            await jamie.sessions.delete(token)
        response.delete_cookie(COOKIE, path="/")

    @app.get("/api/me")
    async def me(person: Who) -> dict[str, Any]:
        return _person(person)

    @app.get("/api/status")
    async def status(person: Who) -> dict[str, Any]:
        model = await jamie.probe.status()
        pool = await jamie.tools.pool_for(person)
        await pool.refresh()
        return {
            "model": {
                "host": model.host,
                "name": model.name,
                "up": model.up,
                "detail": model.detail,
            },
            "servers": [
                {"name": s.name, "up": s.up, "reason": s.reason, "tools": s.tools}
                for s in pool.status()
            ],
        }

    @app.get("/api/conversations")
    async def conversations(
        person: Who, q: Annotated[str | None, Query(max_length=200)] = None
    ) -> list[dict[str, Any]]:
        memory = await jamie.memory.get()
        found = await memory.list_conversations(person.user, search=(q or "").strip() or None)
        return [vars(c) for c in found]

    @app.post("/api/conversations", status_code=201)
    async def new_conversation(body: NewConversation, person: Who) -> dict[str, Any]:
        memory = await jamie.memory.get()
        return vars(await memory.create_conversation(person.user, body.title or "New conversation"))

    @app.get("/api/conversations/{conversation_id}")
    async def conversation(conversation_id: str, person: Who) -> dict[str, Any]:
        memory = await jamie.memory.get()
        found, messages = await memory.reopen(person.user, conversation_id)
        return {"conversation": vars(found), "messages": [_shown(m) for m in messages]}

    @app.get("/api/conversations/{conversation_id}/export")
    async def export(
        conversation_id: str, person: Who, format: Literal["markdown", "json"] = "markdown"
    ) -> Response:
        memory = await jamie.memory.get()
        found, messages = await memory.reopen(person.user, conversation_id)
        if format == "json":
            body, media, suffix = as_json(found, messages), "application/json", "json"
        else:
            body, media, suffix = as_markdown(found, messages), "text/markdown", "md"
        name = f"jamie-{found.created_at:%Y%m%d-%H%M}-{found.id}.{suffix}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(body, media_type=f"{media}; charset=utf-8", headers=disposition)

    @app.patch("/api/conversations/{conversation_id}")
    async def rename(conversation_id: str, body: Rename, person: Who) -> dict[str, Any]:
        memory = await jamie.memory.get()
        return vars(await memory.rename(person.user, conversation_id, body.title))

    @app.delete("/api/conversations/{conversation_id}", status_code=204)
    async def delete(conversation_id: str, person: Who) -> None:
        memory = await jamie.memory.get()
        await memory.delete(person.user, conversation_id)

    @app.post("/api/conversations/{conversation_id}/messages")
    async def ask(conversation_id: str, body: Question, person: Who) -> StreamingResponse:
        wait = await jamie.limiter.hit("chat", person.user, config.limits.chat_per_minute)
        if wait is not None:
            raise _too_many(f"questions for {person.user}", wait)
        turn = await jamie.chat.prepare(person, conversation_id, body.content)

        async def stream() -> AsyncIterator[str]:
            live = LiveMarkdown()
            async for event in turn.events():
                for kind, data in live.feed(*event):
                    yield ": ping\n\n" if kind == "ping" else sse(kind, data)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post("/api/confirmations/{confirmation_id}")
    async def confirm(confirmation_id: str, body: Confirmation, person: Who) -> dict[str, Any]:
        result = await jamie.confirmations.decide(person.user, confirmation_id, body.approve)
        if result == "unknown":
            raise HTTPException(404, f"no confirmation {confirmation_id} waits for you")
        if result == "already_decided":
            raise HTTPException(409, f"confirmation {confirmation_id} was already decided")
        return {"id": confirmation_id, "approved": body.approve}

    _scarlet_routes(app, jamie, signed_in)
    return app


def _scarlet_routes(
    app: FastAPI, jamie: Jamie, signed_in: Callable[..., Awaitable[Person]]
) -> None:
    """Scarlet's runs and approvals for the console, asked of Scarlet for the person."""
    Who = Annotated[Person, Depends(signed_in)]

    def scarlet() -> ScarletApi:
        if jamie.scarlet is None:
            raise HTTPException(404, "Jamie is not connected to Scarlet (no `scarlet` settings)")
        return jamie.scarlet

    @app.get("/api/scarlet/me")
    async def scarlet_me(person: Who) -> Any:
        """What the person may do in Scarlet; without Scarlet, that there is none to ask."""
        if jamie.scarlet is None:
            return {"connected": False, "may_view": False, "may_decide": False}
        return {"connected": True} | await jamie.scarlet.get(person, "/v1/me")

    @app.get("/api/scarlet/runs")
    async def scarlet_runs(
        person: Who,
        status: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Any:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return await scarlet().get(person, "/v1/runs", params)

    @app.get("/api/scarlet/runs/{run_id}")
    async def scarlet_run(run_id: int, person: Who) -> Any:
        return await scarlet().get(person, f"/v1/runs/{run_id}")

    @app.get("/api/scarlet/runs/{run_id}/events")
    async def scarlet_run_events(run_id: int, person: Who) -> StreamingResponse:
        """Scarlet's own event stream, relayed as it comes; a refusal arrives before it."""
        stack = contextlib.AsyncExitStack()
        chunks = await stack.enter_async_context(
            scarlet().events(person, f"/v1/runs/{run_id}/events")
        )

        async def relay() -> AsyncIterator[bytes]:
            async with stack:
                async for chunk in chunks:
                    yield chunk

        return StreamingResponse(
            relay(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/scarlet/actions")
    async def scarlet_actions(person: Who) -> Any:
        return await scarlet().get(person, "/v1/actions")

    @app.post("/api/scarlet/actions/{action_id}/{verb}")
    async def scarlet_decide(
        action_id: int, verb: Literal["approve", "reject"], body: ScarletDecision, person: Who
    ) -> Any:
        wait = await jamie.limiter.hit("decide", person.user, jamie.config.limits.chat_per_minute)
        if wait is not None:
            raise _too_many(f"decisions by {person.user}", wait)
        return await scarlet().post(person, f"/v1/actions/{action_id}/{verb}", body.model_dump())


def portal_app(jamie: Jamie) -> FastAPI:
    """The page and its API on one origin, so the session cookie can be SameSite=Strict."""
    app = api_app(jamie)

    @app.get("/c/{conversation_id}")
    async def deep_link(conversation_id: str) -> FileResponse:
        """A conversation's own address: the page opens it (or says it is not there)."""
        return FileResponse(PORTAL / "index.html")

    @app.get("/scarlet/runs")
    @app.get("/scarlet/runs/{run_id}")
    @app.get("/scarlet/approvals")
    async def console_link(run_id: str = "") -> FileResponse:
        """Scarlet's pages have their own addresses too; the page asks Scarlet what to show."""
        return FileResponse(PORTAL / "index.html")

    app.mount("/", StaticFiles(directory=PORTAL, html=True), name="portal")
    return app


def for_people(app: FastAPI, config: JamieConfig) -> Guard:
    """An app browsers may reach, behind the Host allow-list and the security headers."""
    return Guard(app, config.allowed_hosts)


def health_app(jamie: Jamie) -> FastAPI:
    """Probes and the Prometheus scrape share the internal port; neither needs a session."""
    app = FastAPI(title="Jamie health", docs_url=None, redoc_url=None)

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        for dependency, state in (await _dependency_checks(jamie)).items():
            jamie.metrics.dependency_up.labels(dependency).set(1 if state == "ok" else 0)
        return PlainTextResponse(
            jamie.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await _dependency_checks(jamie)
        down = [name for name in ("redis", "mongodb") if checks[name] != "ok"]
        body: dict[str, Any] = {"status": "ready", "checks": checks}
        if down:
            body = {"status": "unavailable", "down": down, "checks": checks}
        elif checks["model"] != "ok":
            body = {"status": "degraded", "down": ["model"], "checks": checks}
        return JSONResponse(body, status_code=503 if down else 200)

    return app


async def _dependency_checks(jamie: Jamie) -> dict[str, str]:
    """Each dependency: "ok", or what is wrong with it (naming where it is and what to check)."""
    checks: dict[str, str] = {}
    try:
        await ping(jamie.redis)
        checks["redis"] = "ok"
    except BackendUnavailable as exc:
        checks["redis"] = str(exc)
    try:
        await (await jamie.memory.get()).ping()
        checks["mongodb"] = "ok"
    except BackendUnavailable as exc:
        checks["mongodb"] = str(exc)
    model = await jamie.probe.status()
    checks["model"] = "ok" if model.up else model.detail
    return checks


async def _json_only(request: Request, call_next: Any) -> Any:
    """A cross-site form cannot send JSON, and a foreign page cannot pass the Origin check."""
    if request.method in MUTATING and request.url.path.startswith("/api/"):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            return JSONResponse({"detail": "send Content-Type: application/json"}, 415)
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
            return JSONResponse({"detail": f"requests from {origin} are not accepted"}, 403)
    return await call_next(request)


def client_address(request: Request, forwarders: Networks) -> str:
    """The socket's peer; from a forwarder (the ingress), the last address it appended to
    X-Forwarded-For."""
    peer = request.client.host if request.client else ""
    forwarded = request.headers.getlist("x-forwarded-for")
    if forwarded and forwarders(peer):
        return forwarded[-1].rsplit(",", 1)[-1].strip() or peer
    return peer


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"] if p != "body") or "body"
            problems.append(f"{where}: {error['msg']}")
        return JSONResponse({"detail": "; ".join(problems)}, 422)

    @app.exception_handler(ConversationNotFound)
    async def missing(_: Request, exc: ConversationNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no conversation {exc.args[0]}"}, 404)

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 503)

    for kind in (BackendUnavailable, ModelUnavailable):
        app.add_exception_handler(kind, unavailable)

    @app.exception_handler(ScarletRefused)
    async def refused(_: Request, exc: ScarletRefused) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status)


def _set_cookie(
    response: Response, request: Request, session: Session, config: JamieConfig
) -> None:
    mode = config.auth.cookie_secure
    https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    # No Max-Age: the session slides on every use in Redis, and a browser cookie with a fixed
    # lifetime would end an active session anyway.
    response.set_cookie(
        COOKIE,
        session.token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=mode == "always" or (mode == "auto" and https),
    )


def _too_many(what: str, wait: float) -> HTTPException:
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429,
        f"too many {what}; retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def _shown(message: Message) -> dict[str, Any]:
    """A stored message as the portal shows it: markdown rendered, steps included."""
    shown = vars(message) | {"steps": [with_html(step) for step in message.steps]}
    if message.role == "assistant":
        shown["html"] = render(message.content)
    return shown


def _person(person: Person) -> dict[str, Any]:
    return {
        "user": person.user,
        "display_name": person.display_name,
        "roles": list(person.roles),
        "auth": person.auth,
    }
