"""Slack-compatible incoming-webhook messages when a run finishes or waits for approval.

A notification that fails is logged, never fatal: the run's record is the source of truth.
The webhook file is checked at start (a missing one is a configuration error, not a surprise
at the end of every run) and read again for each message, so a rotated Secret applies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx

from autodevops.clients.core.config import read_secret
from autodevops.common.config import ConfigError

from .caps import MAX_FINDING, shorten

log = logging.getLogger("autodevops.scarlet.notify")
FIELD = "slack_webhook_url_file"
# Slack cuts a message's text at 40,000 characters; a run's message stays well below.
MAX_TEXT = 3000


class Notifier:
    def __init__(self, webhook_url_file: Path | None, timeout: float = 5.0) -> None:
        self.webhook_url_file = webhook_url_file
        self.timeout = timeout

    def check(self) -> None:
        """`ConfigError` naming the field when the webhook file cannot be used."""
        if self.webhook_url_file is not None:
            _webhook(self.webhook_url_file)

    def problem(self) -> str:
        """Why messages cannot go out now ("" when they can): `/readyz` reports it."""
        try:
            self.check()
        except ConfigError as exc:
            return str(exc)
        return ""

    async def send(self, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
        """Never raises: a message that cannot go out is logged and the run goes on."""
        if self.webhook_url_file is None:
            return False
        try:
            url = _webhook(self.webhook_url_file)
        except ConfigError as exc:
            log.warning("notification not sent: %s", exc)
            return False
        payload: dict[str, Any] = {"text": text[:MAX_TEXT]}
        if blocks:
            payload["blocks"] = blocks
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(url, json=payload)
            response.raise_for_status()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.warning("notification not delivered: %s", type(exc).__name__)
            return False
        return True


def _webhook(path: Path) -> str:
    url = read_secret(path, FIELD)
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"{FIELD}: {path} does not hold an http(s) URL")
    return url


def run_message(run_id: int, status: str, question: str, report: dict[str, Any]) -> str:
    findings = report.get("findings", [])
    lines = [f"Scarlet run #{run_id} {status}: {shorten(question, 300)}"]
    for finding in findings[:5]:
        line = f"• [{finding['severity']}] {finding['subject']}: {finding['summary']}"
        lines.append(shorten(line, MAX_FINDING))
    for action in report.get("actions", []):
        if action["status"] == "waiting":
            lines.append(
                f"• waiting for approval: action #{action['id']} {action['tool']} "
                f"{action['arguments']} (autodevops scarlet approve {run_id} {action['id']})"
            )
    return "\n".join(lines)
