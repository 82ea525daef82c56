"""A program in its own network namespace: what it binds on every interface is unreachable
from the host, and the host's loopback ports it was given are reachable at the same numbers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from devstack import base

# Inside: listen on every interface, fetch from the host's server, say what it got, wait.
PROGRAM = textwrap.dedent(
    """
    import socket, sys, time, urllib.request
    listener = socket.create_server(("0.0.0.0", int(sys.argv[1])))
    body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/", timeout=10).read()
    interfaces = [line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]]
    print(body.decode(), ",".join(interfaces), flush=True)
    time.sleep(30)
    """
)


def test_binds_stay_inside_and_forwarded_ports_reach_the_host(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hello from the host")
    host_port, inner_port = base.free_port(), base.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(host_port), "--bind", base.LOOPBACK],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not base.port_open(host_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    netns = [sys.executable, "-m", "devstack.netns", str(tmp_path / "sockets"), str(host_port)]
    inner = subprocess.Popen(
        [*netns, "--", sys.executable, "-c", PROGRAM, str(inner_port), str(host_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert inner.stdout is not None
        line = inner.stdout.readline()
        assert line.split() == ["hello", "from", "the", "host", "lo"], inner.stderr
        assert not base.port_open(inner_port)  # bound on "every interface": its own loopback
    finally:
        inner.terminate()
        server.terminate()
        inner.wait(10)
        server.wait(10)
