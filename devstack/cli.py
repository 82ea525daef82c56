"""``python -m devstack up | status | down | install | env | demo``: the stack for people.

``up`` starts (or reuses) every component on free loopback ports and prints ``export`` lines;
``eval "$(python -m devstack up)"`` sets up a shell. Progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import base, components, install, tools

ORDER = ("prometheus", "postgres", "redis", "ferretdb", "jaeger", "ollama", "kube")
# Started only when named (`up argocd`): they need others and cost more to run.
ON_REQUEST = ("argocd",)


def _exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items())


def _selected(names: list[str]) -> list[str]:
    known = ORDER + ON_REQUEST
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown component(s): {', '.join(unknown)}; known: {', '.join(known)}")
    wanted = {*names, *(need for n in names for need in components.COMPONENTS[n].needs)}
    return [n for n in known if n in wanted] if names else list(ORDER)


def cmd_up(state_dir: Path, names: list[str]) -> int:
    env = {base.STATE_ENV: str(state_dir)}
    failed = []
    try:
        install.install_apt()
    except base.ComponentError as exc:
        base.progress(f"Debian packages: {exc}")
    try:
        env.update(tools.install_tools().env())
    except base.ComponentError as exc:
        base.progress(f"helm/kubectl: {exc}")
        failed.append("tools")
    for name in _selected(names):
        try:
            handle, started = components.ensure(name, state_dir)
        except base.ComponentError as exc:
            base.progress(f"{name} FAILED to start: {exc}")
            failed.append(name)
            continue
        base.progress(f"{name}: {'started' if started else 'already running'}")
        env.update(handle.env())
    print(_exports(env))
    if failed:
        base.progress(f"failed: {', '.join(failed)}")
        return 1
    return 0


def cmd_status(state_dir: Path, names: list[str]) -> int:
    down = []
    for name in _selected(names):
        handle = components.COMPONENTS[name].attach(state_dir)
        if handle is None:
            down.append(name)
            print(f"{name}: not running")
        else:
            detail = " ".join(f"{k}={v}" for k, v in handle.env().items())
            print(f"{name}: running {detail}")
    return 1 if down else 0


def cmd_env(state_dir: Path) -> int:
    env = {base.STATE_ENV: str(state_dir)}
    for name in ORDER + ON_REQUEST:
        handle = components.COMPONENTS[name].attach(state_dir)
        if handle is not None:
            env.update(handle.env())
    print(_exports(env))
    return 0


def cmd_down(state_dir: Path) -> int:
    if not state_dir.exists():
        print("nothing recorded; nothing to stop")
        return 0
    stopped = components.stop_all(state_dir)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_install(kube: bool, demo: bool) -> int:
    install.install(kube=kube, demo=demo)
    base.progress("what the demo runs is installed" if demo else "everything installed")
    return 0


def main(argv: list[str]) -> int:
    """Entry point: ``python -m devstack ...``."""
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"where data, logs and pids live (default ${base.STATE_ENV} or ./.state/stack)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__, parents=[state]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", parents=[state], help="start (or reuse) components and print export lines"
    )
    up.add_argument("components", nargs="*", help=f"subset of: {' '.join(ORDER + ON_REQUEST)}")
    status = sub.add_parser(
        "status", parents=[state], help="say which components run; exit 1 if any does not"
    )
    status.add_argument("components", nargs="*")
    sub.add_parser("env", parents=[state], help="print export lines for the running components")
    sub.add_parser("down", parents=[state], help="stop every process this state dir recorded")
    inst = sub.add_parser("install", help="install packages, build and unpack binaries")
    inst.add_argument("--no-kube", action="store_true", help="skip the Kubernetes build")
    inst.add_argument("--demo", action="store_true", help="only what `demo` runs")
    sub.add_parser("demo", help="the main job: real backends, the MCP servers, real MCP calls")
    args = parser.parse_args(argv)
    state_dir = Path(getattr(args, "state_dir", None) or base.default_state_dir()).resolve()
    try:
        if args.command == "up":
            return cmd_up(state_dir, args.components)
        if args.command == "status":
            return cmd_status(state_dir, args.components)
        if args.command == "env":
            return cmd_env(state_dir)
        if args.command == "down":
            return cmd_down(state_dir)
        if args.command == "demo":
            from .demo import run_demo

            return run_demo()
        return cmd_install(kube=not args.no_kube, demo=args.demo)
    except base.ComponentError as exc:
        print(f"[stack] {exc}", file=sys.stderr)
        return 1
