"""The change bus: how every API process learns that something it holds in memory changed.

Messages are small JSON objects (`{"kind": "snapshot", "environment": "Production", "revision": 7}`,
`{"kind": "player", "id": "p-1"}`); a receiver re-reads the store, so a message carries no data
that could disagree with it. In-process by default; Redis pub/sub when HOTSWAP_REDIS_URL is set.
Delivery is at most once: a replica that misses a message (Redis restarting) catches up through
the periodic revision check in `delivery.service`, so the bus is about speed, not correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

Handler = Callable[[dict[str, Any]], Awaitable[None]]
CHANNEL = "hotswap:changes"
log = logging.getLogger(__name__)


class ChangeBus(Protocol):
    def subscribe(self, handler: Handler) -> None: ...

    async def publish(self, message: dict[str, Any]) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


async def _dispatch(handlers: list[Handler], message: dict[str, Any]) -> None:
    for handler in handlers:
        try:
            await handler(message)
        except Exception:  # one failing receiver must not starve the others
            log.exception("change bus handler failed", extra={"bus_message": message})


class InProcessBus:
    """One process: a publication reaches this process's subscribers, in order, before returning."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, message: dict[str, Any]) -> None:
        await _dispatch(self._handlers, message)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class RedisBus:
    """Several processes: each publication goes to Redis, and every process (this one too)
    receives it from there. The listener reconnects with backoff after a connection loss."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._channel = channel
        self._handlers: list[Handler] = []
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, message: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self._channel, orjson.dumps(message))
        except Exception:  # the store has the change; other replicas catch up on their next check
            log.warning("change bus publish failed", exc_info=True, extra={"bus_message": message})

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="hotswap-change-bus")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), timeout=5)

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    delay = 0.1
                    async for raw in pubsub.listen():
                        if raw.get("type") != "message":
                            continue
                        try:
                            message = orjson.loads(raw["data"])
                        except orjson.JSONDecodeError:
                            log.warning("change bus: ignored a message that is not JSON")
                            continue
                        if isinstance(message, dict):
                            await _dispatch(self._handlers, message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("change bus connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.aclose()


def create_bus(redis_url: str | None) -> ChangeBus:
    return RedisBus(redis_url) if redis_url else InProcessBus()
