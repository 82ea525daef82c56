"""Arguments the PostgreSQL tools share, and how their values are shown."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from autodevops.servers.core.args import Args

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?<=[hms])")

DatabaseName = Annotated[str, Field(min_length=1, max_length=63)]
DATABASE_HELP = "database name; default: the one the server connects to"


class DatabaseArgs(Args):
    database: DatabaseName | None = Field(None, description=DATABASE_HELP)


def size(value: Any) -> str:
    """Bytes as PostgreSQL's pg_size_pretty writes them."""
    if value is None:
        return "-"
    number = float(value)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(number) < 10240 or unit == "TB":
            return f"{number:.0f} {unit}"
        number /= 1024
    return f"{number:.0f} TB"


def seconds(value: timedelta | None) -> str:
    """A duration as `45s`, `3m05s` or `2h10m`; `parse_seconds` reads it back."""
    if value is None:
        return "-"
    total = max(0, int(value.total_seconds()))
    if total < 120:
        return f"{total}s"
    if total < 7200:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


def parse_seconds(text: str) -> int | None:
    """Seconds from what `seconds` wrote (to the minute past two hours); None for `-`."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    hours, minutes, secs = (int(part) if part else 0 for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


def text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)
