"""What the fleet service answers other slices (deployments plan over it): regions in rollout order,
lookups by any name, servers by region, ids, health and game in one call, and applied counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hotswap.auth.model import Principal, Role
from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.core.environments import Environment
from hotswap.fleet import model as m
from hotswap.fleet import repository
from hotswap.fleet.service import Registration
from hotswap.fleet.tables import game_servers
from hotswap.settings import Settings

GS = Principal("gs-fleet", Role.SERVER, "-")


async def add_servers(container: Container, rows: list[dict[str, Any]]) -> None:
    """Registered servers, written directly: many at once, as a fleet is."""
    now = container.clock.now()
    base = {
        "game": "battle-royale",
        "labels": {},
        "build": "1",
        "capacity": 0,
        "registered_at": now,
        "registered_by": "gs",
        "last_heartbeat_at": now,
        "player_count": 0,
        "health": {},
        "environment": None,
        "applied_revision": None,
        "config_versions": {},
    }
    async with container.engine.begin() as conn:
        await conn.execute(game_servers.insert(), [{**base, **row} for row in rows])


async def test_regions_come_in_rollout_order_and_resolve_by_any_name(container: Container) -> None:
    async with container.uow(read_only=True) as uow:
        regions = await container.fleet.regions(uow)
        assert [r.id for r in regions] == [r["id"] for r in m.DEFAULT_REGIONS]
        assert regions[0].aliases == ("us-west", "na-west")
        found = await container.fleet.region(uow, "Eu-Central")
        assert found is not None
        assert (found.id, found.time_zone) == ("EU-EAST", "Europe/Berlin")
        assert await container.fleet.region(uow, "mars") is None
        assert (await container.fleet.alias_map(uow))["asia"] == "APAC"


async def test_servers_filters_in_one_call(container: Container, clock: ManualClock) -> None:
    await add_servers(
        container,
        [
            {"id": "na-1", "region": "NA-WEST"},
            {"id": "na-2", "region": "NA-WEST", "game": "kart"},
            {"id": "eu-1", "region": "EU-WEST"},
            {"id": "old", "region": "EU-WEST", "last_heartbeat_at": clock.now() - timedelta(minutes=5)},
        ],
    )
    fleet = container.fleet
    async with container.uow(read_only=True) as uow:
        assert [s.id for s in await fleet.servers(uow)] == ["eu-1", "na-1", "na-2", "old"]
        assert [s.id for s in await fleet.servers(uow, region="us-west")] == ["na-1", "na-2"]
        assert [s.id for s in await fleet.servers(uow, healthy=True)] == ["eu-1", "na-1", "na-2"]
        assert [s.id for s in await fleet.servers(uow, healthy=False)] == ["old"]
        assert [s.id for s in await fleet.servers(uow, game="kart")] == ["na-2"]
        assert [s.id for s in await fleet.servers(uow, ids=["old", "na-1", "nobody", "na-1"])] == ["na-1", "old"]
        assert [s.id for s in await fleet.servers(uow, ids=["old", "eu-1"], region="EU-WEST", healthy=True)] == ["eu-1"]
        assert await fleet.servers(uow, ids=[]) == []
        assert await fleet.servers(uow, region="mars") == []
        servers = await fleet.servers(uow)
        now = uow.clock.now()
        assert [fleet.is_healthy(s, now) for s in servers] == [True, True, True, False]


async def test_servers_by_ids_beyond_one_statement_stay_in_id_order(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "ID_CHUNK", 3)
    ids = [f"gs-{i:02d}" for i in range(10)]
    await add_servers(container, [{"id": i, "region": "APAC"} for i in ids])
    wanted = [*reversed(ids[1:9]), "gs-04", "nobody"]
    async with container.uow(read_only=True) as uow:
        assert [s.id for s in await container.fleet.servers(uow, ids=wanted)] == ids[1:9]
        assert await container.fleet.applied_count(uow, wanted, Environment.PRODUCTION, 1) == 0


async def test_applied_count_counts_the_servers_at_or_past_a_revision_of_that_environment(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "ID_CHUNK", 2)
    prod, staging = Environment.PRODUCTION.value, Environment.STAGING.value
    await add_servers(
        container,
        [
            {"id": "a", "region": "APAC", "environment": prod, "applied_revision": 7},
            {"id": "b", "region": "APAC", "environment": prod, "applied_revision": 8},
            {"id": "c", "region": "APAC", "environment": prod, "applied_revision": 6},
            {"id": "d", "region": "APAC", "environment": staging, "applied_revision": 9},
            {"id": "e", "region": "APAC"},
        ],
    )
    fleet = container.fleet
    everyone = ["a", "b", "c", "d", "e", "ghost"]
    async with container.uow(read_only=True) as uow:
        assert await fleet.applied_count(uow, everyone, Environment.PRODUCTION, 7) == 2
        assert await fleet.applied_count(uow, everyone, Environment.PRODUCTION, 9) == 0
        assert await fleet.applied_count(uow, everyone, Environment.STAGING, 9) == 1
        assert await fleet.applied_count(uow, ["a", "a", "c"], Environment.PRODUCTION, 6) == 2
        assert await fleet.applied_count(uow, [], Environment.PRODUCTION, 1) == 0


async def test_a_heartbeat_counts_for_applied_count(container: Container) -> None:
    async with container.uow() as uow:
        await container.fleet.register(uow, GS, Registration(id="gs-1", game="g", region="asia", build="1"))
        await container.fleet.heartbeat(uow, "gs-1", m.Heartbeat(environment=Environment.STAGING, applied_revision=4))
        await uow.commit()
    async with container.uow(read_only=True) as uow:
        assert await container.fleet.applied_count(uow, ["gs-1"], Environment.STAGING, 4) == 1
        assert await container.fleet.applied_count(uow, ["gs-1"], Environment.STAGING, 5) == 0


async def test_the_heartbeat_timeout_is_a_setting(
    container: Container, settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTSWAP_SERVER_HEARTBEAT_TIMEOUT_SECONDS", "12.5")
    assert Settings().server_heartbeat_timeout_seconds == 12.5
    monkeypatch.setenv("HOTSWAP_SERVER_HEARTBEAT_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="server_heartbeat_timeout_seconds"):
        Settings()
    assert Settings.model_fields["server_heartbeat_timeout_seconds"].default == 30
    assert container.fleet.heartbeat_timeout == timedelta(seconds=30)  # the tests' settings: the default
    short = build_container(settings.model_copy(update={"server_heartbeat_timeout_seconds": 10}), clock=clock)
    try:
        assert short.fleet.heartbeat_timeout == timedelta(seconds=10)
        async with short.uow() as uow:
            registered = await short.fleet.register(
                uow, GS, Registration(id="gs-short", game="g", region="apac", build="1")
            )
        now = clock.now()
        assert short.fleet.is_healthy(registered.server, now + timedelta(seconds=10))
        assert not short.fleet.is_healthy(registered.server, now + timedelta(seconds=11))
    finally:
        await short.aclose()


async def test_the_snapshot_part_is_the_alias_map(container: Container) -> None:
    async with container.engine.connect() as conn:
        part = await container.fleet.snapshot_regions(conn, Environment.PRODUCTION)
    assert [part[name] for name in ("us-west", "na-west", "eu-central", "asia")] == [
        "NA-WEST",
        "NA-WEST",
        "EU-EAST",
        "APAC",
    ]
    assert len(part) == 10  # five ids and their aliases (NA-WEST's alias na-west is its id)
