"""Process utilities shared by every stack component.

Each component runs as its own process group, started detached so it outlives the command that
started it (``stack up`` exits, the servers stay). What was started is written to
``<state_dir>/<name>/run.json``: the pid, the process start time (so a reused pid is never taken
for ours), the ports and the environment the component offers. ``stop`` only ever signals
process groups recorded there.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

STATE_ENV = "AUTODEVOPS_STATE_DIR"
_PR_SET_PDEATHSIG = 1

# When true (a test session), started processes are killed if the starting process dies, so a
# killed pytest leaves nothing behind. `stack up` leaves it false: its servers outlive it.
die_with_starter = False


def _die_with_parent() -> None:
    """In the child before exec: ask the kernel to SIGKILL it when the parent goes away.

    SIGKILL, not SIGTERM: everything gets the signal at once, and kube-apiserver's graceful
    shutdown would wait forever for an etcd that is already gone. Every component here is
    crash-safe (etcd, Prometheus and PostgreSQL keep write-ahead logs).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


CACHE_ENV = "AUTODEVOPS_CACHE_DIR"
LOOPBACK = "127.0.0.1"


class ComponentError(RuntimeError):
    """A component could not be installed or started; the message carries its log tail."""


def default_state_dir() -> Path:
    """The state directory: $AUTODEVOPS_STATE_DIR, else .state/stack under the current dir."""
    env = os.environ.get(STATE_ENV)
    return Path(env) if env else Path.cwd() / ".state" / "stack"


def cache_dir() -> Path:
    """Where builds and downloads are cached by version, outside any work tree."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "autodevops"


# Listening ports come from below the kernel's ephemeral range: a port the kernel hands out
# for `bind(0)` is also handed to outgoing connections, so a busy test run could take it between
# the pick and the service's own bind.
LISTEN_PORTS = (10000, 32767)


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LISTEN_PORTS[1] + 1


def free_port() -> int:
    """A TCP port free on the loopback address right now, outside the ephemeral range."""
    low, high = LISTEN_PORTS[0], min(LISTEN_PORTS[1], _ephemeral_floor() - 1)
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port on {LOOPBACK} between {low} and {high}")


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process: with the pid it identifies the process for sure."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so split after its closing paren.
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return fields[19]


@dataclass
class Proc:
    """One started process group and how to reach the component it serves."""

    name: str
    pid: int
    started: str
    log: str
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        """Whether the recorded process still runs (and is the one we started)."""
        return _start_time(self.pid) == self.started

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(Path(self.log), lines)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after the timeout."""
        if not self.alive():
            _reap(self.pid)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(self.pid)
            if not self.alive() and not group_alive(self.pid):
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        for _ in range(50):
            _reap(self.pid)
            if not group_alive(self.pid):
                return
            time.sleep(0.1)


def _reap(pid: int) -> None:
    """Collect our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process remains in the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(…, 0) also succeeds for zombies; look for a live member.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """One starter or stopper at a time per state dir (CLI and test sessions alike)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_file(state_dir: Path, name: str) -> Path:
    return state_dir / name / "run.json"


def load(state_dir: Path, name: str) -> Proc | None:
    """The recorded process of a component, or None if none is recorded."""
    path = run_file(state_dir, name)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return Proc(**data)


def save(state_dir: Path, proc: Proc) -> None:
    path = run_file(state_dir, proc.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(proc), indent=2))
    tmp.replace(path)


def forget(state_dir: Path, name: str) -> None:
    run_file(state_dir, name).unlink(missing_ok=True)


def spawn(
    name: str,
    argv: Sequence[str],
    state_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    ports: Mapping[str, int] | None = None,
) -> Proc:
    """Start argv detached in its own session, logging to <state_dir>/<name>/<name>.log."""
    running = load(state_dir, name)
    if running and running.alive():
        raise ComponentError(
            f"{name} already runs for {state_dir} (pid {running.pid}); stop it first, or use "
            "another state directory"
        )
    workdir = state_dir / name
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(cwd or workdir),
            env=full_env,
            start_new_session=True,
            user=user,
            preexec_fn=_die_with_parent if die_with_starter else None,
        )
    started = None
    for _ in range(50):
        started = _start_time(popen.pid)
        if started:
            break
        time.sleep(0.01)
    proc = Proc(
        name=name,
        pid=popen.pid,
        started=started or "",
        log=str(log),
        ports=dict(ports or {}),
    )
    save(state_dir, proc)
    return proc


def wait_until(
    proc: Proc,
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
) -> None:
    """Poll ready() until true; raise ComponentError with the log tail on exit or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except Exception:  # a probe failing just means "not yet"
            pass
        if not proc.alive():
            _reap(proc.pid)
            raise ComponentError(
                f"{proc.name} exited before {what}; log {proc.log}:\n{proc.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise ComponentError(
                f"{proc.name} not {what} after {timeout:.0f}s; log {proc.log}:\n{proc.log_tail()}"
            )
        time.sleep(interval)


class _Started(Protocol):
    def env(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


_Handle = TypeVar("_Handle", bound=_Started)


def serving(handle: _Handle, proc: Proc, state_dir: Path, ready: Callable[[], None]) -> _Handle:
    """A component just spawned, once `ready` returns: its environment saved with its state so
    `attach` can give it to the next command; stopped if `ready` raises."""
    try:
        ready()
    except BaseException:
        handle.stop()
        raise
    proc.env = handle.env()
    save(state_dir, proc)
    return handle


def progress(message: str) -> None:
    """Progress for people watching a long install or start (stderr keeps stdout clean)."""
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a short command, raising ComponentError with its output if it fails."""
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise ComponentError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result
