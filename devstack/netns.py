"""Run a program in a network namespace of its own, where only loopback exists, reaching chosen
loopback ports of the host through unix sockets.

For a server that listens on every interface and has no flag to say otherwise (Argo CD's
application controller and its metrics port): in its own namespace "every interface" is just
its private loopback, so nothing is reachable from outside. Unix sockets are files, so they
cross network namespaces: this process listens on one per port on the host side and forwards
to the host's 127.0.0.1:PORT; inside the namespace a second copy of it listens on
127.0.0.1:PORT and forwards to that socket, so the program's addresses work unchanged.

    python -m devstack.netns SOCKET_DIR PORT[,PORT...] -- PROGRAM ARGS...
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def unshare_argv() -> list[str]:
    """How to enter a new network namespace: as root directly, else inside a user namespace."""
    exe = shutil.which("unshare")
    if not exe:
        raise RuntimeError("the unshare command (util-linux) is missing")
    if os.geteuid() == 0:
        return [exe, "--net"]
    return [exe, "--user", "--map-root-user", "--net"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def _forwarder(
    connect: Callable[[], Awaitable[Streams]],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await connect()
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    return serve


def _socket(folder: Path, port: int) -> str:
    return str(folder / f"{port}.sock")


async def _host(folder: Path, ports: list[int], program: list[str]) -> int:
    """Host side: a unix socket per port to 127.0.0.1:PORT; then the program, namespaced."""
    for port in ports:
        path = _socket(folder, port)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        await asyncio.start_unix_server(
            _forwarder(functools.partial(asyncio.open_connection, LOOPBACK, port)), path
        )
    inside = [sys.executable, "-m", "devstack.netns", "--inside", str(folder), _ports(ports)]
    child = await asyncio.create_subprocess_exec(*unshare_argv(), *inside, "--", *program)
    return await _until_exit(child)


async def _inside(folder: Path, ports: list[int], program: list[str]) -> int:
    """Namespace side: loopback up, 127.0.0.1:PORT to each socket, then the program."""
    up = await asyncio.create_subprocess_exec("ip", "link", "set", "lo", "up")
    if await up.wait() != 0:
        print(
            "netns: could not bring loopback up (ip link set lo up) in the new network "
            "namespace: run as root, or allow unprivileged user namespaces",
            file=sys.stderr,
        )
        return 1
    for port in ports:
        path = _socket(folder, port)
        await asyncio.start_server(
            _forwarder(functools.partial(asyncio.open_unix_connection, path)), LOOPBACK, port
        )
    child = await asyncio.create_subprocess_exec(*program)
    return await _until_exit(child)


async def _until_exit(child: asyncio.subprocess.Process) -> int:
    """Wait for the program; SIGTERM to us is passed on to it."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, child.send_signal, sig)
    return await child.wait()


def _ports(ports: list[int]) -> str:
    return ",".join(str(p) for p in ports)


def main(argv: list[str]) -> int:
    inside = argv[:1] == ["--inside"]
    args = argv[1:] if inside else argv
    if len(args) < 4 or args[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    folder, ports = Path(args[0]), [int(p) for p in args[1].split(",") if p]
    run = _inside if inside else _host
    folder.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(folder, ports, args[3:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
