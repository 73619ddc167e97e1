"""`POST /api/v1/admin/cache/warm` over HTTP against the real app: every snapshot rebuilt from the
store, the profiles of the players seen recently put in the player query's cache, here and (by
the change bus) in every other process; admins only, audited, counted, bad input named.

Whether the player query answers from the cache is seen through `x-player-known`: a profile
deleted in the store behind the service's back (no invalidation) is still known to the query
exactly when it was cached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.delivery.bus import PostgresBus
from hotswap.players.tables import players
from tests.helpers import Auth, Headers, fields, problem, wait_until

WARM = "/api/v1/admin/cache/warm"


@pytest.fixture
async def admin(auth: Auth) -> Headers:
    return await auth("admin", "ada", ttl=timedelta(days=30))


@pytest.fixture(autouse=True)
def _later(clock: ManualClock, admin: Headers, server: Headers) -> None:
    """Ten days after the tokens were issued: players can have played in the days before now."""
    clock.advance(timedelta(days=10))


async def seen(client: httpx.AsyncClient, server: Headers, clock: ManualClock, player_id: str, ago: timedelta) -> None:
    """The player played `ago` before the clock's now."""
    now = clock.now()
    clock.set(now - ago)
    r = await client.patch(f"/api/v1/players/{player_id}", headers=server, json={"session": True})
    assert r.status_code in (200, 201), r.text
    clock.set(now)


async def erased_behind_the_back(container: Container, *player_ids: str) -> None:
    async with container.engine.begin() as conn:
        await conn.execute(players.delete().where(players.c.id.in_(player_ids)))


async def known(client: httpx.AsyncClient, server: Headers, player_id: str) -> bool:
    r = await client.get(f"/api/v1/players/{player_id}/configs", params={"environment": "Staging"}, headers=server)
    assert r.status_code == 200, r.text
    return r.headers["x-player-known"] == "true"


def compiles(container: Container) -> dict[str, float]:
    """How many snapshot builds each environment has had in this process."""
    return {
        s.labels["environment"]: s.value
        for metric in container.metrics.snapshot_compile.collect()
        for s in metric.samples
        if s.name.endswith("_count")
    }


def warms(container: Container, origin: str) -> float:
    value: float = container.metrics.cache_warms.labels(origin)._value.get()
    return value


async def test_a_warm_up_rebuilds_every_snapshot_and_caches_the_players_seen_recently(
    client: httpx.AsyncClient, admin: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    await container.bus.start()  # this process listens on the bus, as a serving one does
    await seen(client, server, clock, "recent", timedelta(hours=1))
    await seen(client, server, clock, "yesterday", timedelta(hours=23))
    await seen(client, server, clock, "last-week", timedelta(days=7))
    for env in ("Development", "Staging", "Production"):
        await client.get("/api/v1/snapshot", params={"environment": env}, headers=server)
    before = compiles(container)
    r = await client.post(WARM, headers=admin)  # as the runbook sends it: no body
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    environments = body["snapshot"]["environments"]
    assert [e["environment"] for e in environments] == ["Development", "Staging", "Production"]
    for entry in environments:
        revision = await client.get("/api/v1/snapshot", params={"environment": entry["environment"]}, headers=server)
        assert entry["revision"] == int(revision.headers["x-snapshot-revision"])
        assert entry["compiledInMs"] >= 0
    # Rebuilt although the store's revisions had not moved.
    assert compiles(container) == {env: count + 1 for env, count in before.items()}
    profiles = body["playerProfiles"]
    assert (profiles["warmed"], profiles["window"], profiles["windowSeconds"]) == (2, "P1D", 86400)
    assert profiles["since"] == (clock.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert profiles["limit"] == container.players.cache_capacity
    assert body["replicasNotified"] == (None if isinstance(container.bus, PostgresBus) else 1)
    await erased_behind_the_back(container, "recent", "yesterday", "last-week")
    assert [await known(client, server, p) for p in ("recent", "yesterday", "last-week")] == [True, True, False]
    audit = (await client.get("/api/v1/audit", params={"action": "cache.warm"}, headers=admin)).json()["items"]
    assert [(a["actor"], a["targetType"]) for a in audit] == [("ada", "cache")]
    assert "refilled 2 player profiles" in audit[0]["summary"]
    assert warms(container, "request") == 1
    assert warms(container, "bus") == 0  # its own message is not warmed twice


async def test_window_and_limit_choose_the_most_recent_players(
    client: httpx.AsyncClient, admin: Headers, server: Headers, container: Container, clock: ManualClock
) -> None:
    for hours, player_id in ((1, "a"), (2, "b"), (3, "c"), (30, "d")):
        await seen(client, server, clock, player_id, timedelta(hours=hours))
    r = await client.post(WARM, headers=admin, json={"window": "PT48H", "limit": 2})
    assert r.status_code == 200, r.text
    assert r.json()["playerProfiles"]["warmed"] == 2
    await erased_behind_the_back(container, "a", "b", "c", "d")
    assert [await known(client, server, p) for p in "abcd"] == [True, True, False, False]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"window": "PT0S"}, "body.window"),
        ({"window": "-PT1H"}, "body.window"),
        ({"window": "P31D"}, "body.window"),
        ({"window": "soon"}, "body.window"),
        ({"limit": 0}, "body.limit"),
        ({"limit": 10**9}, "body.limit"),
        ({"limit": "many"}, "body.limit"),
        ({"players": True}, "body.players"),
    ],
)
async def test_bad_input_is_named_and_warms_nothing(
    client: httpx.AsyncClient, admin: Headers, container: Container, body: dict[str, Any], field: str
) -> None:
    found = problem(await client.post(WARM, headers=admin, json=body), 422)
    assert fields(found) == [field]
    assert warms(container, "request") == 0
    audit = (await client.get("/api/v1/audit", params={"action": "cache.warm"}, headers=admin)).json()["items"]
    assert audit == []


@pytest.mark.parametrize("role", ["operator", "approver", "viewer", "server"])
async def test_only_an_admin_may_warm(client: httpx.AsyncClient, auth: Auth, container: Container, role: str) -> None:
    problem(await client.post(WARM, headers=await auth(role)), 403)
    assert warms(container, "request") == 0


async def test_another_replicas_request_warms_this_process_too(
    client: httpx.AsyncClient, server: Headers, container: Container, clock: ManualClock
) -> None:
    await container.bus.start()
    await seen(client, server, clock, "recent", timedelta(hours=1))
    for env in ("Development", "Staging", "Production"):
        await client.get("/api/v1/snapshot", params={"environment": env}, headers=server)
    before = compiles(container)
    # Malformed or out-of-range requests are ignored; so is this process's own.
    for message in (
        {"kind": "warm", "origin": "proc_other", "windowSeconds": "nan", "limit": 10},
        {"kind": "warm", "origin": "proc_other", "windowSeconds": 3600},
        {"kind": "warm", "origin": "proc_other", "windowSeconds": -1, "limit": 10},
        {"kind": "warm", "origin": container.warmer.origin, "windowSeconds": 3600, "limit": 10},
    ):
        await container.bus.publish(message)
    await container.bus.publish({"kind": "warm", "origin": "proc_other", "windowSeconds": 7200, "limit": 10})
    await wait_until(lambda: warms(container, "bus") == 1, "the warm-up asked on the bus")
    assert compiles(container) == {env: count + 1 for env, count in before.items()}
    assert warms(container, "bus") == 1
    await erased_behind_the_back(container, "recent")
    assert await known(client, server, "recent")


async def test_the_route_is_in_the_api_description(app: Any) -> None:
    operation = app.openapi()["paths"][WARM]["post"]
    assert "operations" in operation["tags"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/WarmRead")
