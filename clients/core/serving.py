"""Several HTTP apps in one process until SIGTERM: the clients' services each serve an API,
health and metrics or a portal on their own ports.

The ASGI server is told not to believe `X-Forwarded-*` headers: the address a request came
from is the socket's peer, and whoever trusts a proxy decides that from the peer itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn

SHUTDOWN_SECONDS = 15
STARTUP_POLL_SECONDS = 0.05


class ServeFailed(Exception):
    """A port could not be served (in use, not allowed): the process must exit, not hang."""


@dataclass(frozen=True)
class Listener:
    app: Any
    port: int
    what: str  # printed at start-up: "portal", "API", ...
    path: str = "/"


class _Server(uvicorn.Server):
    """The process, not each server, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_until_stopped(
    name: str,
    listeners: Sequence[Listener],
    host: str,
    background: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = (),
) -> None:
    """Serve the listeners and run `background(stop)` tasks until SIGTERM or SIGINT; once all
    listen, say where on stderr. `ServeFailed` when one cannot listen."""
    servers = [
        _Server(
            uvicorn.Config(
                listener.app,
                host=host,
                port=listener.port,
                log_level="warning",
                access_log=False,
                proxy_headers=False,
                forwarded_allow_ips="",
            )
        )
        for listener in listeners
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    serving = [asyncio.create_task(server.serve()) for server in servers]
    tasks = serving + [asyncio.create_task(job(stop)) for job in background]
    try:
        while not all(server.started for server in servers):
            ended = [s for s, task in zip(servers, serving, strict=True) if task.done()]
            if ended:
                port = ended[0].config.port
                raise ServeFailed(f"{name} could not listen on {host}:{port} (see above)")
            await asyncio.sleep(STARTUP_POLL_SECONDS)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        for listener in listeners:
            url = f"http://{shown}:{listener.port}{listener.path}"
            print(f"{name} {listener.what}: {url}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        stop.set()
        for server in servers:
            server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), SHUTDOWN_SECONDS)
