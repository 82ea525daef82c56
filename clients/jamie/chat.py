"""One question and its answer: memory in, the model loop with the person's tools, memory out.

`Chat.prepare` checks everything a question needs before anything streams (the conversation
is the person's, the model answers, the memory is reachable), so those failures are plain HTTP
errors. `Turn.events` then streams what happens; a write in the middle waits for the person's
confirmation, and if the person goes away the turn is cancelled and the write never runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ollama import AsyncClient

from autodevops.clients.core.approval import ApprovalDecision, ApprovalRequest
from autodevops.clients.core.budget import Budgets
from autodevops.clients.core.events import FinalAnswer, ToolCallFinished, to_dict
from autodevops.clients.core.loop import LoopSettings, ModelLoop
from autodevops.common import telemetry
from autodevops.common.redact import redact_value
from autodevops.common.unavailable import BackendUnavailable

from .config import JamieConfig
from .confirmations import Confirmations
from .memory import Conversation, ConversationMemory, LazyMemory, Message
from .metrics import JamieMetrics
from .model_status import ModelProbe
from .people import Person
from .tools import PeoplesTools
from .transcript import Transcript

log = logging.getLogger("autodevops.jamie.chat")
# One JSON line per decision on a write: who confirmed or refused what (the servers audit
# the call itself, as the person, with Jamie as the actor).
audit = logging.getLogger("autodevops.jamie.audit")

HISTORY_MESSAGES = 20
RECALL_HITS = 3
# Similarity is (1 + cosine) / 2; below this, a past exchange is more noise than help.
RECALL_MIN_SCORE = 0.8
RECALL_CHARS = 600
HEARTBEAT_SECONDS = 15.0
UNTITLED = "New conversation"

ChatEvent = tuple[str, dict[str, Any]]


class ModelUnavailable(Exception):
    """No model answers at the configured address; the message says how to fix it."""


@dataclass
class Turn:
    chat: Chat
    person: Person
    memory: ConversationMemory
    conversation: Conversation
    history: list[Message]
    question: str
    id: str
    transcript: Transcript = field(default_factory=Transcript)

    def _say(self, queue: asyncio.Queue[ChatEvent | None], kind: str, data: dict[str, Any]) -> None:
        """To the person now, and to the transcript kept with the answer."""
        self.transcript.add(kind, data)
        queue.put_nowait((kind, data))

    async def events(self) -> AsyncIterator[ChatEvent]:
        """Every event of the turn, then `done`; a `ping` when nothing happened for a while."""
        queue: asyncio.Queue[ChatEvent | None] = asyncio.Queue()
        yield "turn", {"turn_id": self.id, "conversation_id": self.conversation.id}
        task = asyncio.create_task(self._run(queue))
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield "ping", {}
                    continue
                if item is None:
                    break
                yield item
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, queue: asyncio.Queue[ChatEvent | None]) -> None:
        """The turn as one span (when tracing is on); its tool calls are its children, down
        to the servers."""
        with telemetry.span(
            "jamie turn", kind="server", turn=self.id, conversation=self.conversation.id
        ) as span:
            stop_reason = await self._answer(queue)
            span.set(stop_reason=stop_reason)
            if stop_reason in (None, "model_error"):
                span.fail(stop_reason or "failed")

    async def _answer(self, queue: asyncio.Queue[ChatEvent | None]) -> str | None:
        final: FinalAnswer | None = None
        try:
            messages = [{"role": "system", "content": self.chat.config.system_prompt}]
            recalled = await self._recall(queue)
            if recalled:
                messages.append({"role": "system", "content": recalled})
            messages += [{"role": m.role, "content": m.content} for m in self.history]
            messages.append({"role": "user", "content": self.question})
            loop = ModelLoop(
                self.chat.ollama,
                await self.chat.tools.pool_for(self.person),
                self.chat.settings,
                approver=self._approve_with(queue),
            )
            metrics = self.chat.metrics
            async for event in loop.run(messages):
                data = to_dict(event)
                self._say(queue, data.pop("kind"), data)
                if isinstance(event, ToolCallFinished):
                    server = event.tool.partition("__")[0]
                    metrics.tool_calls.labels(server, event.outcome).inc()
                if isinstance(event, FinalAnswer):
                    final = event
                    metrics.questions.labels(event.stop_reason).inc()
                    metrics.turn_seconds.observe(event.seconds)
            if final is not None and final.stop_reason != "model_error":
                await self._remember(final.text, queue)
        except BackendUnavailable as exc:
            self._say(queue, "error", {"detail": str(exc)})
        except Exception:
            log.exception("turn %s of %s failed", self.id, self.person.user)
            detail = f"Jamie failed on this question (turn {self.id}); the details are in its log"
            self._say(queue, "error", {"detail": detail})
        finally:
            queue.put_nowait(None)
        return None if final is None else final.stop_reason

    async def _recall(self, queue: asyncio.Queue[ChatEvent | None]) -> str:
        """Past exchanges from the person's other conversations that bear on the question."""
        recall = await self.memory.recall(self.person.user, self.question, k=RECALL_HITS + 2)
        hits = [
            hit
            for hit in recall.hits
            if hit.conversation_id != self.conversation.id
            and (hit.score >= RECALL_MIN_SCORE or hit.matched)
        ][:RECALL_HITS]
        self._say(
            queue,
            "recall",
            {
                "mode": recall.mode,
                "notice": recall.notice,
                "hits": [
                    {
                        "conversation_id": hit.conversation_id,
                        "question": hit.question,
                        "score": round(hit.score, 3),
                        "matched": list(hit.matched),
                    }
                    for hit in hits
                ],
            },
        )
        if not hits:
            return ""
        lines = ["Earlier exchanges with this person that may help (from memory):"]
        for hit in hits:
            lines.append(
                f"- {hit.created_at:%Y-%m-%d}: asked {hit.question[:RECALL_CHARS]!r}; "
                f"answered {hit.answer[:RECALL_CHARS]!r}"
            )
        return "\n".join(lines)

    def _approve_with(self, queue: asyncio.Queue[ChatEvent | None]) -> Any:
        confirmations = self.chat.confirmations
        counted = self.chat.metrics.confirmations
        user = self.person.user

        async def approve(request: ApprovalRequest) -> ApprovalDecision:
            try:
                confirmation = await confirmations.open(user, request.tool.name, request.arguments)
            except BackendUnavailable as exc:
                return ApprovalDecision(False, "jamie", f"no confirmation possible: {exc}")
            self._say(
                queue,
                "confirm",
                {
                    "id": confirmation,
                    "tool": request.tool.name,
                    "arguments": request.arguments,
                    "step": request.step,
                },
            )

            def record(outcome: str) -> None:
                counted.labels(outcome).inc()
                entry = {
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "component": "jamie",
                    "event": "confirmation",
                    "user": user,
                    "tool": request.tool.name,
                    "arguments": redact_value(request.arguments),
                    "decision": outcome,
                    "turn": self.id,
                    "conversation": self.conversation.id,
                }
                audit.info(json.dumps(entry, default=str))

            try:
                decision = await confirmations.wait(confirmation)
            except asyncio.CancelledError:
                record("abandoned")
                with contextlib.suppress(BackendUnavailable):
                    await asyncio.shield(confirmations.cancel(confirmation))
                raise
            except BackendUnavailable as exc:
                record("lost")
                return ApprovalDecision(False, "jamie", f"confirmation lost: {exc}")
            expired = not decision.approved and decision.by == "jamie"
            record("approved" if decision.approved else "expired" if expired else "cancelled")
            self._say(
                queue,
                "confirmed",
                {
                    "id": confirmation,
                    "approved": decision.approved,
                    "by": decision.by,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            return ApprovalDecision(decision.approved, decision.by, decision.reason)

        return approve

    async def _remember(self, answer: str, queue: asyncio.Queue[ChatEvent | None]) -> None:
        user, conversation = self.person.user, self.conversation
        exchange = await self.memory.add_exchange(
            user, conversation.id, self.question, answer, self.transcript.kept()
        )
        if conversation.message_count == 0 and conversation.title == UNTITLED:
            await self.memory.rename(user, conversation.id, _title_from(self.question))
        queue.put_nowait(("done", {"exchange_id": exchange.id, "notice": exchange.notice}))


class Chat:
    def __init__(
        self,
        config: JamieConfig,
        ollama: AsyncClient,
        memory: LazyMemory,
        tools: PeoplesTools,
        confirmations: Confirmations,
        probe: ModelProbe,
        metrics: JamieMetrics,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.ollama = ollama
        self.memory = memory
        self.tools = tools
        self.confirmations = confirmations
        self.probe = probe
        model = config.model
        self.settings = LoopSettings(
            model=model.name,
            budgets=Budgets(
                num_ctx=model.num_ctx, max_steps=model.max_steps, max_seconds=model.max_seconds
            ),
        )

    async def prepare(self, person: Person, conversation_id: str, question: str) -> Turn:
        """Raises `ConversationNotFound`, `BackendUnavailable` or `ModelUnavailable`."""
        memory = await self.memory.get()
        conversation, history = await memory.reopen(
            person.user, conversation_id, last=HISTORY_MESSAGES
        )
        status = await self.probe.status()
        if not status.up:
            raise ModelUnavailable(status.detail)
        return Turn(
            self,
            person,
            memory,
            conversation,
            history,
            question,
            secrets.token_urlsafe(8),
        )


def _title_from(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= 60 else line[:59] + "…"
