"""The `autodevops` command line: built from every server's spec and the clients' commands
without loading any server's tools or any client."""

from __future__ import annotations

import subprocess
import sys

from autodevops.servers.registry import SERVERS, load_spec

LIST_MODULES = (
    "import sys; from autodevops.clients.cli import build_parser; build_parser(); "
    "print(*sys.modules)"
)


def test_the_command_line_loads_no_servers_tools_or_backend_client() -> None:
    """`autodevops --help` or one server's start must not pay for every server."""
    modules = subprocess.run(
        [sys.executable, "-c", LIST_MODULES], capture_output=True, text=True, check=True
    ).stdout.split()
    assert any(m.endswith(".kubernetes.server") for m in modules), "the specs were read"
    heavy = [
        m
        for m in modules
        if m.split(".")[0] in ("httpx", "kubernetes", "fastmcp", "ollama", "psycopg", "pymongo")
        or m.startswith(("autodevops.clients.jamie", "autodevops.clients.scarlet"))
        or any(f".{server}.{part}" in m for server in SERVERS for part in ("tools", "client"))
    ]
    assert heavy == []


def test_server_commands_are_declared_by_their_spec() -> None:
    declared = {(c.group, c.name) for name in SERVERS for c in load_spec(name).commands}
    assert ("policy", "rbac") in declared
    help_text = subprocess.run(
        [sys.executable, "-m", "autodevops.clients.cli", "policy", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(name in help_text for group, name in declared if group == "policy")


def test_default_ports_never_clash() -> None:
    """One table: two parts started with their defaults on one machine both listen."""
    from autodevops.clients.cli import build_parser
    from autodevops.clients.jamie.config import Ports as JamiePorts
    from autodevops.clients.scarlet.config import Ports as ScarletPorts

    server = build_parser().parse_args(["serve", "kubernetes"]).port
    jamie, scarlet = JamiePorts(), ScarletPorts()
    ports = [server, jamie.portal, jamie.api, jamie.health, scarlet.api, scarlet.metrics]
    ports.append(scarlet.health)
    assert len(set(ports)) == len(ports), ports
    assert server == 8081
