"""What an analyzer hands back: findings, the evidence that proves them, the writes they
propose. Evidence quotes the call that showed it, so a person can repeat it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "warning", "info")
EXCERPT_LINES = 12


@dataclass
class Evidence:
    tool: str
    arguments: dict[str, Any]
    excerpt: str


@dataclass
class ProposedAction:
    """A write for Scarlet's policy to decide on; `arguments` never carry `dry_run`."""

    tool: str
    arguments: dict[str, Any]
    why: str


@dataclass
class Finding:
    analyzer: str
    severity: str
    subject: str
    summary: str
    likely_cause: str
    evidence: list[Evidence]
    proposed_actions: list[ProposedAction] = field(default_factory=list)
    # What a person should change when no proposed write can fix the cause.
    remedy: str = ""
    namespace: str = ""
    name: str = ""


def subject_of(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name}"


def excerpt(name: str, detail: Any) -> str:
    return f"{name}: " + json.dumps(detail, separators=(", ", ": "), default=str)


def head(text: str) -> str:
    lines = text.splitlines()
    more = len(lines) - EXCERPT_LINES
    return "\n".join(lines[:EXCERPT_LINES] + ([f"… {more} more lines"] if more > 0 else []))
