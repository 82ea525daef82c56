"""Errors the gate knows how to report: each one says what went wrong and what to do."""

from __future__ import annotations


class GateError(Exception):
    """A refusal or failure the gate turns into a tool error and an audit record.

    `denied` says whose problem it is: a refusal of the request (audited as a denial) or a
    failure of an allowed call (audited as its outcome).
    """

    reason: str = "error"
    denied: bool = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(GateError):
    """An argument that fails validation; names the field so a model can correct it."""

    reason = "invalid_arguments"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid argument '{field}': {problem}")
        self.field = field
        self.problem = problem


class OutOfScope(GateError):
    """The call would read or change something outside the caller's scope."""

    reason = "out_of_scope"


class NotFound(GateError):
    """The object asked for does not exist (or not in the namespace given)."""

    reason = "not_found"
    denied = False
