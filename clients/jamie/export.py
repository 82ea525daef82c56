"""A conversation taken away: Markdown to read or paste into an incident note, JSON to keep
or process. Both hold every kept step, so the audit trail leaves with the answer."""

from __future__ import annotations

import json
import re
from typing import Any

from .memory import Conversation, Message


def as_json(conversation: Conversation, messages: list[Message]) -> str:
    return json.dumps(
        {"conversation": vars(conversation), "messages": [vars(m) for m in messages]},
        default=str,
        indent=2,
    )


def as_markdown(conversation: Conversation, messages: list[Message]) -> str:
    lines = [
        f"# {conversation.title}",
        "",
        f"_Started {conversation.created_at:%Y-%m-%d %H:%M} UTC_",
    ]
    for message in messages:
        stamp = f"{message.created_at:%Y-%m-%d %H:%M:%S} UTC"
        if message.role == "user":
            lines += ["", f"## You · {stamp}", "", message.content]
            continue
        lines += ["", f"## Jamie · {stamp}"]
        steps = [step for step in message.steps if step.get("kind") != "final"]
        if not steps:
            lines += ["", message.content]
        for step in steps:
            lines += ["", *_step(step)]
    return "\n".join(lines) + "\n"


def _step(step: dict[str, Any]) -> list[str]:
    kind = step.get("kind")
    if kind == "text":
        return [step.get("text", "")]
    if kind == "tool_call_finished":
        arguments = json.dumps(step.get("arguments", {}), indent=2, default=str)
        facts = f"{step.get('outcome')} · {step.get('seconds', 0):.2f} s"
        if step.get("approved_by"):
            facts += f" · approved by {step['approved_by']}"
        if step.get("cut"):
            facts += " · result cut"
        return [
            f"**Tool `{step.get('tool')}`** ({facts})",
            "",
            _fence(arguments, "json"),
            "",
            _fence(step.get("text", "")),
        ]
    if kind == "confirmed":
        decision = "confirmed" if step.get("approved") else "refused"
        return [f"> Write {decision} by {step.get('by')} at {step.get('at', '?')}"]
    if kind == "recall":
        hits = step.get("hits") or []
        return [f"> From memory: {hit.get('question', '')!r}" for hit in hits]
    if kind in ("budget", "notice"):
        return [f"> {step.get('message', '')}"]
    if kind == "error":
        return [f"> Error: {step.get('detail', '')}"]
    return []


def _fence(text: str, language: str = "") -> str:
    """A fence longer than any backtick run inside, so the content cannot close it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text}\n{ticks}"
