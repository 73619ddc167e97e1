"""Segment writes at once: exactly one wins where only one may, never a 5xx (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx

from hotswap.segments.model import BUILTIN_SEGMENTS
from tests.helpers import Auth, CountRows, Headers, codes

BODY = {"id": "whales", "name": "Whales", "condition": {"totalSpend": {"$gte": 500}}}


async def audit_actions(client: httpx.AsyncClient, headers: Headers, target_id: str) -> list[str]:
    r = await client.get("/api/v1/audit", headers=headers, params={"targetId": target_id, "targetType": "segment"})
    return [a["action"] for a in r.json()["items"]]


async def test_same_segment_created_twice_at_once(
    client: httpx.AsyncClient, op: Headers, auth: Auth, count_rows: CountRows
) -> None:
    ada = await auth("admin", "ada")
    responses = await asyncio.gather(
        client.post("/api/v1/segments", headers=op, json=BODY),
        client.post("/api/v1/segments", headers=ada, json={**BODY, "name": "Other whales"}),
    )
    assert codes(list(responses)) == [201, 409]
    won = next(r for r in responses if r.status_code == 201)
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS) + 1
    stored = (await client.get("/api/v1/segments/whales", headers=op)).json()
    assert stored["name"] == won.json()["name"]
    assert await audit_actions(client, op, "whales") == ["segment.create"]


async def test_many_creates_of_one_id_at_once(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    responses = await asyncio.gather(*[client.post("/api/v1/segments", headers=op, json=BODY) for _ in range(6)])
    assert codes(list(responses)) == [201] + [409] * 5
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS) + 1


async def test_two_puts_with_the_same_etag_at_once(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    assert (await client.post("/api/v1/segments", headers=op, json=BODY)).status_code == 201
    ada = await auth("admin", "ada")
    responses = await asyncio.gather(
        client.put(
            "/api/v1/segments/whales", headers=op | {"If-Match": '"1"'}, json={"name": "A", "condition": {"a": 1}}
        ),
        client.put(
            "/api/v1/segments/whales", headers=ada | {"If-Match": '"1"'}, json={"name": "B", "condition": {"b": 1}}
        ),
    )
    assert codes(list(responses)) == [200, 412]
    won = next(r for r in responses if r.status_code == 200).json()
    stored = (await client.get("/api/v1/segments/whales", headers=op)).json()
    assert (stored["name"], stored["condition"], stored["revision"]) == (won["name"], won["condition"], 2)
    assert await audit_actions(client, op, "whales") == ["segment.update", "segment.create"]


async def test_puts_without_an_etag_apply_in_turn(client: httpx.AsyncClient, op: Headers) -> None:
    assert (await client.post("/api/v1/segments", headers=op, json=BODY)).status_code == 201
    responses = await asyncio.gather(
        *[
            client.put("/api/v1/segments/whales", headers=op, json={"name": f"v{i}", "condition": {"v": i}})
            for i in range(5)
        ]
    )
    assert codes(list(responses)) == [200] * 5
    assert (await client.get("/api/v1/segments/whales", headers=op)).json()["revision"] == 6


async def test_two_deletes_at_once(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    assert (await client.post("/api/v1/segments", headers=op, json=BODY)).status_code == 201
    responses = await asyncio.gather(
        client.delete("/api/v1/segments/whales", headers=op), client.delete("/api/v1/segments/whales", headers=op)
    )
    assert codes(list(responses)) == [204, 404]
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS)
    assert await audit_actions(client, op, "whales") == ["segment.delete", "segment.create"]


async def test_put_and_delete_at_once(client: httpx.AsyncClient, op: Headers) -> None:
    assert (await client.post("/api/v1/segments", headers=op, json=BODY)).status_code == 201
    put, delete = await asyncio.gather(
        client.put("/api/v1/segments/whales", headers=op, json={"name": "A", "condition": {}}),
        client.delete("/api/v1/segments/whales", headers=op),
    )
    assert delete.status_code == 204, delete.text
    assert put.status_code in (200, 404), put.text
    assert (await client.get("/api/v1/segments/whales", headers=op)).status_code == 404
