"""The change buses: which one a process builds, and PostgreSQL LISTEN/NOTIFY between processes.

The PostgreSQL tests run when the suite's store is PostgreSQL (HOTSWAP_TEST_DATABASE_URL); each
uses a channel of its own, so runs sharing a server never hear each other.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from hotswap.delivery.bus import InProcessBus, PostgresBus, RedisBus, create_bus

PG_URL = "postgresql+asyncpg://hotswap:s3cr%40t@db.internal:6432/live"
WAIT = 10.0  # seconds: generous, a deadline on a wait, never a sleep


async def test_create_bus_prefers_redis_then_postgres_then_one_process() -> None:
    buses = [
        create_bus("redis://127.0.0.1:6379/0", PG_URL),
        create_bus(None, PG_URL),
        create_bus(None, "sqlite+aiosqlite:///./data/hotswap.db"),
    ]
    try:
        assert [type(b) for b in buses] == [RedisBus, PostgresBus, InProcessBus]
        postgres = buses[1]
        assert isinstance(postgres, PostgresBus)
        # asyncpg takes the plain libpq form, password and all.
        assert postgres.dsn == "postgresql://hotswap:s3cr%40t@db.internal:6432/live"
    finally:
        for bus in buses:
            await bus.aclose()


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def dsn(database_url: str) -> str:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL (HOTSWAP_TEST_DATABASE_URL)")
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def channel() -> str:
    return f"hotswap:test-{uuid.uuid4().hex}"


@pytest.fixture
async def admin(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own, to look at and act on the buses' backends."""
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


class Inbox:
    """What one bus received, awaited with a deadline."""

    def __init__(self, bus: PostgresBus) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        bus.subscribe(self._receive)

    async def _receive(self, message: dict[str, Any]) -> None:
        await self.queue.put(message)

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.queue.get(), timeout=WAIT)


@pytest.fixture
async def buses(dsn: str, channel: str) -> AsyncIterator[Callable[[], PostgresBus]]:
    """`buses()` -> a new PostgresBus on the test's channel (as another process would build),
    closed after the test."""
    made: list[PostgresBus] = []

    def make() -> PostgresBus:
        made.append(PostgresBus(dsn, channel))
        return made[-1]

    try:
        yield make
    finally:
        for bus in made:
            await bus.aclose()


async def listener_pid(admin: asyncpg.Connection, channel: str) -> int:
    """The backend LISTENing on the channel (the bus's listening connection)."""
    pids = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
        f'LISTEN "{channel}"',
    )
    assert len(pids) == 1, pids
    return int(pids[0]["pid"])


async def test_a_publication_reaches_every_process_the_publisher_too(buses: Callable[[], PostgresBus]) -> None:
    first, second = buses(), buses()
    first_inbox, second_inbox = Inbox(first), Inbox(second)
    await first.start()
    await second.start()
    message = {"kind": "snapshot", "environment": "Staging", "revision": 3}
    await first.publish(message)
    assert await first_inbox.next() == message
    assert await second_inbox.next() == message


async def test_messages_arrive_in_the_order_they_were_published(buses: Callable[[], PostgresBus]) -> None:
    sender, receiver = buses(), buses()
    inbox = Inbox(receiver)
    await receiver.start()
    for revision in range(1, 21):
        await sender.publish({"kind": "snapshot", "environment": "Staging", "revision": revision})
    assert [(await inbox.next())["revision"] for _ in range(20)] == list(range(1, 21))


async def test_the_listener_reconnects_after_its_backend_is_killed(
    buses: Callable[[], PostgresBus], admin: asyncpg.Connection, channel: str
) -> None:
    sender, receiver = buses(), buses()
    inbox = Inbox(receiver)
    await receiver.start()
    killed = await listener_pid(admin, channel)
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", killed)
    # Delivery is at most once: what was sent while the bus was away is lost, so once it listens
    # again it tells its receivers to read the store (`resync`) before anything else.
    assert await inbox.next() == {"kind": "resync"}
    await sender.publish({"kind": "ping"})
    assert await inbox.next() == {"kind": "ping"}
    assert await listener_pid(admin, channel) != killed


async def test_publishing_survives_the_loss_of_its_connection(
    buses: Callable[[], PostgresBus], admin: asyncpg.Connection, channel: str
) -> None:
    sender, receiver = buses(), buses()
    inbox = Inbox(receiver)
    await receiver.start()
    senders: asyncio.Queue[int] = asyncio.Queue()  # the pid of the backend each notification came from
    await admin.add_listener(channel, lambda _c, pid, _ch, _payload: senders.put_nowait(pid))
    await sender.publish({"kind": "ping", "n": 1})
    assert await inbox.next() == {"kind": "ping", "n": 1}
    publisher = await asyncio.wait_for(senders.get(), timeout=WAIT)
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", publisher)
    await sender.publish({"kind": "ping", "n": 2})  # on a fresh connection
    assert await inbox.next() == {"kind": "ping", "n": 2}
    assert await asyncio.wait_for(senders.get(), timeout=WAIT) != publisher


async def test_payloads_that_are_not_json_objects_are_ignored(
    buses: Callable[[], PostgresBus], admin: asyncpg.Connection, channel: str
) -> None:
    bus = buses()
    inbox = Inbox(bus)
    await bus.start()
    for payload in ["not json", "[1, 2]", '"text"', "", '{"kind": "ok"}']:
        await admin.execute("SELECT pg_notify($1, $2)", channel, payload)
    # Notifications from one session arrive in order: the valid one comes after the others.
    assert await inbox.next() == {"kind": "ok"}
    assert inbox.queue.empty()


async def test_a_failing_handler_does_not_starve_the_others(buses: Callable[[], PostgresBus]) -> None:
    bus = buses()

    async def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    inbox = Inbox(bus)
    await bus.start()
    await bus.publish({"kind": "a"})
    await bus.publish({"kind": "b"})
    assert [await inbox.next(), await inbox.next()] == [{"kind": "a"}, {"kind": "b"}]
