"""A trace as Tempo returns it (OTLP in JSON), read into flat spans.

Tempo's trace-by-ID answers come in a few shapes across versions: `{"batches": [...]}` (v1),
`{"resourceSpans": [...]}`, `{"trace": {...}}` (v2, Tempo 2.5+), with `scopeSpans` or the
older `instrumentationLibrarySpans`, and IDs in base64 (protobuf JSON) or hex (OTLP JSON).
All of them read into the same `Span`s.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ERROR = "error"
_STATUS = {2: ERROR, "STATUS_CODE_ERROR": ERROR, 1: "ok", "STATUS_CODE_OK": "ok"}
_KINDS = {
    1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer",
    "SPAN_KIND_INTERNAL": "internal", "SPAN_KIND_SERVER": "server",
    "SPAN_KIND_CLIENT": "client", "SPAN_KIND_PRODUCER": "producer",
    "SPAN_KIND_CONSUMER": "consumer",
}  # fmt: skip


class TraceFormatError(ValueError):
    """The answer is not a trace in any shape Tempo is known to send."""


@dataclass
class Event:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class Span:
    span_id: str
    parent_id: str
    name: str
    service: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def failed(self) -> bool:
        return self.status == ERROR


def decode_id(value: Any) -> str:
    """A trace or span ID as lower-case hex, from hex or base64."""
    if not isinstance(value, str) or not value:
        return ""
    text = value.strip()
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text.lower()


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as a plain Python value."""
    if not isinstance(value, Mapping):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return f"<{len(str(value['bytesValue']))} base64 chars>"
    return None


def attributes(items: Any) -> dict[str, Any]:
    return {
        str(item.get("key")): any_value(item.get("value"))
        for item in items or []
        if isinstance(item, Mapping)
    }


def _nanos(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _resource_spans(body: Any) -> list[Any]:
    if not isinstance(body, Mapping):
        raise TraceFormatError("the answer is not a JSON object")
    if "trace" in body and isinstance(body["trace"], Mapping):
        body = body["trace"]
    for key in ("batches", "resourceSpans"):
        if key in body:
            found = body[key] or []
            if not isinstance(found, list):
                raise TraceFormatError(f"'{key}' is not a list")
            return found
    if not body:
        return []
    raise TraceFormatError("no 'batches' or 'resourceSpans' in the answer")


def read_trace(body: Any) -> list[Span]:
    """Every span of a trace answer, in the order Tempo sent them."""
    return list(_spans(body))


def _spans(body: Any) -> Iterator[Span]:
    for batch in _resource_spans(body):
        resource = attributes((batch.get("resource") or {}).get("attributes"))
        service = str(resource.get("service.name", "unknown"))
        groups = batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []
        for group in groups:
            for raw in group.get("spans") or []:
                status = raw.get("status") or {}
                yield Span(
                    span_id=decode_id(raw.get("spanId")),
                    parent_id=decode_id(raw.get("parentSpanId")),
                    name=str(raw.get("name", "")),
                    service=service,
                    kind=_KINDS.get(raw.get("kind"), "unspecified"),
                    start_ns=_nanos(raw.get("startTimeUnixNano")),
                    end_ns=_nanos(raw.get("endTimeUnixNano")),
                    status=_STATUS.get(status.get("code"), "unset"),
                    status_message=str(status.get("message", "")),
                    attributes=attributes(raw.get("attributes")),
                    resource=resource,
                    events=[
                        Event(
                            str(e.get("name", "")),
                            _nanos(e.get("timeUnixNano")),
                            attributes(e.get("attributes")),
                        )
                        for e in raw.get("events") or []
                    ],
                )
