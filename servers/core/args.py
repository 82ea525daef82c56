"""What every server's tool arguments share: strict models, and times and durations written
the way people and models write them (`now`, `now-1h`, `90s`, RFC 3339, Unix seconds)."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from .errors import InvalidArgument

_DURATION = re.compile(r"^(\d+(?:ms|[smhdwy]))+$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class Args(BaseModel):
    """Base of every tool's arguments: an unknown (misspelt) field is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


def parse_duration(value: str) -> float:
    """Prometheus duration syntax (`90s`, `1h30m`) in seconds."""
    text = value.strip()
    if not _DURATION.match(text):
        raise ValueError(f"'{value}' is not a duration; use forms like 30s, 5m, 1h30m, 7d")
    return sum(
        int(amount) * _UNITS[unit] for amount, unit in re.findall(r"(\d+)(ms|[smhdwy])", text)
    )


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 as the Kubernetes and Prometheus APIs write it (`Z`, nanoseconds)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_time(value: str, now: float | None = None) -> float:
    """Unix seconds from `now`, `now-<duration>`, RFC 3339 or a Unix timestamp."""
    moment = time.time() if now is None else now
    text = value.strip()
    if text == "now":
        return moment
    if text.startswith("now-"):
        return moment - parse_duration(text[4:])
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_timestamp(text).timestamp()
    except ValueError:
        raise ValueError(
            f"'{value}' is not a time; use now, now-1h, RFC 3339 (2026-01-31T12:00:00Z) "
            "or Unix seconds"
        ) from None


def range_step(span: float, step: str | None, max_points: int = 1000, points: int = 120) -> float:
    """The step of a range query in seconds: about `points` points when none is given; a given
    step that would make more than `max_points` per series is refused with the least allowed."""
    if step is None:
        return max(1.0, math.ceil(span / points))
    seconds = parse_duration(step)
    count = int(span // seconds) + 1
    if count > max_points:
        least = math.ceil(span / (max_points - 1))
        raise InvalidArgument(
            "step",
            f"{count} points per series exceeds {max_points}; use step >= {least}s or a "
            "shorter range",
        )
    return seconds


def _time(value: str) -> str:
    parse_time(value)
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


TimeArg = Annotated[str, AfterValidator(_time)]
DurationArg = Annotated[str, AfterValidator(_duration)]
