"""Redis (the Debian package) on a loopback port, without persistence."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from . import base

NAME = "redis"


@dataclass
class RedisHandle:
    """A running Redis; ``url`` is redis://127.0.0.1:PORT/0."""

    url: str
    port: int
    proc: base.Proc
    state_dir: Path

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url}

    def stop(self) -> None:
        self.proc.stop()
        base.forget(self.state_dir, NAME)


def _ping(port: int) -> bool:
    with socket.create_connection((base.LOOPBACK, port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def start(state_dir: Path) -> RedisHandle:
    state_dir = Path(state_dir).resolve()
    exe = shutil.which("redis-server")
    if not exe:
        raise base.ComponentError("redis-server is not installed: run `python -m devstack install`")
    port = base.free_port()
    workdir = state_dir / NAME
    workdir.mkdir(parents=True, exist_ok=True)
    proc = base.spawn(
        NAME,
        [
            exe,
            "--bind",
            base.LOOPBACK,
            "--port",
            str(port),
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ],
        state_dir,
        ports={"tcp": port},
    )
    handle = RedisHandle(f"redis://{base.LOOPBACK}:{port}/0", port, proc, state_dir)
    return base.serving(
        handle,
        proc,
        state_dir,
        lambda: base.wait_until(proc, lambda: _ping(port), timeout=30, what="answering PING"),
    )


def attach(state_dir: Path) -> RedisHandle | None:
    state_dir = Path(state_dir).resolve()
    proc = base.load(state_dir, NAME)
    if not proc or not proc.alive():
        return None
    port = proc.ports["tcp"]
    try:
        if not _ping(port):
            return None
    except OSError:
        return None
    return RedisHandle(f"redis://{base.LOOPBACK}:{port}/0", port, proc, state_dir)
