"""Game servers over HTTP: registration (an upsert), reading, listing with filters and a cursor,
deregistration; problems, roles, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.core.clock import ManualClock
from tests.fleet.support import SERVER, audit_actions, heartbeat, register
from tests.helpers import Auth, CountRows, Headers, fields, problem

NOW = "2026-06-01T12:00:00Z"


async def test_register_then_read_back(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    r = await client.post("/api/v1/servers", headers=server, json=SERVER)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/servers/gs-eu-1"
    registered = r.json()
    assert registered == {
        "id": "gs-eu-1",
        "game": "battle-royale",
        "region": "EU-WEST",
        "labels": {"map": "island", "mode": "squads"},
        "build": "2.1.0+417",
        "capacity": 64,
        "registeredAt": NOW,
        "registeredBy": "gs-eu-1",
        "lastHeartbeatAt": NOW,
        "healthy": True,
        "playerCount": 0,
        "health": {},
        "environment": None,
        "appliedRevision": None,
        "configVersions": {},
    }
    assert (await client.get("/api/v1/servers/gs-eu-1", headers=op)).json() == registered
    assert await audit_actions(client, op, "server", "gs-eu-1") == ["server.register"]


async def test_labels_and_capacity_are_optional(client: httpx.AsyncClient, server: Headers) -> None:
    body = {"id": "gs-min", "game": "g", "region": "apac", "build": "1"}
    r = await client.post("/api/v1/servers", headers=server, json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["labels"], r.json()["capacity"], r.json()["region"]) == ({}, 0, "APAC")


async def test_registering_again_updates_what_it_declares_and_keeps_what_it_reported(
    client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    await register(client, server)
    beat = {"playerCount": 40, "environment": "Production", "appliedRevision": 9, "configVersions": {"b": "1.0.0"}}
    assert (await heartbeat(client, server, "gs-eu-1", **beat)).status_code == 200
    clock.advance(timedelta(minutes=5))
    again = await register(
        client, server, status=200, region="US-East", build="2.2.0", capacity=100, labels={"map": "desert"}
    )
    assert {k: again[k] for k in ("region", "build", "capacity", "labels")} == {
        "region": "NA-EAST",
        "build": "2.2.0",
        "capacity": 100,
        "labels": {"map": "desert"},
    }
    assert (again["registeredAt"], again["lastHeartbeatAt"]) == (NOW, "2026-06-01T12:05:00Z")
    assert {k: again[k] for k in beat} == beat
    # The first registration is audited; a server re-registering on every restart is not.
    assert await audit_actions(client, op, "server", "gs-eu-1") == ["server.register"]


async def test_server_ids_are_case_sensitive(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    await register(client, server, id="GS-1")
    await register(client, server, id="gs-1")
    r = await client.get("/api/v1/servers", headers=op)
    assert [s["id"] for s in r.json()["items"]] == ["GS-1", "gs-1"]
    problem(await client.get("/api/v1/servers/Gs-1", headers=op), 404)


async def test_an_unknown_region_is_422_and_writes_nothing(
    client: httpx.AsyncClient, server: Headers, count_rows: CountRows
) -> None:
    body = problem(await client.post("/api/v1/servers", headers=server, json={**SERVER, "region": "mars"}), 422)
    assert fields(body) == ["body.region"]
    assert await count_rows("game_servers") == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "gs/1"}, "body.id"),
        ({"id": "gs 1"}, "body.id"),
        ({"id": ""}, "body.id"),
        ({"id": "x" * 201}, "body.id"),
        ({"game": ""}, "body.game"),
        ({"build": "a\nb"}, "body.build"),
        ({"capacity": -1}, "body.capacity"),
        ({"capacity": "lots"}, "body.capacity"),
        ({"labels": {"bad key": "x"}}, "body.labels.bad key.[key]"),
        ({"labels": {"map": 3}}, "body.labels.map"),
        ({"labels": {f"k{i}": "v" for i in range(65)}}, "body.labels"),
        ({"region": ""}, "body.region"),
        ({"playerCount": 3}, "body.playerCount"),
    ],
)
async def test_invalid_registrations_are_422_naming_the_field_and_write_nothing(
    change: dict[str, Any], field: str, client: httpx.AsyncClient, server: Headers, count_rows: CountRows
) -> None:
    body = problem(await client.post("/api/v1/servers", headers=server, json={**SERVER, **change}), 422)
    assert field in fields(body)
    assert await count_rows("game_servers") == 0


async def test_who_may_register_read_and_deregister(client: httpx.AsyncClient, server: Headers, auth: Auth) -> None:
    viewer = await auth("viewer")
    problem(await client.post("/api/v1/servers", headers=viewer, json=SERVER), 403)
    await register(client, await auth("operator"), id="gs-op")
    await register(client, server)
    problem(await client.get("/api/v1/servers", headers=server), 403)  # game servers report; they do not read
    problem(await client.get("/api/v1/servers/gs-eu-1", headers=server), 403)
    assert (await client.get("/api/v1/servers/gs-eu-1", headers=viewer)).status_code == 200
    problem(await client.delete("/api/v1/servers/gs-eu-1", headers=viewer), 403)


async def test_deregister(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    await register(client, server)
    assert (await client.delete("/api/v1/servers/gs-eu-1", headers=server)).status_code == 204
    problem(await client.get("/api/v1/servers/gs-eu-1", headers=op), 404)
    problem(await client.delete("/api/v1/servers/gs-eu-1", headers=server), 404)
    problem(await heartbeat(client, server, "gs-eu-1"), 404)
    assert await audit_actions(client, op, "server", "gs-eu-1") == ["server.deregister", "server.register"]
    await register(client, server)  # it may come back


async def test_an_id_that_cannot_be_a_server_is_422_on_read(client: httpx.AsyncClient, op: Headers) -> None:
    assert fields(problem(await client.get("/api/v1/servers/a%20b", headers=op), 422)) == ["path.serverId"]


async def test_a_server_id_beyond_ascii_round_trips(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    r = await client.post("/api/v1/servers", headers=server, json={**SERVER, "id": "sérveur-1"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/servers/s%C3%A9rveur-1"
    assert (await client.get(r.headers["location"], headers=op)).json()["id"] == "sérveur-1"
    assert (await heartbeat(client, server, "sérveur-1", playerCount=2)).status_code == 200


# -- listing -----------------------------------------------------------------------------


async def fleet(client: httpx.AsyncClient, server: Headers) -> None:
    await register(client, server, id="na-1", region="us-west", game="battle-royale")
    await register(client, server, id="na-2", region="NA-WEST", game="kart")
    await register(client, server, id="eu-1", region="eu-west", game="battle-royale")
    await register(client, server, id="eu-2", region="eu-central", game="battle-royale")
    await register(client, server, id="ap-1", region="asia", game="kart")
    for server_id, env in (("na-1", "Production"), ("eu-1", "production"), ("ap-1", "Staging")):
        assert (await heartbeat(client, server, server_id, environment=env)).status_code == 200


async def listed(client: httpx.AsyncClient, headers: Headers, **params: Any) -> list[str]:
    r = await client.get("/api/v1/servers", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["items"]]


async def test_list_filters(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    await fleet(client, server)
    assert await listed(client, op) == ["ap-1", "eu-1", "eu-2", "na-1", "na-2"]
    assert await listed(client, op, region="US-WEST") == ["na-1", "na-2"]
    assert await listed(client, op, region="na-west") == ["na-1", "na-2"]
    assert await listed(client, op, region="eu-east") == ["eu-2"]
    assert await listed(client, op, game="kart") == ["ap-1", "na-2"]
    assert await listed(client, op, environment="production") == ["eu-1", "na-1"]
    assert await listed(client, op, environment="Production", game="battle-royale", region="eu-west") == ["eu-1"]
    assert await listed(client, op, healthy="true") == ["ap-1", "eu-1", "eu-2", "na-1", "na-2"]
    assert await listed(client, op, healthy="false") == []


async def test_list_pages_follow_the_cursor(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    await fleet(client, server)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "game": "battle-royale"}
    pages = 0
    while True:
        r = await client.get("/api/v1/servers", headers=op, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [s["id"] for s in page["items"]]
        pages += 1
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
    assert (seen, pages) == (["eu-1", "eu-2", "na-1"], 2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": "mars"}, "query.region"),
        ({"environment": "Prod"}, "query.environment"),
        ({"healthy": "maybe"}, "query.healthy"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
    ],
)
async def test_list_problems_name_the_parameter(
    params: dict[str, Any], field: str, client: httpx.AsyncClient, op: Headers
) -> None:
    assert fields(problem(await client.get("/api/v1/servers", headers=op, params=params), 422)) == [field]
