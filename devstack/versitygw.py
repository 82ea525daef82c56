"""versitygw (Apache-2.0, built from its Go module) as a real S3-compatible server over a
folder on disk: where the backups' bucket tests keep their objects."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from . import base, install

NAME = "versitygw"


@dataclass
class S3Handle:
    """A running S3 endpoint; `url` is http://127.0.0.1:PORT, with its root credentials."""

    url: str
    access_key: str
    secret_key: str
    proc: base.Proc
    state_dir: Path

    def env(self) -> dict[str, str]:
        return {"S3_URL": self.url}

    def stop(self) -> None:
        self.proc.stop()
        base.forget(self.state_dir, NAME)


def start(state_dir: Path) -> S3Handle:
    state_dir = Path(state_dir).resolve()
    exe = install.go_build(install.VERSITYGW)
    port = base.free_port()
    root = state_dir / NAME / "buckets"
    root.mkdir(parents=True, exist_ok=True)
    access, secret = "autodevops", secrets.token_hex(16)
    (state_dir / NAME / "secret").write_text(secret)
    proc = base.spawn(
        NAME,
        [str(exe), f"--port={base.LOOPBACK}:{port}", "posix", str(root)],
        state_dir,
        # The root credentials by environment, out of the process list.
        env={"ROOT_ACCESS_KEY": access, "ROOT_SECRET_KEY": secret},
        ports={"tcp": port},
    )
    handle = S3Handle(f"http://{base.LOOPBACK}:{port}", access, secret, proc, state_dir)
    return base.serving(
        handle,
        proc,
        state_dir,
        lambda: base.wait_until(proc, lambda: base.port_open(port), timeout=30, what="listening"),
    )


def attach(state_dir: Path) -> S3Handle | None:
    state_dir = Path(state_dir).resolve()
    proc = base.load(state_dir, NAME)
    if not proc or not proc.alive() or not base.port_open(proc.ports["tcp"]):
        return None
    secret = (state_dir / NAME / "secret").read_text()
    url = f"http://{base.LOOPBACK}:{proc.ports['tcp']}"
    return S3Handle(url, "autodevops", secret, proc, state_dir)
