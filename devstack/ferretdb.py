"""FerretDB (built from its Go module) as the MongoDB wire-protocol server, SQLite backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import base, install

NAME = "ferretdb"


@dataclass
class FerretHandle:
    """A running FerretDB; ``url`` is mongodb://127.0.0.1:PORT/."""

    url: str
    port: int
    proc: base.Proc
    state_dir: Path

    def env(self) -> dict[str, str]:
        return {"MONGODB_URL": self.url}

    def stop(self) -> None:
        self.proc.stop()
        base.forget(self.state_dir, NAME)


def _url(port: int) -> str:
    return f"mongodb://{base.LOOPBACK}:{port}/"


def start(state_dir: Path) -> FerretHandle:
    state_dir = Path(state_dir).resolve()
    exe = install.go_build(install.FERRETDB)
    port = base.free_port()
    data = state_dir / NAME / "data"
    data.mkdir(parents=True, exist_ok=True)
    proc = base.spawn(
        NAME,
        [
            str(exe),
            f"--listen-addr={base.LOOPBACK}:{port}",
            f"--sqlite-url=file:{data}/",
            "--log-level=warn",
        ],
        state_dir,
        ports={"tcp": port},
    )
    handle = FerretHandle(_url(port), port, proc, state_dir)
    return base.serving(
        handle,
        proc,
        state_dir,
        lambda: base.wait_until(proc, lambda: base.port_open(port), timeout=30, what="listening"),
    )


def attach(state_dir: Path) -> FerretHandle | None:
    state_dir = Path(state_dir).resolve()
    proc = base.load(state_dir, NAME)
    if not proc or not proc.alive() or not base.port_open(proc.ports["tcp"]):
        return None
    return FerretHandle(_url(proc.ports["tcp"]), proc.ports["tcp"], proc, state_dir)
