"""Fleet writes at once: exactly one wins where only one may, never a 5xx (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx

from hotswap.fleet.model import DEFAULT_REGIONS
from tests.fleet.support import REGION, SERVER, audit_actions, heartbeat
from tests.helpers import Auth, CountRows, Headers, codes, problem


async def test_the_same_region_created_twice_at_once(
    client: httpx.AsyncClient, op: Headers, auth: Auth, count_rows: CountRows
) -> None:
    ada = await auth("admin", "ada")
    responses = await asyncio.gather(
        client.post("/api/v1/regions", headers=op, json=REGION),
        client.post("/api/v1/regions", headers=ada, json={**REGION, "id": "sa-east", "displayName": "Other"}),
    )
    assert codes(list(responses)) == [201, 409]
    won = next(r for r in responses if r.status_code == 201).json()
    assert problem(next(r for r in responses if r.status_code == 409), 409)["region"] == "SA-EAST"
    assert await count_rows("regions") == len(DEFAULT_REGIONS) + 1
    assert (await client.get("/api/v1/regions/sa-east", headers=op)).json() == won
    assert await audit_actions(client, op, "region", "SA-EAST") == ["region.create"]


async def test_many_creates_of_one_region_at_once(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    responses = await asyncio.gather(*[client.post("/api/v1/regions", headers=op, json=REGION) for _ in range(6)])
    assert codes(list(responses)) == [201] + [409] * 5
    assert await count_rows("regions") == len(DEFAULT_REGIONS) + 1


async def test_two_regions_claiming_one_alias_at_once(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    """No unique index covers aliases (a JSON list): the region writes are serialized instead."""
    responses = await asyncio.gather(
        client.post("/api/v1/regions", headers=op, json={**REGION, "id": "MARS-1", "aliases": ["red"]}),
        client.post("/api/v1/regions", headers=op, json={**REGION, "id": "MARS-2", "aliases": ["RED"]}),
        client.put(
            "/api/v1/regions/APAC",
            headers=op,
            json={"displayName": "APAC", "timeZone": "Asia/Singapore", "rolloutOrder": 5, "aliases": ["red"]},
        ),
    )
    assert codes(list(responses))[1:] == [409, 409]  # one of the three wins (200 or 201)
    won = next(r.json() for r in responses if r.status_code < 300)
    regions = (await client.get("/api/v1/regions", headers=op)).json()["items"]
    assert [r["id"] for r in regions if "red" in r["aliases"]] == [won["id"]]
    assert await count_rows("regions") == len(DEFAULT_REGIONS) + (won["id"] != "APAC")


async def test_the_same_server_registered_twice_at_once(
    client: httpx.AsyncClient, server: Headers, op: Headers, count_rows: CountRows
) -> None:
    responses = await asyncio.gather(
        client.post("/api/v1/servers", headers=server, json=SERVER),
        client.post("/api/v1/servers", headers=server, json={**SERVER, "build": "other"}),
    )
    assert codes(list(responses)) == [200, 201]
    assert await count_rows("game_servers") == 1
    assert await audit_actions(client, op, "server", "gs-eu-1") == ["server.register"]


async def test_heartbeats_at_once_all_land(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    assert (await client.post("/api/v1/servers", headers=server, json=SERVER)).status_code == 201
    responses = await asyncio.gather(*[heartbeat(client, server, "gs-eu-1", playerCount=n) for n in range(8)])
    assert codes(list(responses)) == [200] * 8
    stored = (await client.get("/api/v1/servers/gs-eu-1", headers=op)).json()
    assert stored["playerCount"] in range(8)


async def test_deleting_a_region_while_a_server_registers_in_it(
    client: httpx.AsyncClient, op: Headers, server: Headers, count_rows: CountRows
) -> None:
    """Either the server lands first (the delete is refused) or the region goes first (the
    registration is refused): never a server in a region that does not exist."""
    assert (await client.post("/api/v1/regions", headers=op, json=REGION)).status_code == 201
    delete, registered = await asyncio.gather(
        client.delete("/api/v1/regions/sa-east", headers=op),
        client.post("/api/v1/servers", headers=server, json={**SERVER, "region": "brazil"}),
    )
    assert delete.status_code in (204, 409), delete.text
    assert registered.status_code in (201, 409, 422), registered.text
    assert (delete.status_code == 204) == (registered.status_code != 201)
    region_left = (await client.get("/api/v1/regions/SA-EAST", headers=op)).status_code == 200
    assert region_left == (await count_rows("game_servers") == 1)
