"""Every step of an answer as the person saw it (text, tool calls with arguments and results,
confirmations with who decided and when, recall hits), kept with the answer so a reopened
conversation shows the whole audit trail, not only the final words.

Bounded: each step's text and each result are cut at `STEP_CHARS` (the step says so), and an
answer keeps at most `MAX_STEPS` steps; the last one says how many were left out.
"""

from __future__ import annotations

import json
from typing import Any

from autodevops.common.redact import redact_value

STEP_CHARS = 8000
ARGUMENT_CHARS = 4000
MAX_STEPS = 200
# The events a reader of the conversation needs; step_started and ping are bookkeeping.
KEPT = frozenset(
    {
        "recall",
        "text",
        "tool_call_started",
        "confirm",
        "confirmed",
        "tool_call_finished",
        "budget",
        "notice",
        "final",
        "error",
    }
)


def _cut(text: str, limit: int = STEP_CHARS) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _arguments(arguments: Any) -> Any:
    """Redacted, and replaced by a cut JSON text when too long to keep whole."""
    redacted = redact_value(arguments)
    text = json.dumps(redacted, default=str)
    if len(text) <= ARGUMENT_CHARS:
        return redacted
    return {"_cut": text[:ARGUMENT_CHARS]}


class Transcript:
    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.left_out = 0

    def add(self, kind: str, data: dict[str, Any]) -> None:
        if kind not in KEPT:
            return
        if kind == "text":
            last = self.steps[-1] if self.steps else None
            if last is not None and last["kind"] == "text" and last["step"] == data["step"]:
                if not last.get("cut"):
                    last["text"], last["cut"] = _cut(last["text"] + data["text"])
                return
        step = {"kind": kind, **data}
        if "arguments" in step:
            step["arguments"] = _arguments(step["arguments"])
        if kind in ("text", "tool_call_finished", "final"):
            step["text"], cut = _cut(step.get("text", ""))
            step["cut"] = bool(step.get("cut")) or cut
        if len(self.steps) >= MAX_STEPS and kind != "final":
            self.left_out += 1
            return
        self.steps.append(step)

    def kept(self) -> list[dict[str, Any]]:
        """The steps to store; a notice says how many did not fit."""
        if not self.left_out:
            return self.steps
        notice = {
            "kind": "notice",
            "step": -1,
            "reason": "transcript_cut",
            "message": f"{self.left_out} more steps were not kept",
        }
        return [*self.steps, notice]
