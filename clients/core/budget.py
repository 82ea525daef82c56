"""Budgets that keep a model loop bounded: steps, wall time and context.

Ollama silently truncates prompts longer than `num_ctx` (and its default context is small),
so the loop sets `num_ctx` itself and budgets what it sends: one tool result may use only a
share of the context, and a conversation near the limit gets a last, tool-free step.
Tokens are estimated from characters; no tokenizer is needed to stay well inside the limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REMOVED = "[earlier result removed to fit the context]"


@dataclass(frozen=True)
class Budgets:
    num_ctx: int = 16384
    max_steps: int = 12
    max_seconds: float = 300.0
    answer_seconds: float = 60.0
    result_share: float = 0.15
    context_share: float = 0.8
    chars_per_token: float = 3.5

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.num_ctx < 512 or self.max_seconds <= 0:
            raise ValueError("budgets need max_steps >= 1, num_ctx >= 512 and max_seconds > 0")

    @property
    def result_chars(self) -> int:
        """The most one tool result may put into the conversation."""
        return int(self.num_ctx * self.result_share * self.chars_per_token)

    @property
    def context_chars(self) -> int:
        """Past this, the next step is the last; the rest is left for the answer."""
        return int(self.num_ctx * self.context_share * self.chars_per_token)

    @property
    def reserve_seconds(self) -> float:
        """Time kept back so the last step can still answer."""
        return min(self.answer_seconds, self.max_seconds / 4)


def size_of(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
    return len(json.dumps(messages, default=str)) + len(json.dumps(tools))


def fit_result(text: str, limit: int) -> tuple[str, bool]:
    """Cut a result that would eat the context, with a notice the model reads."""
    if len(text) <= limit:
        return text, False
    notice = (
        f"\n[cut by the client: this result has {len(text)} characters and only the first "
        "part fits the model's context. Narrow the request (a filter, a smaller time range, "
        "an aggregation) to see the rest.]"
    )
    head = text[: max(0, limit - len(notice))]
    if "\n" in head:
        head = head[: head.rfind("\n")]
    return head + notice, True


def compact(messages: list[dict[str, Any]], tools: list[dict[str, Any]], limit: int) -> int:
    """Replace the oldest tool results with a placeholder until the conversation fits;
    returns how many were replaced."""
    replaced = 0
    for message in messages:
        if size_of(messages, tools) <= limit:
            break
        if message.get("role") == "tool" and message.get("content") != REMOVED:
            message["content"] = REMOVED
            replaced += 1
    return replaced
