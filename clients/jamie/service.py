"""`autodevops jamie`: Redis, the memory, the model, the people's tools and the three ports.

Nothing here waits for a dependency: Jamie starts with Redis, MongoDB or the model down,
`/readyz` says which, and each is used as soon as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib

from ollama import AsyncClient

from autodevops.clients.core.serving import Listener, serve_until_stopped
from autodevops.common import telemetry

from .api import Jamie, api_app, for_people, health_app, portal_app
from .chat import Chat
from .config import JamieConfig
from .confirmations import Confirmations
from .keyvalue import open_redis
from .memory import LazyMemory, MemorySettings
from .metrics import JamieMetrics
from .model_status import ModelProbe
from .people import ProxyIdentity, UsersFile
from .ratelimit import RateLimiter
from .scarlet import ScarletApi
from .sessions import Sessions
from .signin import SignInLimits
from .toolcache import ToolCache
from .tools import PeoplesTools

IDLE_SWEEP_SECONDS = 60


def build(config: JamieConfig) -> Jamie:
    """Everything the apps need; connects to nothing yet."""
    redis = open_redis(config.redis_url(), config.redis.timeout_seconds)
    ollama = AsyncClient(host=config.model.host)
    memory = LazyMemory(
        config.mongodb_url(),
        config.mongodb.database,
        ollama,
        MemorySettings(
            embed_model=config.model.embed_name,
            retention_days=config.mongodb.retention_days,
            timeout_seconds=config.mongodb.timeout_seconds,
            index_megabytes=config.mongodb.recall_index_megabytes,
        ),
    )
    metrics = JamieMetrics()
    tools = PeoplesTools(config, ToolCache(redis, config.limits.tool_cache_seconds), metrics)
    confirmations = Confirmations(redis, config.limits.confirm_seconds)
    probe = ModelProbe(ollama, config.model)
    auth = config.auth
    return Jamie(
        config=config,
        redis=redis,
        sessions=Sessions(redis, auth.session_seconds),
        limiter=RateLimiter(redis),
        sign_in_limits=SignInLimits(redis, config.limits),
        users=UsersFile(auth.users_file) if auth.users_file else None,
        proxy=ProxyIdentity(auth.proxy) if auth.proxy else None,
        memory=memory,
        tools=tools,
        confirmations=confirmations,
        probe=probe,
        chat=Chat(config, ollama, memory, tools, confirmations, probe, metrics),
        metrics=metrics,
        scarlet=ScarletApi(config.scarlet) if config.scarlet else None,
    )


async def serve(config: JamieConfig) -> None:
    telemetry.set_service("autodevops-jamie")
    jamie = build(config)

    async def close_idle_pools(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_SWEEP_SECONDS)
            await jamie.tools.close_idle()

    ports = config.ports
    listeners = [
        Listener(for_people(portal_app(jamie), config), ports.portal, "portal"),
        Listener(for_people(api_app(jamie), config), ports.api, "API", "/api"),
        Listener(health_app(jamie), ports.health, "health", "/readyz"),
    ]
    try:
        await serve_until_stopped("Jamie", listeners, config.host, [close_idle_pools])
    finally:
        await jamie.tools.close()
        await jamie.memory.close()
        if jamie.scarlet is not None:
            await jamie.scarlet.close()
        await jamie.redis.aclose()
