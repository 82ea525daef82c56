"""Who may let a tool call run: the hook Jamie (a person confirms) and Scarlet (an approval
queue) plug in. By default anything not marked read-only needs approval, and without an
approver it is refused: a model can never write on its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .pool import PoolTool


@dataclass(frozen=True)
class ApprovalRequest:
    tool: PoolTool
    arguments: dict[str, Any]
    step: int
    # The model printed the call as text instead of calling: it may be a quotation the loop
    # could not tell apart, so no policy should let it write without a person.
    written_as_text: bool = False


@dataclass(frozen=True)
class ApprovalDecision:
    approved: bool
    by: str
    reason: str = ""


Approver = Callable[[ApprovalRequest], Awaitable[ApprovalDecision]]
NeedsApproval = Callable[[PoolTool], bool]


def unless_read_only(tool: PoolTool) -> bool:
    """The default rule: only tools whose server marks them readOnlyHint=true run freely."""
    return not tool.read_only
