"""`autodevops scarlet`: the database, the MCP pool, the worker and the three HTTP ports."""

from __future__ import annotations

import logging
import os
import socket

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.core.serving import Listener, serve_until_stopped
from autodevops.common import telemetry
from autodevops.common.config import ConfigError

from .api import Metrics, agent_api, health_app, metrics_app
from .auth import ApiTokens, Callers
from .config import ScarletConfig
from .engine import Engine
from .leader import LeaseElector
from .notify import Notifier
from .recording import RecordingHook
from .store import OpsStore
from .worker import Worker

log = logging.getLogger("autodevops.scarlet")


def _elector(config: ScarletConfig, identity: str) -> LeaseElector | None:
    """The Lease elector; `ConfigError` in one line when its Kubernetes client cannot be set up
    (the example's in-cluster block run on a laptop), before anything starts."""
    election = config.leader_election
    if election is None:
        return None
    from kubernetes import client
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    try:
        if election.kubeconfig is not None:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(election.kubeconfig), client_configuration=configuration
            )
        else:
            kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
    except (kube_config.ConfigException, OSError, ValueError) as exc:
        where = election.kubeconfig or "the in-cluster ServiceAccount"
        raise ConfigError(
            f"leader_election: cannot use {where}: {' '.join(str(exc).split())}; outside a "
            "cluster set leader_election.kubeconfig, or remove leader_election (one replica "
            "needs no leader)"
        ) from exc
    return LeaseElector(
        client.ApiClient(configuration),
        election.namespace,
        election.name,
        identity,
        election.lease_seconds,
    )


async def serve(config: ScarletConfig) -> None:
    """`ConfigError` before anything starts when a file or the Lease's cluster cannot be used;
    `ServeFailed` when a port cannot be served."""
    telemetry.set_service("autodevops-scarlet")
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    tokens = ApiTokens(config.api_tokens_file, config.roles())
    notifier = Notifier(config.slack_webhook_url_file)
    notifier.check()
    elector = _elector(config, worker_id)
    store = await OpsStore.open(config.dsn())
    endpoints = [HttpEndpoint(s.name, s.url, token_file=s.token_file) for s in config.servers]
    pool = McpPool(
        endpoints, hooks=[RecordingHook(store)], call_timeout=config.call_timeout_seconds
    )
    engine = Engine(config, store, pool, notifier, worker_id)
    worker = Worker(config, store, engine, elector)
    metrics = Metrics()
    api = agent_api(
        store,
        Callers(tokens, config.delegable_roles),
        config.actions,
        config.dedupe_window_seconds,
        metrics,
        engine.settle_after_actions,
        engine.refuse_after_resolve,
    )
    listeners = [
        Listener(api, config.ports.api, "agent API", "/v1/runs"),
        Listener(metrics_app(metrics, store), config.ports.metrics, "metrics", "/metrics"),
        Listener(health_app(store, pool, notifier), config.ports.health, "health", "/readyz"),
    ]
    try:
        async with pool:
            await serve_until_stopped("Scarlet", listeners, config.host, [worker.run])
    finally:
        await store.close()
