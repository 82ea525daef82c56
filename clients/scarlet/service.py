"""`autodevops scarlet`: the database, the MCP pool, the worker and the three HTTP ports."""

from __future__ import annotations

import logging
import os
import socket

from autodevops.clients.core.endpoints import HttpEndpoint
from autodevops.clients.core.pool import McpPool
from autodevops.clients.core.serving import serve_until_stopped

from .api import Metrics, agent_api, health_app, metrics_app
from .auth import load_api_tokens
from .config import ScarletConfig
from .engine import Engine
from .leader import LeaseElector
from .notify import Notifier
from .recording import RecordingHook
from .store import OpsStore
from .worker import Worker

log = logging.getLogger("autodevops.scarlet")


def _elector(config: ScarletConfig, identity: str) -> LeaseElector | None:
    election = config.leader_election
    if election is None:
        return None
    from kubernetes import client
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    if election.kubeconfig is not None:
        kube_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(election.kubeconfig), client_configuration=configuration
        )
    else:
        kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    return LeaseElector(
        client.ApiClient(configuration),
        election.namespace,
        election.name,
        identity,
        election.lease_seconds,
    )


async def serve(config: ScarletConfig) -> None:
    tokens = load_api_tokens(config.api_tokens_file)
    store = await OpsStore.open(config.dsn())
    endpoints = [HttpEndpoint(s.name, s.url, token_file=s.token_file) for s in config.servers]
    pool = McpPool(
        endpoints, hooks=[RecordingHook(store)], call_timeout=config.call_timeout_seconds
    )
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    engine = Engine(config, store, pool, Notifier(config.slack_webhook_url_file), worker_id)
    worker = Worker(config, store, engine, _elector(config, worker_id))
    metrics = Metrics()
    apps = [
        (
            agent_api(
                store,
                tokens,
                config.dedupe_window_seconds,
                metrics,
                engine.settle_after_actions,
                engine.refuse_after_resolve,
            ),
            config.ports.api,
        ),
        (metrics_app(metrics, store), config.ports.metrics),
        (health_app(store, pool), config.ports.health),
    ]
    async with pool:
        await serve_until_stopped(apps, config.host, [worker.run])
    await store.close()
