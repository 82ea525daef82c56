"""How much outside text may reach a run's question, the model's prompt and Slack.

Alerts and tool results are written by others (an application's log line, an annotation
filled by a template): each field is cut to a size that informs without flooding the model's
context or the operators' channel, and says that it was cut.
"""

from __future__ import annotations

MAX_QUESTION = 4000
MAX_LABEL = 1024
MAX_ANNOTATION = 2000
MAX_FIELDS = 64
MAX_ALERT_JSON = 2000
MAX_FINDING = 500
MAX_FINDINGS = 30
MAX_DRY_RUN = 2000
CUT = " [cut]"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT


def cut_fields(fields: dict[str, str], limit: int) -> dict[str, str]:
    """At most `MAX_FIELDS` labels or annotations (by name), each name and value cut."""
    kept = sorted(fields.items())[:MAX_FIELDS]
    return {shorten(key, MAX_LABEL): shorten(value, limit) for key, value in kept}
