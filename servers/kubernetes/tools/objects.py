"""Any kind the API serves, read the way `kubectl api-resources`, `get` and `get -o` do."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from autodevops.servers.core.args import Args
from autodevops.servers.core.output import Output, Table, Text
from autodevops.servers.core.spec import tool

from ..client import TABLE, ScopedKube
from ..resource_types import ResourceType
from .args import MAX_PAGE, Kind, Name, Namespace, namespace_for
from .render import clean, dump, server_table


class ApiResourcesArgs(Args):
    filter: str | None = Field(None, description="substring of kind or group")


class ListArgs(Args):
    kind: Kind
    namespace: Namespace | None = Field(None, description="omit for all namespaces")
    label_selector: str | None = Field(None, description="e.g. app=web,tier!=db")
    field_selector: str | None = Field(None, description="e.g. status.phase=Running")
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    continue_from: str | None = Field(None, description="from the previous page")
    output: Literal["table", "yaml", "json", "names"] = "table"


class GetArgs(Args):
    kind: Kind
    name: Name
    namespace: Namespace | None = None
    output: Literal["yaml", "json", "table"] = "yaml"


@tool()
async def api_resources(args: ApiResourcesArgs, kube: ScopedKube) -> Output:
    """Kinds the cluster serves, built-in and custom, with API version and scope."""
    rows = []
    for t in sorted(await kube.backend.resource_types(), key=lambda t: (t.group, t.kind)):
        if args.filter and args.filter.lower() not in f"{t.kind} {t.group}".lower():
            continue
        rows.append(
            [t.kind, t.api_version, "yes" if t.namespaced else "no", ",".join(t.short_names)]
        )
    return Table(["KIND", "APIVERSION", "NAMESPACED", "SHORTNAMES"], rows, narrow="Pass filter.")


@tool()
async def list_resources(args: ListArgs, kube: ScopedKube) -> Output:
    """List objects of any kind, like `kubectl get`, a page at a time."""
    resource = await kube.resolve_named(args.kind)
    namespace = args.namespace if resource.namespaced else None
    query = [("limit", str(args.limit))]
    if args.continue_from:
        query.append(("continue", args.continue_from))
    if args.label_selector:
        query.append(("labelSelector", args.label_selector))
    if args.field_selector:
        query.append(("fieldSelector", args.field_selector))
    all_namespaces = resource.namespaced and namespace is None
    if args.output == "table" and not all_namespaces:
        # A row's object (its metadata, managedFields included) is read only for the
        # NAMESPACE column: otherwise the server leaves it out, and there is less to parse.
        query.append(("includeObject", "None"))
    pages = await list_in_scope(kube, resource, namespace, query, args.output == "table")
    narrow = "Use a namespace, label_selector or field_selector, or a smaller limit."
    token, remaining, more_in = _next_page(pages)
    if args.output == "table":
        output = server_table(pages[0], all_namespaces, narrow)
        for page in pages[1:]:
            output.rows.extend(server_table(page, True, narrow).rows)
    else:
        items = [
            clean(o, resource.kind, kube.scope.secret_values)
            for page in pages
            for o in page.get("items", [])
        ]
        if args.output == "names":
            output = Table(
                ["NAMESPACE", "NAME"] if resource.namespaced else ["NAME"],
                [
                    ([o["metadata"].get("namespace", "")] if resource.namespaced else [])
                    + [o["metadata"]["name"]]
                    for o in items
                ],
                narrow=narrow,
            )
        else:
            document: dict[str, Any] = {"items": items}
            if token:
                document["next_page"] = {"continue_from": token, "remaining": remaining}
            if more_in:
                document["more_in_namespaces"] = more_in
            if kube.notes:
                document["notes"] = kube.notes
            return Text(dump(document, args.output), narrow=narrow)
    if token:
        more = f" ({remaining} more)" if remaining else ""
        output.notes.append(f"next page{more}: continue_from={token}")
    if more_in:
        output.notes.append(
            f"more objects in {', '.join(more_in)}: list each with its namespace to page on"
        )
    return kube.with_notes(output)


def _next_page(pages: list[dict[str, Any]]) -> tuple[str | None, int | None, list[str]]:
    """One listing pages with `continue`; several namespaces listed in turn cannot share a
    token, so those with more objects are named instead."""
    if len(pages) == 1:
        meta = pages[0].get("metadata", {})
        return meta.get("continue"), meta.get("remainingItemCount"), []
    more_in = [
        str(page.get("_namespace")) for page in pages if page.get("metadata", {}).get("continue")
    ]
    return None, None, more_in


async def list_in_scope(
    kube: ScopedKube,
    resource: ResourceType,
    namespace: str | None,
    query: list[tuple[str, str]],
    table: bool,
) -> list[dict[str, Any]]:
    """One page; a role limited to named namespaces lists each of them instead of all."""
    accept = TABLE if table else "application/json"
    targets: list[str | None] = [namespace]
    if namespace is None and resource.namespaced:
        exact = kube.scope.namespaces.exact_allow()
        if exact is not None and (
            kube.scope.namespaces.allow != ["*"] or kube.scope.namespaces.deny
        ):
            targets = list(exact)
            query = [(k, v) for k, v in query if k != "continue"]
    pages = []
    for target in targets:
        page = await kube.call(resource, "list", "GET", target, query=query, accept=accept)
        page["_namespace"] = target
        pages.append(page)
    return pages


@tool()
async def get_resource(args: GetArgs, kube: ScopedKube) -> Output:
    """One object of any kind as YAML, JSON or a table row; Secret values hidden."""
    resource = await kube.resolve_named(args.kind)
    namespace = namespace_for(resource, args.namespace)
    if args.output == "table":
        body = await kube.call(resource, "get", "GET", namespace, args.name, accept=TABLE)
        return kube.with_notes(server_table(body, False, ""))
    obj = await kube.call(resource, "get", "GET", namespace, args.name)
    return Text(dump(clean(obj, resource.kind, kube.scope.secret_values), args.output))
