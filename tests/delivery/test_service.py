"""The snapshot service and the change bus, below HTTP."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from hotswap.auth.model import SYSTEM
from hotswap.configs.service import ProfileDraft
from hotswap.configs.tables import config_profiles
from hotswap.container import Container
from hotswap.core.environments import Environment
from hotswap.core.errors import Unavailable
from hotswap.delivery.bus import RESYNC, InProcessBus, RedisBus
from hotswap.delivery.service import SnapshotService
from hotswap.observability.prometheus import Metrics
from hotswap.settings import Settings
from hotswap.storage.revisions import snapshot_revisions

STAGING = Environment.STAGING


async def released(container: Container, name: str, data: dict[str, Any]) -> None:
    async with container.uow() as uow:
        await container.configs.create_profile(uow, SYSTEM, ProfileDraft(name=name, environment=STAGING))
        await container.configs.create_version(uow, SYSTEM, name, data=data, version="1.0.0", description=None)
        await container.releases.request_release(uow, SYSTEM, name, version="1.0.0", comment=None)
        await uow.commit()


async def stored_revision(container: Container, env: Environment) -> int:
    async with container.engine.connect() as conn:
        query = sa.select(snapshot_revisions.c.revision).where(snapshot_revisions.c.environment == env.value)
        return int((await conn.execute(query)).scalar_one())


async def test_one_transaction_is_one_new_revision(container: Container) -> None:
    before = await stored_revision(container, STAGING)
    async with container.uow() as uow:
        await container.snapshot_changes.mark_changed(uow, [STAGING])
        await container.snapshot_changes.mark_changed(uow, [STAGING])
        await container.snapshot_changes.mark_changed(uow)  # all: Staging already counted
        await uow.commit()
    assert await stored_revision(container, STAGING) == before + 1
    assert await stored_revision(container, Environment.PRODUCTION) == before + 1


async def test_a_rolled_back_change_moves_nothing(container: Container) -> None:
    before = await stored_revision(container, STAGING)
    held = await container.snapshots.get(STAGING)
    async with container.uow() as uow:
        await container.snapshot_changes.mark_changed(uow, [STAGING])
        # leaving without commit rolls back
    assert await stored_revision(container, STAGING) == before
    assert (await container.snapshots.get(STAGING)) is held


async def test_the_snapshot_is_recompiled_after_the_commit(container: Container) -> None:
    first = await container.snapshots.get(STAGING)
    await released(container, "balance", {"hp": 1})
    current = container.snapshots.peek(STAGING)
    assert current is not None
    assert current.revision == first.revision + 1
    assert current.config_names == ["balance"]


async def test_listeners_see_each_new_snapshot_in_order(container: Container) -> None:
    start = (await container.snapshots.get(STAGING)).revision
    seen: list[int] = []
    container.snapshots.on_new(lambda snap: seen.append(snap.revision) if snap.environment == "Staging" else None)
    await released(container, "a", {"n": 1})
    await released(container, "b", {"n": 2})
    assert seen == [start + 1, start + 2]


async def test_stored_rules_that_do_not_compile_never_reach_callers_as_their_fault(container: Container) -> None:
    await released(container, "balance", {"hp": 1})
    held = await container.snapshots.get(STAGING)
    async with container.engine.begin() as conn:
        await conn.execute(config_profiles.update().values(targeting=[{"id": "x", "override": {}, "condition": 5}]))
        await conn.execute(snapshot_revisions.update().values(revision=snapshot_revisions.c.revision + 1))
    # A process holding a good snapshot keeps serving it...
    assert await container.snapshots.refresh(STAGING) is held
    # ...and one holding none answers 503, not 422.
    fresh = type(container.snapshots)(container.engine, InProcessBus(), container.metrics)
    fresh.add_part("configs", container.configs.snapshot_configs)
    with pytest.raises(Unavailable):
        await fresh.get(STAGING)


async def test_a_missed_message_is_caught_up_by_the_check(container: Container) -> None:
    held = await container.snapshots.get(STAGING)
    async with container.engine.begin() as conn:  # a change made by another process, bus lost
        await conn.execute(snapshot_revisions.update().values(revision=snapshot_revisions.c.revision + 5))
    await container.snapshots.check()
    current = container.snapshots.peek(STAGING)
    assert current is not None
    assert current.revision == held.revision + 5


async def test_a_bus_that_subscribed_again_has_the_store_read_at_once(container: Container) -> None:
    bus = InProcessBus()
    snapshots = SnapshotService(container.engine, bus, Metrics(), check_interval=0)
    held = await snapshots.get(STAGING)
    async with container.engine.begin() as conn:  # changes announced while the bus was away
        await conn.execute(snapshot_revisions.update().values(revision=snapshot_revisions.c.revision + 2))
    await bus.publish(RESYNC)
    current = snapshots.peek(STAGING)
    assert current is not None
    assert current.revision == held.revision + 2


async def test_clients_reconnecting_ahead_of_this_process_share_one_read_of_the_store(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotswap.delivery.documents import load_document as load

    held = await container.snapshots.get(STAGING)
    async with container.engine.begin() as conn:  # a revision this process has not heard of yet
        await conn.execute(snapshot_revisions.update().values(revision=snapshot_revisions.c.revision + 1))
    reads = 0

    async def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return await load(*args, **kwargs)

    monkeypatch.setattr("hotswap.delivery.service.load_document", counted)
    caught_up = await asyncio.gather(*(container.snapshots.catch_up(STAGING, held.revision + 1) for _ in range(20)))
    assert reads == 1
    assert {c.revision for c in caught_up} == {held.revision + 1}


async def test_a_stale_announcement_never_moves_a_snapshot_back(container: Container) -> None:
    await released(container, "balance", {"hp": 1})
    held = await container.snapshots.get(STAGING)
    await container.bus.publish({"kind": "snapshot", "environment": "Staging", "revision": held.revision - 1})
    await container.bus.publish({"kind": "snapshot", "environment": "Nowhere", "revision": 99})
    await container.bus.publish({"kind": "snapshot", "environment": "Staging", "revision": "x"})
    assert container.snapshots.peek(STAGING) is held


async def test_in_process_bus_delivers_to_every_subscriber_despite_a_failing_one() -> None:
    bus = InProcessBus()
    got: list[dict[str, Any]] = []

    async def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    async def good(message: dict[str, Any]) -> None:
        got.append(message)

    bus.subscribe(broken)
    bus.subscribe(good)
    await bus.publish({"kind": "x"})
    assert got == [{"kind": "x"}]


async def test_redis_bus_reaches_another_process(settings: Settings) -> None:
    if settings.redis_url is None:
        pytest.skip("needs Redis (HOTSWAP_TEST_REDIS_URL)")
    channel = f"hotswap:test-{uuid.uuid4().hex[:12]}"  # its own: a concurrent run's buses stay out
    sender, receiver = RedisBus(settings.redis_url, channel), RedisBus(settings.redis_url, channel)
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(message: dict[str, Any]) -> None:
        await got.put(message)

    receiver.subscribe(receive)
    try:
        await receiver.start()
        await sender.publish({"kind": "snapshot", "environment": "Staging", "revision": 3})
        assert await asyncio.wait_for(got.get(), timeout=5) == {
            "kind": "snapshot",
            "environment": "Staging",
            "revision": 3,
        }
        # Its connection killed, it subscribes again and has the store read (what it missed).
        import redis.asyncio as aioredis

        admin = aioredis.Redis.from_url(settings.redis_url)
        try:
            listening = [c["id"] for c in await admin.client_list() if c.get("name") == f"hotswap-bus:{channel}"]
            assert len(listening) == 1
            assert await admin.client_kill_filter(_id=listening[0]) == 1
        finally:
            await admin.aclose()
        assert await asyncio.wait_for(got.get(), timeout=10) == RESYNC
        await sender.publish({"kind": "snapshot", "environment": "Staging", "revision": 4})
        assert (await asyncio.wait_for(got.get(), timeout=5))["revision"] == 4
    finally:
        await receiver.aclose()
        await sender.aclose()


async def test_concurrent_requests_with_an_expired_cache_entry_check_the_store_once(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotswap.auth.model import Role
    from hotswap.auth.repository import AuthRepository

    async with container.uow() as uow:
        issued = await container.auth.issue_token(uow, SYSTEM, subject="gs", role=Role.SERVER, ttl=None)
        await uow.commit()
    calls = 0
    original = AuthRepository.get_token

    async def counted(self: AuthRepository, jti: str) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)  # let the other requests arrive while this check is out
        return await original(self, jti)

    monkeypatch.setattr(AuthRepository, "get_token", counted)
    header = f"Bearer {issued.token}"
    principals = await asyncio.gather(*(container.authenticator.authenticate(header) for _ in range(20)))
    assert {p.subject for p in principals} == {"gs"}
    assert calls == 1


async def test_large_floats_survive_the_round_trip_through_the_store(container: Container) -> None:
    """jsonb hands 1e20 back as the integer 100000000000000000000; the snapshot still encodes."""
    await released(container, "balance", {"hp": 1e20, "ratio": 1.5e300, "tiny": -1e25, "n": 7})
    current = await container.snapshots.get(STAGING)
    value = current.document["configs"]["balance"]["value"]
    assert value == {"hp": 1e20, "ratio": 1.5e300, "tiny": -1e25, "n": 7}
    assert isinstance(value["n"], int)
    assert orjson.loads(current.body)["configs"]["balance"]["value"] == value


async def test_a_failed_refresh_after_a_commit_does_not_fail_the_write(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotswap.delivery import service as delivery_service

    async def unreachable(*_: Any, **__: Any) -> Any:
        raise OSError("store unreachable")

    monkeypatch.setattr(delivery_service, "load_document", unreachable)
    before = await stored_revision(container, STAGING)
    await released(container, "balance", {"hp": 1})  # commits; the refresh after it fails
    assert await stored_revision(container, STAGING) == before + 1
    assert container.snapshots.peek(STAGING) is None
    monkeypatch.undo()
    await container.snapshots.check()
    current = container.snapshots.peek(STAGING)
    assert current is not None
    assert current.config_names == ["balance"]
