"""What the model loop reports while it runs: one typed event per thing a person or an API
client may want to see (Jamie's portal streams them; Scarlet records them)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .pool import Outcome

CallOutcome = Outcome | Literal["refused", "repeated"]
Budget = Literal["steps", "time", "context"]
StopReason = Literal["answer", "steps", "time", "context", "model_error"]


@dataclass(frozen=True)
class StepStarted:
    step: int
    tools_offered: int
    kind: Literal["step_started"] = "step_started"


@dataclass(frozen=True)
class TextDelta:
    step: int
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class ToolCallStarted:
    step: int
    index: int
    tool: str
    arguments: dict[str, Any]
    kind: Literal["tool_call_started"] = "tool_call_started"


@dataclass(frozen=True)
class ToolCallFinished:
    """`text` is exactly what the model is given; `cut` says the client shortened it."""

    step: int
    index: int
    tool: str
    arguments: dict[str, Any]
    outcome: CallOutcome
    text: str
    seconds: float
    cut: bool
    approved_by: str | None
    kind: Literal["tool_call_finished"] = "tool_call_finished"


@dataclass(frozen=True)
class BudgetNotice:
    step: int
    budget: Budget
    message: str
    kind: Literal["budget"] = "budget"


@dataclass(frozen=True)
class Notice:
    """Something worth showing that is not a budget: servers down, a tool call written as
    text, a reply the loop could not use or a call announced but not made (and the hint the
    model got), a model that failed."""

    step: int
    reason: Literal[
        "servers_down",
        "text_tool_call",
        "quoted_tool_call",
        "unusable_reply",
        "announced_call",
        "model_error",
    ]
    message: str
    kind: Literal["notice"] = "notice"


@dataclass(frozen=True)
class FinalAnswer:
    text: str
    stop_reason: StopReason
    steps: int
    tool_calls: int
    seconds: float
    kind: Literal["final"] = "final"


Event = (
    StepStarted
    | TextDelta
    | ToolCallStarted
    | ToolCallFinished
    | BudgetNotice
    | Notice
    | FinalAnswer
)


def to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready form, e.g. for server-sent events."""
    return dataclasses.asdict(event)


def sse(kind: str, data: Any) -> str:
    """One server-sent event, `data` as JSON (times in ISO 8601): how Jamie and Scarlet stream."""

    def default(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return f"event: {kind}\ndata: {json.dumps(data, default=default)}\n\n"
