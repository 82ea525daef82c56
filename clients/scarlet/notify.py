"""Slack-compatible incoming-webhook messages when a run finishes or waits for approval.

A notification that fails is logged, never fatal: the run's record is the source of truth.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("autodevops.scarlet.notify")


class Notifier:
    def __init__(self, webhook_url_file: Path | None, timeout: float = 5.0) -> None:
        self.webhook_url_file = webhook_url_file
        self.timeout = timeout

    async def send(self, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
        if self.webhook_url_file is None:
            return False
        url = self.webhook_url_file.read_text(encoding="utf-8").strip()
        payload: dict[str, Any] = {"text": text}
        if blocks:
            payload["blocks"] = blocks
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.post(url, json=payload)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("notification not delivered: %s", type(exc).__name__)
            return False
        return True


def run_message(run_id: int, status: str, question: str, report: dict[str, Any]) -> str:
    findings = report.get("findings", [])
    lines = [f"Scarlet run #{run_id} {status}: {question}"]
    for finding in findings[:5]:
        lines.append(f"• [{finding['severity']}] {finding['subject']}: {finding['summary']}")
    for action in report.get("actions", []):
        if action["status"] == "waiting":
            lines.append(
                f"• waiting for approval: action #{action['id']} {action['tool']} "
                f"{action['arguments']} (POST /v1/actions/{action['id']}/approve)"
            )
    return "\n".join(lines)
