"""Jamie as users run it (`autodevops jamie --config`) for tests and the bench: its config
written beside the MCP servers it uses, the process started, and a signed-in client.

The MCP servers know Jamie by its own token and let it act for people with the roles
`viewer` and `operator`; `ana` is an operator, the others are viewers.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import yaml

from autodevops.clients.jamie.people import hash_password

from .base import free_port
from .services import cli, start_mcp_server, start_service

PASSWORDS = {
    "ana": "ana-password-1",
    "ben": "ben-password-1",
    "carl": "carl-password-1",
    "cleo": "cleo-password-1",
}
ROLES = {"ana": ["operator", "viewer"], "ben": ["viewer"], "carl": ["viewer"], "cleo": ["viewer"]}


class ModelServer(Protocol):
    """An Ollama-compatible server: where it listens and the model it serves."""

    @property
    def url(self) -> str: ...

    @property
    def model(self) -> str: ...


def write_users(workdir: Path) -> None:
    """Jamie's users file with the people above, passwords hashed as in production."""
    users = [
        {"username": user, "password_hash": hash_password(password), "roles": ROLES[user]}
        for user, password in PASSWORDS.items()
    ]
    (workdir / "users.yaml").write_text(yaml.safe_dump(users))


@dataclass
class Jamie:
    api_url: str
    portal_url: str
    health_url: str
    model_server: ModelServer | None
    process: subprocess.Popen[bytes]
    log: Path
    audit_logs: dict[str, Path]
    database: str
    sign_in_user: str = "ana"
    sign_in_password: str = PASSWORDS["ana"]
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, user: str) -> httpx.Client:
        """A signed-in client for `user` (one sign-in per user and service)."""
        if user not in self._clients:
            client = httpx.Client(base_url=self.api_url, timeout=30)
            response = client.post(
                "/api/session", json={"username": user, "password": PASSWORDS[user]}
            )
            assert response.status_code == 200, response.text
            self._clients[user] = client
        return self._clients[user]

    def new_conversation(self, user: str, title: str | None = None) -> str:
        body = {"title": title} if title else {}
        response = self.client(user).post("/api/conversations", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def ask(
        self,
        user: str,
        conversation: str,
        question: str,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Every event of the answer, in order; `on_event` sees each as it arrives."""
        events: list[tuple[str, dict[str, Any]]] = []
        path = f"/api/conversations/{conversation}/messages"
        with self.client(user).stream("POST", path, json={"content": question}) as response:
            assert response.status_code == 200, response.read().decode()
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind is not None:
                    event = (kind, json.loads(line.removeprefix("data: ")))
                    events.append(event)
                    if on_event is not None:
                        on_event(*event)
                    kind = None
        return events

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def jamie_policy(server: str, roles: dict[str, Any]) -> dict[str, Any]:
    """A server's policy that lets Jamie act for people with the roles viewer and operator."""
    return {
        "server": server,
        "roles": roles,
        "delegates": [{"subject": "jamie", "roles": ["viewer", "operator"]}],
    }


def jamie_token(token: str) -> list[dict[str, Any]]:
    """A server's tokens file that knows Jamie (its own role: viewer)."""
    return [{"token": token, "subject": "jamie", "roles": ["viewer"]}]


@dataclass
class Deployment:
    """What Jamie needs besides its own process; `start` runs one Jamie on it."""

    workdir: Path
    servers: list[dict[str, Any]]
    audit_logs: dict[str, Path]
    processes: list[subprocess.Popen[bytes]]
    # The Redis database its Jamies use, whatever URL they are given: test modules share one
    # Redis, and one module's sign-ins must not count against another's rate limits.
    redis_db: int = 0

    def stop(self) -> None:
        """Stop its MCP servers and every Jamie started on it; a process that ignores SIGTERM
        for 15 s is killed."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def start(
        self,
        name: str,
        model_server: ModelServer | None,
        redis_url: str,
        mongodb_url: str,
        model_host: str | None = None,
        database: str | None = None,
        **overrides: Any,
    ) -> Jamie:
        """`database`: another Jamie's, to run a second replica of it."""
        workdir = self.workdir
        in_db = urlsplit(redis_url)._replace(path=f"/{self.redis_db}")
        (workdir / f"{name}-redis-url").write_text(urlunsplit(in_db))
        (workdir / f"{name}-mongodb-url").write_text(mongodb_url)
        ports = {"api": free_port(), "portal": free_port(), "health": free_port()}
        database = database or f"jamie_{name}_{secrets.token_hex(3)}"
        config = {
            "ports": ports,
            "model": {
                "host": model_host or (model_server.url if model_server else ""),
                "name": model_server.model if model_server else "unused-model:latest",
                "embed_name": "fake-embed",
                "probe_seconds": 1,
                "max_seconds": 60,
            },
            "mongodb": {
                "url_file": f"{name}-mongodb-url",
                "database": database,
                "timeout_seconds": 2,
            },
            "redis": {"url_file": f"{name}-redis-url", "timeout_seconds": 2},
            "servers": self.servers,
            "auth": {"users_file": "users.yaml", "cookie_secure": "never"},
            "limits": {
                "login_free_failures": 8,
                # Every test signs in from 127.0.0.1: the address limit has its own test.
                "login_per_address_per_minute": 10_000,
                "chat_per_minute": 20,
                "confirm_seconds": 60,
            },
            **overrides,
        }
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        log = workdir / f"{name}.log"
        health = f"http://127.0.0.1:{ports['health']}"
        process = start_service([*cli(), "jamie", "--config", str(path)], log, f"{health}/healthz")
        self.processes.append(process)
        return Jamie(
            f"http://127.0.0.1:{ports['api']}",
            f"http://127.0.0.1:{ports['portal']}",
            health,
            model_server,
            process,
            log,
            self.audit_logs,
            database,
        )


def mcp_deployment(
    workdir: Path,
    servers: Mapping[str, tuple[dict[str, Any], Sequence[str]]],
    redis_db: int = 0,
) -> Deployment:
    """A Deployment with these MCP servers started, each with its roles and command-line
    options and a token of its own for Jamie."""
    deployment = Deployment(workdir, [], {}, [], redis_db)
    try:
        for server, (roles, extra) in servers.items():
            token = secrets.token_urlsafe(24)
            (workdir / f"{server}-token").write_text(token)
            started = start_mcp_server(
                workdir, server, jamie_policy(server, roles), jamie_token(token), *extra
            )
            deployment.processes.append(started.process)
            deployment.audit_logs[server] = started.audit_log
            deployment.servers.append(
                {"name": server, "url": started.url, "token_file": f"{server}-token"}
            )
    except BaseException:
        deployment.stop()
        raise
    return deployment
