"""Argument types the Argo CD tools share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from autodevops.servers.core.args import Args

AppName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="application name",
    ),
]
AppNamespace = Annotated[
    str | None,
    Field(
        None,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="namespace of the Application object; default Argo CD's own",
    ),
]


class AppArgs(Args):
    name: AppName
    app_namespace: AppNamespace = None


class WriteArgs(AppArgs):
    dry_run: bool = Field(False, description="check scope and plan without changing anything")


def mode_prefix(dry_run: bool) -> str:
    return "[dry run, nothing changed] " if dry_run else ""
