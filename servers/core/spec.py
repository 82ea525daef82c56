"""What a server is made of: typed tools, a backend client, a scope model, a default policy
and any commands of its own for the `autodevops` command line.

A new server is a small folder that fills in a `ServerSpec`; the core does the rest. The spec
module stays light (its tools and backend client are imported when first used), so the command
line can read every server's spec without paying for every server's tools.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, get_type_hints

from pydantic import BaseModel

from .output import Output
from .policy import Policy

ScopedClient = TypeVar("ScopedClient")
ScopedClient_co = TypeVar("ScopedClient_co", covariant=True)


class Backend(Protocol[ScopedClient_co]):
    """The server's own connection to its backend; callers' tokens never reach it."""

    name: str

    @property
    def url(self) -> str:
        """Where the backend is, for messages: host:port or a URL without credentials."""

    async def check_ready(self) -> None:
        """Raise `BackendUnavailable` when the backend cannot answer."""

    def scoped(self, scope: Any) -> ScopedClient_co:
        """A client bound to one role's scope: the only client a tool ever receives."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ToolSpec(Generic[ScopedClient]):
    name: str
    description: str
    args_model: type[BaseModel]
    handler: Callable[[Any, ScopedClient], Awaitable[Output]]
    read_only: bool = True
    destructive: bool = False


def tool(
    *, read_only: bool = True, destructive: bool = False
) -> Callable[[Callable[[Any, ScopedClient], Awaitable[Output]]], ToolSpec[ScopedClient]]:
    """Declare a tool from `async def name(args: Model, client) -> Output`; the docstring is
    what the model reads, so it says when to use the tool."""

    def decorate(
        fn: Callable[[Any, ScopedClient], Awaitable[Output]],
    ) -> ToolSpec[ScopedClient]:
        hints = get_type_hints(fn)
        first = next(iter(inspect.signature(fn).parameters))
        args_model = hints[first]
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise TypeError(f"{fn.__name__}: first parameter must be a pydantic model")
        return ToolSpec(
            name=fn.__name__,
            description=inspect.getdoc(fn) or fn.__name__,
            args_model=args_model,
            handler=fn,
            read_only=read_only,
            destructive=destructive,
        )

    return decorate


@dataclass(frozen=True)
class Command:
    """A command a server adds to the command line, `autodevops <group> <name>` (the
    Kubernetes server's `policy rbac`); `run` imports what it needs and returns the exit code."""

    group: str
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class ServerSpec:
    name: str
    title: str
    instructions: str
    load_tools: Callable[[], Sequence[ToolSpec[Any]]]
    scope_model: type[BaseModel]
    default_policy: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    connect: Callable[[argparse.Namespace], Backend[Any]]
    commands: Sequence[Command] = ()
    # Checks of a policy against the live backend (the Kubernetes server resolves kind names
    # against discovery), run by `policy check` with the options `check_arguments` adds, and
    # at start-up with the serve options. They return one `field: reason` line per problem,
    # none when no backend is given, and raise `BackendUnavailable` when it cannot answer.
    check_policy: Callable[[Policy, argparse.Namespace], Sequence[str]] | None = None
    check_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    # For a server whose backend is the Kubernetes API: the least RBAC a policy needs, as
    # manifests (policy, Role name, ServiceAccount `ns/name` or None); `policy rbac` prints it.
    kubernetes_rbac: Callable[[Any, str, str | None], str] | None = None

    @property
    def tools(self) -> Sequence[ToolSpec[Any]]:
        return self.load_tools()
