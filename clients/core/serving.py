"""Several HTTP apps in one process until SIGTERM: the clients' services each serve an API,
health and metrics or a portal on their own ports."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

import uvicorn

SHUTDOWN_SECONDS = 15


class _Server(uvicorn.Server):
    """The process, not each server, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_until_stopped(
    apps: Sequence[tuple[Any, int]],
    host: str,
    background: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = (),
) -> None:
    """Serve `(app, port)` pairs and run `background(stop)` tasks until SIGTERM or SIGINT."""
    servers = [
        _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
        for app, port in apps
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    tasks += [asyncio.create_task(job(stop)) for job in background]
    await stop.wait()
    for server in servers:
        server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), SHUTDOWN_SECONDS)
