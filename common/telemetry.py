"""The suite's own traces: OpenTelemetry spans of its work, sent over OTLP/HTTP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set, and nothing at all when it is not.

The SDK is imported on the first span only, so a process without an endpoint (and every cold
start) pays nothing. Trace context crosses processes as W3C `traceparent`: `carrier()` gives
the current one to send, `span(parent=...)` continues one that arrived. Callers pass only
names and outcomes as attributes, never argument values that could be secret.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACEPARENT = "traceparent"

_lock = threading.Lock()
_provider: Any = None
_service = "autodevops"


class Span:
    """A started span, or a stand-in that records nothing when tracing is off."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def set(self, **attributes: str | int | float | bool | None) -> None:
        if self._span is not None:
            for key, value in attributes.items():
                if value is not None:
                    self._span.set_attribute(f"autodevops.{key}", value)

    def fail(self, description: str) -> None:
        if self._span is not None:
            from opentelemetry.trace import Status, StatusCode

            self._span.set_status(Status(StatusCode.ERROR, description[:200]))


def enabled() -> bool:
    return bool(os.environ.get(ENDPOINT_ENV))


def set_service(name: str) -> None:
    """Name this process in its spans (`service.name`; OTEL_SERVICE_NAME wins). Costs
    nothing: the SDK is set up by the first span."""
    global _service
    _service = name


def _tracer() -> Any:
    global _provider
    with _lock:
        if _provider is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            name = os.environ.get("OTEL_SERVICE_NAME") or _service
            provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            # Not the global provider: the MCP SDK and fastmcp trace themselves through it,
            # with error texts (which may echo arguments) in their spans. Ours stay the
            # only ones; the context still crosses to the servers through theirs.
            _provider = provider
    return _provider.get_tracer("autodevops")


@contextmanager
def span(
    name: str,
    *,
    kind: str = "internal",
    parent: Mapping[str, str] | None = None,
    **attributes: str | int | float | bool | None,
) -> Iterator[Span]:
    """A span around the block, a child of the current one, or of `parent` (headers holding
    a `traceparent`) when given; `kind` is internal, server or client."""
    if not enabled():
        yield Span()
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    tracer = _tracer()
    context = propagate.extract(dict(parent)) if parent else None
    with tracer.start_as_current_span(
        name, context=context, kind=SpanKind[kind.upper()], record_exception=False
    ) as current:
        handle = Span(current)
        handle.set(**attributes)
        yield handle


def carrier() -> dict[str, str]:
    """The current trace context as headers (`traceparent`), or nothing when tracing is off."""
    if not enabled() or _provider is None:
        return {}
    from opentelemetry import propagate

    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def flush(timeout_seconds: float = 5.0) -> None:
    """Send the spans still buffered (before a process exits, or in a test)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_seconds * 1000))
