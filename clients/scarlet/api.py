"""Scarlet's three HTTP faces: the agent API (8001, internal), metrics (9001), health (8080).

No `from __future__ import annotations` here: FastAPI reads the dependency annotations at
run time, and they name closures.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from autodevops.clients.core.events import sse
from autodevops.clients.core.pool import McpPool
from autodevops.common.headers import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_ROLES_HEADER
from autodevops.common.identity import DelegationRefused, Principal
from autodevops.common.unavailable import BackendUnavailable

from .auth import Callers, Unauthenticated
from .caps import MAX_ANNOTATION, MAX_LABEL, MAX_QUESTION, cut_fields, shorten
from .config import Actions
from .notify import Notifier
from .store import OpsStore
from .store.actions import UnknownAction
from .store.rows import RUN_STATUSES


def _cut(limit: int) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda fields: cut_fields(fields, limit)


class AlertmanagerAlert(BaseModel):
    """One alert of an Alertmanager webhook (version 4); unknown fields are dropped, and
    labels and annotations cut to size: an alert is data for a prompt, not a way to flood it."""

    status: Literal["firing", "resolved"]
    labels: Annotated[dict[str, str], AfterValidator(_cut(MAX_LABEL))]
    annotations: Annotated[dict[str, str], AfterValidator(_cut(MAX_ANNOTATION))] = Field(
        default_factory=dict
    )
    fingerprint: str = Field(min_length=1, max_length=200)
    startsAt: datetime | None = None


class AlertmanagerWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION)


class Decision(BaseModel):
    """Optional: a bare POST approves or rejects without a reason."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=2000)
    run: int | None = Field(None, description="the action's run: a mismatch decides nothing")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.submitted = Counter(
            "scarlet_runs_submitted",
            "Runs submitted, by trigger and whether a new run started.",
            ["kind", "created"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "scarlet_action_decisions",
            "Action decisions made through the API.",
            ["decision"],
            registry=self.registry,
        )
        # Read from the operations database at each scrape, so every replica reports the same.
        self.store_up = Gauge(
            "scarlet_store_up",
            "Whether the operations database answered at the last scrape.",
            registry=self.registry,
        )
        self.queued = Gauge(
            "scarlet_queue_runs", "Runs waiting for a worker.", registry=self.registry
        )
        self.oldest_queued = Gauge(
            "scarlet_queue_oldest_seconds",
            "How long the oldest waiting run has waited (0 when none waits).",
            registry=self.registry,
        )
        self.finished = Gauge(
            "scarlet_runs_finished_last_hour",
            "Runs that ended in the last hour, by final status.",
            ["status"],
            registry=self.registry,
        )

    async def refresh(self, store: OpsStore) -> None:
        try:
            overview = await store.runs.overview()
        except BackendUnavailable:
            self.store_up.set(0)
            return
        self.store_up.set(1)
        self.queued.set(overview["queued"])
        self.oldest_queued.set(overview["oldest_queued_seconds"])
        for status, count in overview["finished_last_hour"].items():
            self.finished.labels(status).set(count)


def agent_api(
    store: OpsStore,
    callers: Callers,
    policy: Actions,
    dedupe_seconds: float,
    metrics: Metrics,
    settle: Callable[[int], Awaitable[None]],
    after_resolve: Callable[[int], Awaitable[None]],
) -> FastAPI:
    # No /docs, /redoc or /openapi.json: the API is internal, and its reference is the README.
    app = FastAPI(
        title="Scarlet agent API", version="1", docs_url=None, redoc_url=None, openapi_url=None
    )
    window = timedelta(seconds=dedupe_seconds)

    def principal_of(
        authorization: Annotated[str | None, Header()] = None,
        on_behalf_of: Annotated[str | None, Header(alias=ON_BEHALF_OF_HEADER)] = None,
        on_behalf_of_roles: Annotated[str | None, Header(alias=ON_BEHALF_OF_ROLES_HEADER)] = None,
    ) -> Principal:
        try:
            return callers.principal(authorization, on_behalf_of, on_behalf_of_roles)
        except Unauthenticated as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
        except DelegationRefused as exc:
            raise HTTPException(403, f"delegation refused: {exc}") from exc

    def caller(role: str) -> Callable[..., Awaitable[Principal]]:
        async def check(principal: Annotated[Principal, Depends(principal_of)]) -> Principal:
            if role not in principal.roles:
                raise HTTPException(403, f"{principal.subject} lacks the {role} role")
            return principal

        return check

    def may_view(principal: Principal) -> bool:
        # Whoever may decide an action may also see it and its run.
        return bool({"viewer", *policy.all_approver_roles()} & set(principal.roles))

    async def viewer(principal: Annotated[Principal, Depends(principal_of)]) -> Principal:
        if not may_view(principal):
            raise HTTPException(403, f"{principal.subject} lacks the viewer role")
        return principal

    def may_decide(principal: Principal, tool: str) -> bool:
        return bool(set(policy.approvers(tool)) & set(principal.roles))

    @app.exception_handler(BackendUnavailable)
    async def database_down(_: Any, exc: BackendUnavailable) -> JSONResponse:
        return JSONResponse(
            {"error": "operations database unavailable", "detail": str(exc)}, status_code=503
        )

    @app.post("/v1/alerts", status_code=202)
    async def alerts(
        webhook: AlertmanagerWebhook,
        who: Annotated[Principal, Depends(caller("submitter"))],
    ) -> dict[str, Any]:
        runs, closed = [], []
        for alert in webhook.alerts:
            payload = alert.model_dump(mode="json")
            if alert.status == "resolved":
                resolved = await store.runs.resolve_alert(alert.fingerprint, payload)
                for run_id in resolved:
                    await after_resolve(run_id)
                closed += resolved
                continue
            name = alert.labels.get("alertname", "alert")
            summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
            question = shorten(f"Alert {name} is firing: {summary}".strip(), MAX_QUESTION)
            run, created = await store.runs.submit(
                "alert",
                question,
                fingerprint=alert.fingerprint,
                alert=payload,
                dedupe_window=window,
            )
            metrics.submitted.labels("alert", str(created).lower()).inc()
            runs.append({"run": run.id, "created": created, "fingerprint": alert.fingerprint})
        return {"runs": runs, "resolved_runs": closed, "submitted_by": who.subject}

    @app.post("/v1/runs", status_code=202)
    async def manual(
        request: RunRequest, who: Annotated[Principal, Depends(caller("submitter"))]
    ) -> dict[str, Any]:
        run, _ = await store.runs.submit("manual", request.question)
        await store.runs.add_step(run.id, "submitted", {"by": who.subject})
        metrics.submitted.labels("manual", "true").inc()
        return {"run": run.id, "status": run.status}

    @app.get("/v1/runs")
    async def runs(
        _: Annotated[Principal, Depends(viewer)],
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict[str, Any]]:
        if status is not None and status not in RUN_STATUSES:
            known = ", ".join(sorted(RUN_STATUSES))
            raise HTTPException(422, f"status: unknown status {status!r}; one of {known}")
        found = await store.runs.newest(status, limit)
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "question": r.question,
                "created_at": r.created_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "reason": r.reason,
                "headline": (r.report or {}).get("headline"),
                "subject": ((r.report or {}).get("subject") or {}).get("text"),
            }
            for r in found
        ]

    @app.get("/v1/runs/{run_id}")
    async def run(run_id: int, _: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        detail = await store.runs.detail(run_id)
        if detail is None:
            raise HTTPException(404, f"run {run_id} does not exist")
        return detail

    @app.get("/v1/runs/{run_id}/events")
    async def events(
        run_id: int, request: Request, _: Annotated[Principal, Depends(viewer)]
    ) -> StreamingResponse:
        """Server-sent events: each step as it is recorded, each status change, and `end`
        once the run is over."""
        if await store.runs.get(run_id) is None:
            raise HTTPException(404, f"run {run_id} does not exist")
        return StreamingResponse(
            _run_events(store, run_id, request), media_type="text/event-stream"
        )

    @app.get("/v1/me")
    async def me(principal: Annotated[Principal, Depends(principal_of)]) -> dict[str, Any]:
        """Who Scarlet takes the caller for, and what it may do: the portal shows no more."""
        return {
            "subject": principal.subject,
            "roles": list(principal.roles),
            "acting_for_by": principal.actor,
            "may_view": may_view(principal),
            "may_submit": "submitter" in principal.roles,
            "may_decide": bool(set(policy.all_approver_roles()) & set(principal.roles)),
        }

    @app.get("/v1/actions")
    async def pending(
        principal: Annotated[Principal, Depends(viewer)],
    ) -> list[dict[str, Any]]:
        waiting = await store.actions.pending()
        dry_runs = await store.runs.dry_runs(waiting)
        return [
            {
                "id": a.id,
                "run": a.run_id,
                "tool": a.tool,
                "arguments": a.arguments,
                "why": a.why,
                "created_at": a.created_at.isoformat(),
                "expires_at": a.expires_at.isoformat() if a.expires_at else None,
                "approver_roles": list(policy.approvers(a.tool)),
                "may_decide": may_decide(principal, a.tool),
                "dry_run": dry_runs.get(a.id),
            }
            for a in waiting
        ]

    async def decide(
        action_id: int, approved: bool, principal: Principal, body: Decision | None
    ) -> Any:
        body = body or Decision.model_validate({})
        found = await store.actions.get(action_id)
        if found is None or body.run not in (None, found.run_id):
            of_run = "" if body.run is None else f" of run {body.run}"
            raise HTTPException(404, f"no action {action_id}{of_run}")
        if not may_decide(principal, found.tool):
            needed = ", ".join(policy.approvers(found.tool))
            held = ", ".join(principal.roles) or "none"
            raise HTTPException(
                403,
                f"{principal.subject} may not decide action {action_id} ({found.tool}): "
                f"that takes one of the roles {needed}; {principal.subject} has {held}",
            )
        try:
            action = await store.actions.decide(
                action_id, approved, principal.subject, body.reason, run_id=body.run
            )
        except UnknownAction as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc
        metrics.decisions.labels("approve" if approved else "reject").inc()
        await store.runs.add_step(
            action.run_id,
            "action_decided",
            {
                "action": action.id,
                "tool": action.tool,
                "decision": action.status,
                "by": principal.subject,
                "through": principal.actor,
                "reason": body.reason,
            },
        )
        if not approved:
            await settle(action.run_id)
        return {
            "action": action.id,
            "status": action.status,
            "decided_by": action.decided_by,
            "through": principal.actor,
            "reason": action.reason,
        }

    @app.post("/v1/actions/{action_id}/approve")
    async def approve(
        action_id: int,
        principal: Annotated[Principal, Depends(principal_of)],
        body: Annotated[Decision | None, Body()] = None,
    ) -> Any:
        return await decide(action_id, True, principal, body)

    @app.post("/v1/actions/{action_id}/reject")
    async def reject(
        action_id: int,
        principal: Annotated[Principal, Depends(principal_of)],
        body: Annotated[Decision | None, Body()] = None,
    ) -> Any:
        return await decide(action_id, False, principal, body)

    return app


FINAL_STATUSES = frozenset({"completed", "partial", "failed", "closed"})
EVENTS_POLL_SECONDS = 0.5


async def _run_events(store: OpsStore, run_id: int, request: Request) -> AsyncIterator[str]:
    last_step, last_status = 0, ""
    while not await request.is_disconnected():
        for step in await store.runs.steps_after(run_id, last_step):
            last_step = step["id"]
            yield sse("step", step)
        run = await store.runs.get(run_id)
        if run is None:
            return
        if run.status != last_status:
            last_status = run.status
            yield sse("status", {"run": run_id, "status": run.status, "reason": run.reason})
        if run.status in FINAL_STATUSES:
            yield sse("end", {"run": run_id, "status": run.status})
            return
        await asyncio.sleep(EVENTS_POLL_SECONDS)


def metrics_app(metrics: Metrics, store: OpsStore) -> FastAPI:
    app = FastAPI(title="Scarlet metrics", openapi_url=None)

    @app.get("/metrics")
    async def exposition() -> PlainTextResponse:
        await metrics.refresh(store)
        return PlainTextResponse(
            generate_latest(metrics.registry), media_type="text/plain; version=0.0.4"
        )

    return app


def health_app(store: OpsStore, pool: McpPool, notifier: Notifier) -> FastAPI:
    app = FastAPI(title="Scarlet health", openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        problems = []
        try:
            await store.ping()
        except BackendUnavailable as exc:
            problems.append(f"operations database: {exc}")
        servers = {s.name: ("up" if s.up else s.reason) for s in pool.status()}
        down = [f"MCP server {name}: {why}" for name, why in servers.items() if why != "up"]
        # Notifications are never fatal: a broken webhook is reported, and the pod stays ready.
        notifications = notifier.problem()
        body = {
            "status": "ready" if not problems else "unavailable",
            "problems": problems + down + ([notifications] if notifications else []),
            "servers": servers,
            "notifications": notifications or "ok",
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    return app
