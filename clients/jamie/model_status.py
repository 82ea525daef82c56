"""Whether a model answers at the configured address, said so that a person can fix it.

Jamie starts and serves without a model; this check is what the portal, `/api/status`,
`/readyz` and a question asked meanwhile report.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ollama import AsyncClient

from .config import Model

RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class ModelStatus:
    host: str
    name: str
    up: bool
    detail: str


class ModelProbe:
    def __init__(self, ollama: AsyncClient, model: Model) -> None:
        self.ollama = ollama
        self.model = model
        self._last: tuple[float, ModelStatus] | None = None

    async def status(self) -> ModelStatus:
        """Cached for a few seconds: the portal polls it, and Ollama has better things to do."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < RECHECK_SECONDS:
            return self._last[1]
        status = await self._check()
        self._last = (now, status)
        return status

    async def _check(self) -> ModelStatus:
        host, name = self.model.host, self.model.name
        try:
            async with asyncio.timeout(self.model.probe_seconds):
                listed = await self.ollama.list()
        except Exception as exc:  # refused, timed out, garbage: all mean "no model here"
            why = "no answer in time" if isinstance(exc, TimeoutError) else _one_line(exc)
            return ModelStatus(
                host,
                name,
                False,
                f"No model answers at {host} ({why}). Start Ollama there, or point Jamie at it "
                "with OLLAMA_HOST (or model.host in the configuration).",
            )
        names = {m.model for m in listed.models if m.model}
        if name in names or f"{name}:latest" in names:
            return ModelStatus(host, name, True, f"{name} at {host}")
        return ModelStatus(
            host,
            name,
            False,
            f"Ollama at {host} answers but has no model {name}: run `ollama pull {name}` there, "
            "or set JAMIE_MODEL (or model.name) to one it has.",
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
