"""Listening ports for the stack's services are picked where outgoing connections never land."""

import socket
from pathlib import Path

import pytest

from devstack import base


def test_free_ports_are_bindable_and_below_the_ephemeral_range() -> None:
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {base.free_port() for _ in range(50)}
    assert all(base.LISTEN_PORTS[0] <= port < floor for port in ports), sorted(ports)
    assert len(ports) > 40, "picks should spread over the range"
    for port in list(ports)[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((base.LOOPBACK, port))


def test_a_port_in_use_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((base.LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(base, "LISTEN_PORTS", (port, port))
        monkeypatch.setattr(base, "_ephemeral_floor", lambda: port + 1)
        try:
            base.free_port()
        except RuntimeError as error:
            assert str(port) in str(error)
        else:
            raise AssertionError("a port in use was handed out")
