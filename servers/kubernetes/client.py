"""The Kubernetes API as the server's own identity, through the `kubernetes` client library.

The library is synchronous, so each request runs in a worker thread with its own timeout, from
a pool of the server's own sized for concurrent clients (the loop's default executor has the
CPU count + 4 threads: six on two cores, which queued concurrent calls behind one another).
Discovery happens on first use, never at start-up, and is cached for a few minutes so new
CRDs appear without a restart.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from autodevops.common.config import ConfigError
from autodevops.common.unavailable import BackendUnavailable
from autodevops.servers.core.errors import InvalidArgument, NotFound
from autodevops.servers.core.output import Lines, Output, Table, Text

from .resource_types import ResourceType, parse_discovery
from .scope import KubernetesScope

BACKEND = "Kubernetes API"
DISCOVERY_TTL_SECONDS = 300.0
# API calls in flight at once: worker threads, and connections kept to the API server.
CONCURRENT_REQUESTS = 32
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@dataclass
class Response:
    status: int
    body: Any


class KubeBackend:
    name = BACKEND

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        if kubeconfig and not any(map(os.path.isfile, kubeconfig.split(os.pathsep))):
            raise ConfigError(f"--kubeconfig: no kubeconfig file at {kubeconfig}")
        self._kubeconfig = kubeconfig
        self._context = context
        self.timeout = timeout_seconds
        self._api: Any = None
        self._api_lock = threading.Lock()
        self._threads = ThreadPoolExecutor(CONCURRENT_REQUESTS, thread_name_prefix="kube-api")
        self._types: list[ResourceType] = []
        self._served: dict[str, tuple[str, ...]] = {}
        self._other_versions: dict[tuple[str, str], list[ResourceType]] = {}
        self._discovered_at = 0.0
        self._discovery_lock = asyncio.Lock()

    @property
    def url(self) -> str:
        """The API server's URL, once the configuration is read; until then where it is read
        from (error messages name one or the other)."""
        if self._api is not None:
            return str(self._api.configuration.host)
        return self._kubeconfig or ("in-cluster" if in_cluster() else "the default kubeconfig")

    def _client(self) -> Any:
        """The library's API client, made on the first request: importing the `kubernetes`
        package is a large part of a cold start, and listing tools needs none of it."""
        with self._api_lock:
            if self._api is None:
                self._api = self._load()
            return self._api

    def _load(self) -> Any:
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            if self._kubeconfig or not in_cluster():
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=self._kubeconfig,
                    context=self._context,
                    client_configuration=configuration,
                )
            else:
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
        except (config.ConfigException, OSError, ValueError) as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"configuration not usable ({exc})",
                "the kubeconfig file and --context, or the pod's ServiceAccount mount",
            ) from exc
        configuration.retries = 0
        configuration.connection_pool_maxsize = CONCURRENT_REQUESTS
        return client.ApiClient(configuration)

    async def check_ready(self) -> None:
        response = await self.request("GET", "/readyz")
        if response.status != 200:
            raise BackendUnavailable(
                BACKEND, self.url, f"not ready (HTTP {response.status})", "the API server's health"
            )

    def scoped(self, scope: KubernetesScope) -> ScopedKube:
        return ScopedKube(self, scope)

    async def aclose(self) -> None:
        if self._api is not None:
            await asyncio.to_thread(self._api.close)
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
    ) -> Response:
        """One API call; errors the caller can act on are raised, others returned."""
        call = functools.partial(
            contextvars.copy_context().run,
            self._request, method, path, query or [], body, content_type, accept,
        )  # fmt: skip
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    def _request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        content_type: str | None,
        accept: str,
    ) -> Response:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        api = self._client()
        try:
            method, url, headers, body, _ = api.param_serialize(
                method,
                path,
                query_params=query,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            raw = api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
            data = raw.read()
        except ApiException as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"unreachable ({exc.reason})".strip(),
                "that the API server is running and the kubeconfig or in-cluster config is right",
            ) from exc
        except Exception as exc:
            raise BackendUnavailable(
                BACKEND,
                self.url,
                f"unreachable ({type(exc).__name__}: {exc})",
                "that the API server is running and the kubeconfig or in-cluster config is right",
            ) from exc
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Response(int(raw.status), parsed)

    async def resource_types(self) -> list[ResourceType]:
        async with self._discovery_lock:
            if not self._types or time.monotonic() - self._discovered_at > DISCOVERY_TTL_SECONDS:
                self._types, self._served = await self._discover()
                self._other_versions = {}
                self._discovered_at = time.monotonic()
            return self._types

    async def _discover(self) -> tuple[list[ResourceType], dict[str, tuple[str, ...]]]:
        """The preferred version of every group, and every version each group serves."""
        core = _ok(await self.request("GET", "/api"), "discovery of /api", self.url)
        served = {"": tuple(core.get("versions") or ["v1"])}
        found = parse_discovery(
            "", "v1", _ok(await self.request("GET", "/api/v1"), "discovery of /api/v1", self.url)
        )
        groups = _ok(await self.request("GET", "/apis"), "discovery of /apis", self.url)
        preferred = []
        for group in groups.get("groups", []):
            served[group["name"]] = tuple(v["version"] for v in group.get("versions", []))
            preferred.append((group["name"], group["preferredVersion"]["version"]))
        lists = await asyncio.gather(
            *(self.request("GET", _group_path(name, version)) for name, version in preferred)
        )
        for (name, version), response in zip(preferred, lists, strict=True):
            if response.status == 200 and isinstance(response.body, dict):
                found.extend(parse_discovery(name, version, response.body))
        return found, served

    async def resolve(self, kind: str) -> ResourceType:
        """`Deployment`, `deployments`, `deploy` or `deployments.apps` to one resource type,
        case-insensitively. Kubernetes' own groups win over custom ones (a CRD cannot shadow
        `Deployment`); two custom groups serving the same name are refused, naming both."""
        return (await self.resolve_among(kind))[0]

    async def resolve_among(self, kind: str) -> tuple[ResourceType, list[ResourceType]]:
        """The type `kind` names, and the other types that also answer to that name."""
        name, _, group = kind.strip().partition(".")
        lowered, group = name.lower(), group.lower()
        matches = [
            t
            for t in await self.resource_types()
            if lowered in t.names() and (not group or t.group == group)
        ]
        if not matches:
            raise InvalidArgument(
                "kind", f"'{kind}' is not served by this cluster; list kinds with api_resources"
            )
        tiers = [t for t in matches if t.group == ""] or [t for t in matches if t.builtin]
        if not tiers:
            if len({t.group for t in matches}) > 1:
                candidates = ", ".join(sorted({f"{t.plural}.{t.group}" for t in matches}))
                raise InvalidArgument(
                    "kind", f"'{kind}' is served by several groups ({candidates}); name one"
                )
            tiers = matches
        chosen = tiers[0]
        return chosen, [t for t in matches if t.group != chosen.group]

    async def resolve_api_version(self, api_version: str, kind: str) -> ResourceType:
        """The type a manifest's `apiVersion` and `kind` name, only as discovery serves it:
        the caller's text is compared, never used to build a request."""
        types = await self.resource_types()
        for t in types:
            if t.api_version == api_version and t.kind == kind:
                return t
        group, _, version = api_version.rpartition("/")
        if version in self._served.get(group, ()):
            for t in await self._version_types(group, version):
                if t.api_version == api_version and t.kind == kind:
                    return t
        served = ", ".join(f"{t.api_version} {t.kind}" for t in types if t.kind == kind)
        hint = f" (served: {served})" if served else "; list kinds with api_resources"
        raise InvalidArgument(
            "manifest",
            f"apiVersion {api_version!r} kind {kind!r} is not served by this cluster{hint}",
        )

    async def _version_types(self, group: str, version: str) -> list[ResourceType]:
        """A served version other than the preferred one, discovered on first use."""
        key = (group, version)
        if key not in self._other_versions:
            response = await self.request("GET", _group_path(group, version))
            body = _ok(response, f"discovery of {group}/{version}", self.url)
            self._other_versions[key] = parse_discovery(group, version, body)
        return self._other_versions[key]


def _group_path(group: str, version: str) -> str:
    if not group:
        return f"/api/{quote(version, safe='')}"
    return f"/apis/{quote(group, safe='')}/{quote(version, safe='')}"


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _ok(response: Response, what: str, url: str) -> Any:
    if response.status != 200:
        raise BackendUnavailable(
            BACKEND,
            url,
            f"{what} failed (HTTP {response.status}): {_message(response)}",
            "the server's credentials and RBAC",
        )
    return response.body


def _message(response: Response) -> str:
    if isinstance(response.body, dict):
        return str(response.body.get("message", response.body.get("reason", "")))
    return str(response.body)[:200]


class ScopedKube:
    """Every request a tool makes passes `scope.check` first: kind, verb, namespace."""

    def __init__(self, backend: KubeBackend, scope: KubernetesScope) -> None:
        self.backend = backend
        self.scope = scope
        self.notes: list[str] = []

    async def resolve(self, kind: str) -> ResourceType:
        return await self.backend.resolve(kind)

    async def resolve_named(self, kind: str) -> ResourceType:
        """A kind the caller named; when a custom resource answers to the name too, `notes`
        says which group was used, for the tool to show. (Kubernetes' own duplicates, such as
        `events` in the core group and `events.k8s.io`, are not worth a note.)"""
        resource, others = await self.backend.resolve_among(kind)
        if any(not t.builtin for t in others):
            shadowed = ", ".join(sorted({t.qualified for t in others}))
            self.notes.append(
                f"'{kind}' is {resource.qualified}; also served as {shadowed} "
                "(name one as kind.group)"
            )
        return resource

    def with_notes(self, output: Output) -> Output:
        """The output with the resolution notes, if any. Not for YAML or JSON text, which
        must stay parseable: those carry the group in `apiVersion` or a `notes` field."""
        if not self.notes:
            return output
        if isinstance(output, Table | Lines):
            output.notes.extend(self.notes)
            return output
        return Text("\n".join([output.text, "", *self.notes]), narrow=output.narrow)

    def check(self, resource: ResourceType, verb: str, namespace: str | None) -> None:
        self.scope.check(resource, verb, namespace)

    async def call(
        self,
        resource: ResourceType,
        verb: str,
        method: str,
        namespace: str | None,
        name: str | None = None,
        subresource: str = "",
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
    ) -> Any:
        """A checked request; API errors become clear gate errors."""
        if name is not None:
            _check_name(name)
        if namespace is not None:
            _check_name(namespace, "namespace")
        self.check(resource, verb, namespace)
        path = resource.path(namespace, name) + (f"/{subresource}" if subresource else "")
        response = await self.backend.request(method, path, query, body, content_type, accept)
        if response.status < 300:
            return response.body
        message = _message(response)
        where = f" in namespace {namespace}" if namespace and resource.namespaced else ""
        if response.status == 404:
            raise NotFound(f"{resource.kind} '{name}'{where} not found: {message}")
        if response.status == 403:
            raise BackendUnavailable(
                BACKEND,
                self.backend.url,
                f"the API server refused ({message})",
                "the server's ServiceAccount RBAC; `autodevops policy rbac` prints what it needs",
            )
        if response.status in (400, 409, 422):
            raise InvalidArgument(_field_for(response.status), message)
        raise BackendUnavailable(
            BACKEND,
            self.backend.url,
            f"HTTP {response.status}: {message}",
            "the API server's health and logs",
        )


def _field_for(status: int) -> str:
    return "manifest" if status == 422 else "request"


_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._:@-]*[A-Za-z0-9])?")


def _check_name(name: str, field: str = "name") -> None:
    """Object names never hold slashes, percent signs or `..`: those are path tricks."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidArgument(field, f"{name!r} is not a valid Kubernetes object name")
