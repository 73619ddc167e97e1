"""The change bus: how every API process learns that something it holds in memory changed.

Messages are small JSON objects (`{"kind": "snapshot", "environment": "Production", "revision": 7}`,
`{"kind": "player", "id": "p-1"}`, `{"kind": "warm", ...}` from `delivery.warming`); a receiver
re-reads the store, so a message carries no data that could disagree with it. Redis pub/sub
when HOTSWAP_REDIS_URL is set; else PostgreSQL LISTEN/NOTIFY when the store is PostgreSQL; else
(SQLite: one process) in-process.
Delivery is at most once: a replica that misses a message (Redis or PostgreSQL restarting, a
connection being re-established) catches up through the periodic revision check in
`delivery.service`, so the bus is about speed, not correctness. To shorten that gap, a bus that
subscribes again after losing its connection hands its receivers `{"kind": "resync"}`: what
may have been missed meanwhile is read from the store at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.engine import make_url

Handler = Callable[[dict[str, Any]], Awaitable[None]]
CHANNEL = "hotswap:changes"  # a Redis channel, and a PostgreSQL one (asyncpg quotes it for LISTEN)
RESYNC: dict[str, Any] = {"kind": "resync"}  # handed to receivers only, after subscribing again
log = logging.getLogger(__name__)


class ChangeBus(Protocol):
    def subscribe(self, handler: Handler) -> None: ...

    async def publish(self, message: dict[str, Any]) -> int | None:
        """Send `message` to every process on the bus (this one too). Answers how many processes
        it reached when the bus can tell (None: it cannot, or the publication failed)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


async def _dispatch(handlers: list[Handler], message: dict[str, Any]) -> None:
    for handler in handlers:
        try:
            await handler(message)
        except Exception:  # one failing receiver must not starve the others
            log.exception("change bus handler failed", extra={"bus_message": message})


def _parse(payload: str | bytes) -> dict[str, Any] | None:
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        log.warning("change bus: ignored a message that is not JSON")
        return None
    if not isinstance(message, dict):
        log.warning("change bus: ignored a message that is not a JSON object")
        return None
    return message


class InProcessBus:
    """One process: a publication reaches this process's subscribers, in order, before returning."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, message: dict[str, Any]) -> int | None:
        await _dispatch(self._handlers, message)
        return 1  # this process is the only one

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _ListeningBus:
    """What the buses of several processes share: handlers, and one task that listens for as
    long as the bus runs. `_listen_once` holds one connection and dispatches what arrives on it
    until it is lost (returning or raising); the loop then connects again with backoff, and a
    connection made again first hands the receivers `RESYNC`."""

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self._handlers: list[Handler] = []
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="hotswap-change-bus")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listening.wait(), timeout=5)

    async def _listening_again(self) -> None:
        """Call once a connection listens: after a loss, the receivers re-read the store."""
        if self._listening.is_set():
            await _dispatch(self._handlers, RESYNC)
        self._listening.set()

    async def _listen_once(self) -> None:
        raise NotImplementedError

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen_once()
                log.warning("change bus connection lost; reconnecting")
                delay = 0.1  # it had been listening: retry soon
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("change bus connection lost; reconnecting", exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _stop_listening(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class RedisBus(_ListeningBus):
    """Several processes: each publication goes to Redis, and every process (this one too)
    receives it from there. The listener reconnects with backoff after a connection loss."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__(channel)
        self._redis = aioredis.Redis.from_url(url)
        # The listener's own client: no silent retry (redis-py would reconnect inside `listen()`,
        # and the loop here would never know to resync), and a ping when the connection has
        # been quiet, so a half-open one is found.
        self._listener = aioredis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), health_check_interval=30, client_name=f"hotswap-bus:{channel}"
        )

    async def publish(self, message: dict[str, Any]) -> int | None:
        try:
            # Redis answers how many subscribers received it: one listener per process.
            return int(await self._redis.publish(self._channel, orjson.dumps(message)))
        except Exception:  # the store has the change; other replicas catch up on their next check
            log.warning("change bus publish failed", exc_info=True, extra={"bus_message": message})
            return None

    async def _listen_once(self) -> None:
        async with self._listener.pubsub() as pubsub:
            await pubsub.subscribe(self._channel)
            await self._listening_again()
            async for raw in pubsub.listen():
                if raw.get("type") != "message":
                    continue
                message = _parse(raw["data"])
                if message is not None:
                    await _dispatch(self._handlers, message)

    async def aclose(self) -> None:
        await self._stop_listening()
        await self._listener.aclose()
        await self._redis.aclose()


class PostgresBus(_ListeningBus):
    """Several processes on PostgreSQL without Redis: LISTEN/NOTIFY. Each publication is a
    `pg_notify`, and every process (this one too) receives it from PostgreSQL.

    Two connections of its own, outside the engine's pool: one LISTENs for as long as the bus runs
    (a pooled connection would be handed to requests), the other publishes. The listener
    reconnects with backoff when its connection closes (asyncpg's termination listener says so at
    once) or stops answering (a ping after `ping_seconds` of silence: a dead network sends no
    close). Notifications sent while it reconnects are lost: the resync, then the periodic check,
    catch up.
    """

    def __init__(self, dsn: str, channel: str = CHANNEL, *, ping_seconds: float = 30.0) -> None:
        super().__init__(channel)
        self.dsn = dsn
        self._ping_seconds = ping_seconds
        self._publisher: asyncpg.Connection | None = None
        self._publish_lock = asyncio.Lock()

    @classmethod
    def from_database_url(cls, url: str, channel: str = CHANNEL) -> PostgresBus:
        """`postgresql+asyncpg://...` (SQLAlchemy's form) -> the plain DSN asyncpg takes."""
        return cls(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), channel)

    async def publish(self, message: dict[str, Any]) -> int | None:
        """NOTIFY does not say who heard it: always None."""
        payload = orjson.dumps(message).decode()
        async with self._publish_lock:
            for attempt in range(2):  # once more on a fresh connection: the old one may have died idle
                try:
                    if self._publisher is None or self._publisher.is_closed():
                        self._publisher = await asyncpg.connect(self.dsn, timeout=5)
                    await self._publisher.execute("SELECT pg_notify($1, $2)", self._channel, payload, timeout=5)
                    return None
                except Exception:  # the store has the change; other replicas catch up on their next check
                    self._drop_publisher()
                    if attempt:
                        log.warning("change bus publish failed", exc_info=True, extra={"bus_message": message})
        return None

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            self._publisher.terminate()
            self._publisher = None

    async def _listen_once(self) -> None:
        """One connection: dispatch its notifications until it closes or stops answering (returns);
        raises only when it cannot connect and LISTEN."""
        inbox: asyncio.Queue[str | None] = asyncio.Queue()  # its notifications in order, then None
        connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            connection.add_termination_listener(lambda _connection: inbox.put_nowait(None))
            await connection.add_listener(
                self._channel, lambda _connection, _pid, _channel, payload: inbox.put_nowait(payload)
            )
            await self._listening_again()
            while True:
                try:
                    payload = await asyncio.wait_for(inbox.get(), timeout=self._ping_seconds)
                except TimeoutError:
                    try:
                        await connection.execute("SELECT 1", timeout=self._ping_seconds)
                    except Exception:
                        log.warning("change bus connection stopped answering", exc_info=True)
                        return
                    continue
                if payload is None:
                    return
                message = _parse(payload)
                if message is not None:
                    await _dispatch(self._handlers, message)
        finally:
            connection.terminate()

    async def aclose(self) -> None:
        await self._stop_listening()
        async with self._publish_lock:
            if self._publisher is not None:
                with contextlib.suppress(Exception):
                    await self._publisher.close(timeout=5)
                self._publisher = None


def create_bus(redis_url: str | None, database_url: str) -> ChangeBus:
    """Redis when configured; else LISTEN/NOTIFY on a PostgreSQL store; else one process (SQLite)."""
    if redis_url:
        return RedisBus(redis_url)
    if make_url(database_url).get_backend_name() == "postgresql":
        return PostgresBus.from_database_url(database_url)
    return InProcessBus()
