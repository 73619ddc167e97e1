"""The player events query over HTTP: the live events a player is served, on the hot path.

The store's events part is the events slice's; here a fake part loader stands in for it, so
these tests hold only the serving side: windows, segments, regions and variants as the compiled
snapshot decides them, on the stored profile plus the query."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.core.environments import Environment
from tests.conftest import START
from tests.delivery.test_api import evaluate, release
from tests.helpers import Auth, Headers, fields, problem

Events = list[dict[str, Any]]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def live_event(event_id: str, **fields: Any) -> dict[str, Any]:
    """An event as the snapshot document holds it, open from a day before the test clock's start
    for a week, everywhere."""
    base: dict[str, Any] = {
        "id": event_id,
        "version": 1,
        "displayName": event_id.title(),
        "description": None,
        "type": "Seasonal",
        "class": "standard",
        "configuration": {"multiplier": 2},
        "objectives": [],
        "milestones": [],
        "theme": None,
        "segment": None,
        "windows": [{"region": None, "start": iso(START - timedelta(days=1)), "end": iso(START + timedelta(days=6))}],
        "exposure": None,
        "variants": [],
        "seed": event_id,
    }
    return base | fields


@pytest.fixture
def served(container: Container) -> Events:
    """The Staging events part the snapshot loads (a stand-in for the events slice's loader)."""
    events: Events = []

    async def load(_conn: AsyncConnection, env: Environment) -> Events:
        return sorted(events, key=lambda e: str(e["id"])) if env is Environment.STAGING else []

    container.snapshots.add_part("events", load)
    return events


async def publish(container: Container) -> None:
    """A change to Staging's events committed, as the events slice's writes mark it."""
    async with container.uow() as uow:
        await container.snapshot_changes.mark_changed(uow, [Environment.STAGING])
        await uow.commit()


async def player_events(client: httpx.AsyncClient, headers: Headers, player: str, **params: str) -> httpx.Response:
    return await client.get(
        f"/api/v1/players/{player}/events", params={"environment": "Staging", **params}, headers=headers
    )


def event_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["events"]]


async def test_a_player_gets_the_events_open_for_them(
    client: httpx.AsyncClient, server: Headers, container: Container, served: Events
) -> None:
    later = {"region": None, "start": iso(START + timedelta(days=2)), "end": iso(START + timedelta(days=3))}
    eu_only = {"region": "EU-WEST", "start": iso(START), "end": iso(START + timedelta(days=1))}
    served += [
        live_event("summer"),
        live_event("vip-sale", segment="vip"),
        live_event("eu-fest", windows=[eu_only]),
        live_event("later", windows=[later]),
    ]
    await publish(container)
    assert (await client.put("/api/v1/players/whale", headers=server, json={"attributes": {}})).status_code == 201
    assert (await client.patch("/api/v1/players/whale", headers=server, json={"purchase": 150})).status_code == 200
    r = await player_events(client, server, "whale", region="eu-west")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-player-known"] == "true"
    body = r.json()
    assert body["environment"] == "Staging"
    assert body["playerId"] == "whale"
    assert body["revision"] == int(r.headers["x-snapshot-revision"])
    assert r.content.startswith(b'{"environment":"Staging","events":[')  # sorted keys, as every hot route
    assert event_ids(r) == ["eu-fest", "summer", "vip-sale"]
    assert body["events"][1] | {"configuration": None} == {
        "id": "summer",
        "version": 1,
        "displayName": "Summer",
        "description": None,
        "type": "Seasonal",
        "class": "standard",
        "configuration": None,
        "objectives": [],
        "milestones": [],
        "theme": None,
        "variant": None,
        "startsAt": iso(START - timedelta(days=1)),
        "endsAt": iso(START + timedelta(days=6)),
    }
    assert event_ids(await player_events(client, server, "whale", region="NA-WEST")) == ["summer", "vip-sale"]
    assert event_ids(await player_events(client, server, "whale", at=iso(START + timedelta(days=2)))) == [
        "later",
        "summer",
        "vip-sale",
    ]


async def test_an_unknown_player_is_served_on_the_query_alone(
    client: httpx.AsyncClient, server: Headers, container: Container, served: Events
) -> None:
    served += [live_event("summer"), live_event("vip-sale", segment="vip")]
    await publish(container)
    r = await player_events(client, server, "newcomer", **{"attr.totalSpend": "500"})
    assert r.headers["x-player-known"] == "false"
    assert event_ids(r) == ["summer", "vip-sale"]
    assert event_ids(await player_events(client, server, "newcomer")) == ["summer"]


async def test_the_events_equal_what_evaluate_and_the_configs_query_serve(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, served: Events
) -> None:
    await release(client, op, "balance", {"hp": 100})
    variants = [{"name": "A", "weight": 50, "configuration": {"multiplier": 3}}, {"name": "B", "weight": 50}]
    served += [
        live_event("ab", variants=variants),
        live_event("half", exposure=[{"percentage": 50}]),
        live_event("vip-sale", segment="vip"),
    ]
    await publish(container)
    seen: set[tuple[str, ...]] = set()
    for i in range(30):
        player, spend = f"p{i}", 200 if i % 3 == 0 else 0
        events = (await player_events(client, server, player, **{"attr.totalSpend": str(spend)})).json()["events"]
        context = {"playerId": player, "attributes": {"totalSpend": spend}}
        assert (await evaluate(client, server, context))["events"] == events
        configs = await client.get(
            f"/api/v1/players/{player}/configs",
            params={"environment": "Staging", "attr.totalSpend": str(spend)},
            headers=server,
        )
        assert configs.json()["events"] == events
        assert configs.json()["configs"]["balance"]["value"] == {"hp": 100}
        seen.add(tuple(f"{e['id']}:{e['variant']}" for e in events))
    assert len(seen) > 4  # players differ in exposure, variant and segment


async def test_a_new_event_version_is_served_at_the_next_revision(
    client: httpx.AsyncClient, server: Headers, container: Container, served: Events
) -> None:
    served.append(live_event("summer"))
    await publish(container)
    before = await player_events(client, server, "p1")
    assert before.json()["events"][0]["configuration"] == {"multiplier": 2}
    served[0] = live_event("summer", version=2, configuration={"multiplier": 3})
    await publish(container)
    after = await player_events(client, server, "p1")
    assert after.json()["revision"] == before.json()["revision"] + 1
    assert after.json()["events"][0] | {"startsAt": None} == before.json()["events"][0] | {
        "version": 2,
        "configuration": {"multiplier": 3},
        "startsAt": None,
    }


async def test_the_clock_opens_and_closes_windows(
    client: httpx.AsyncClient, server: Headers, container: Container, served: Events, clock: ManualClock
) -> None:
    window = {"region": None, "start": iso(START + timedelta(hours=1)), "end": iso(START + timedelta(hours=2))}
    served.append(live_event("flash", windows=[window]))
    await publish(container)
    assert event_ids(await player_events(client, server, "p1")) == []
    clock.advance(timedelta(hours=1))
    assert event_ids(await player_events(client, server, "p1")) == ["flash"]
    clock.advance(timedelta(hours=1))
    assert event_ids(await player_events(client, server, "p1")) == []


async def test_every_reading_role_may_ask_and_a_token_is_needed(
    client: httpx.AsyncClient, server: Headers, auth: Auth, served: Events
) -> None:
    for headers in (server, await auth("viewer"), await auth("operator")):
        assert (await player_events(client, headers, "p1")).status_code == 200
    problem(await client.get("/api/v1/players/p1/events"), 401)
    problem(await client.get("/api/v1/players/p1/events", headers={"Authorization": "Bearer nope"}), 401)


async def test_the_player_events_query_refuses_bad_input(client: httpx.AsyncClient, server: Headers) -> None:
    assert fields(problem(await player_events(client, server, "p1", at="nope"), 422)) == ["query.at"]
    assert fields(problem(await player_events(client, server, "p1", at="2026-06-01T00:00:00"), 422)) == ["query.at"]
    assert fields(problem(await player_events(client, server, "p1", region=""), 422)) == ["query.region"]
    assert fields(problem(await player_events(client, server, "p1", environment="Moon"), 422)) == ["query.environment"]
    assert fields(problem(await player_events(client, server, "x" * 201), 422)) == ["path.playerId"]
    assert fields(problem(await player_events(client, server, "p%00"), 422)) == ["path.playerId"]


async def test_a_snapshot_without_events_serves_an_empty_list(client: httpx.AsyncClient, server: Headers) -> None:
    r = await player_events(client, server, "p1", environment="Production")
    assert r.json() == {"environment": "Production", "events": [], "playerId": "p1", "revision": 1}
