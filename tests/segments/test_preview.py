"""Segment previews: over given contexts, and over stored players at an instant; drafts too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.players.service import Activity
from hotswap.players.tables import players
from tests.helpers import Auth, CountRows, Headers, fields, problem

VIP = "/api/v1/segments/vip/preview"
DRAFT = "/api/v1/segments/preview"


async def preview(client: httpx.AsyncClient, headers: Headers, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(url, headers=headers, json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def record(container: Container, player_id: str, activity: Activity) -> None:
    async with container.uow() as uow:
        await container.players.record(uow, player_id, activity)
        await uow.commit()


async def bulk_players(container: Container, count: int, **values: Any) -> None:
    now = container.clock.now()
    rows = [
        {
            "id": f"p{i:05d}",
            "attributes": {"n": i},
            "first_seen": now,
            "last_seen": now,
            "sessions": 0,
            "total_spend": 0,
            "created_at": now,
            "updated_at": now,
            "revision": 1,
            **values,
        }
        for i in range(count)
    ]
    async with container.engine.begin() as conn:
        await conn.execute(players.insert(), rows)


# -- contexts ----------------------------------------------------------------------------


async def test_contexts_are_evaluated_as_given(client: httpx.AsyncClient, auth: Auth) -> None:
    viewer = await auth("viewer")  # a preview only reads
    contexts = [{"totalSpend": 150}, {"totalSpend": 99.5}, {}, {"totalSpend": "100"}]
    result = await preview(client, viewer, VIP, {"contexts": contexts})
    assert result == {
        "segment": "vip",
        "total": 4,
        "matched": 2,
        "results": [
            {"index": 0, "matches": True},
            {"index": 1, "matches": False},
            {"index": 2, "matches": False},
            {"index": 3, "matches": True},  # GrowthBook compares "100" >= 100 as JavaScript does
        ],
    }


async def test_preview_follows_an_edited_segment(client: httpx.AsyncClient, op: Headers) -> None:
    body = {"name": "VIP", "condition": {"totalSpend": {"$gte": 500}}}
    assert (await client.put("/api/v1/segments/vip", headers=op, json=body)).status_code == 200
    result = await preview(client, op, VIP, {"contexts": [{"totalSpend": 150}, {"totalSpend": 600}]})
    assert [r["matches"] for r in result["results"]] == [False, True]


async def test_draft_condition_preview_saves_nothing(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    before = await count_rows("segments")
    body = {"condition": {"country": {"$in": ["DE", "AT"]}}, "contexts": [{"country": "AT"}, {"country": "US"}]}
    result = await preview(client, op, DRAFT, body)
    assert result["segment"] is None
    assert (result["total"], result["matched"]) == (2, 1)
    assert await count_rows("segments") == before


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (VIP, {}, "body"),
        (VIP, {"contexts": [{}], "players": {"limit": 5}}, "body"),
        (VIP, {"contexts": [{}], "at": "2026-06-01T00:00:00Z"}, "body"),
        (VIP, {"contexts": [{}] * 1001}, "body.contexts"),
        (VIP, {"contexts": [{}, "not an object"]}, "body.contexts.1"),
        (VIP, {"contexts": {"a": 1}}, "body.contexts"),
        (VIP, {"players": {"limit": 0}}, "body.players.limit"),
        (VIP, {"players": {"limit": 10001}}, "body.players.limit"),
        (VIP, {"players": {"limit": 5, "where": 1}}, "body.players.where"),
        (VIP, {"players": {}, "at": "2026-06-01T00:00:00"}, "body.at"),  # no time zone
        (VIP, {"players": {}, "at": "yesterday"}, "body.at"),
        (DRAFT, {"contexts": [{}]}, "body.condition"),
        (DRAFT, {"condition": {"$or": 1}, "contexts": [{}]}, "body.condition.$or"),
        (DRAFT, {"condition": {"x": {"$regex": "(?<=a)b"}}, "contexts": [{}]}, "body.condition.x.$regex"),
    ],
)
async def test_invalid_previews_are_422_naming_the_field(
    client: httpx.AsyncClient, op: Headers, url: str, body: dict[str, Any], field: str
) -> None:
    p = problem(await client.post(url, headers=op, json=body), 422)
    assert field in fields(p), p


# Each backtracks catastrophically on Python's `re` against a near-miss; previews match on RE2.
BACKTRACKING = ["^a*a*a*a*a*a*a*a*a*a*a*a*$", "^(a|a)*$", "^(a|aa)+$", "^(a{1,30}){1,30}$", "^(a+)+$"]


@pytest.mark.parametrize("pattern", BACKTRACKING)
async def test_a_pattern_that_would_backtrack_previews_a_near_miss(
    client: httpx.AsyncClient, op: Headers, container: Container, pattern: str
) -> None:
    condition = {"nick": {"$regex": pattern}}
    contexts = [{"nick": "a" * 30 + "b"}, {"nick": "a" * 20_000 + "b"}, {"nick": "a" * 30}]
    result = await preview(client, op, DRAFT, {"condition": condition, "contexts": contexts})
    assert [r["matches"] for r in result["results"]] == [False, False, True]
    await bulk_players(container, 50, attributes={"nick": "a" * 30 + "b"})
    result = await preview(client, op, DRAFT, {"condition": condition, "players": {}})
    assert (result["total"], result["matched"]) == (50, 0)


async def test_deep_contexts_are_refused(client: httpx.AsyncClient, op: Headers) -> None:
    deep: Any = 1
    for _ in range(40):
        deep = {"x": deep}
    p = problem(await client.post(VIP, headers=op, json={"contexts": [{}, deep]}), 422)
    assert fields(p) == ["body.contexts.1"]


async def test_huge_integers_in_contexts_are_refused(client: httpx.AsyncClient, op: Headers) -> None:
    # JavaScript would see a float; Python cannot make one of an integer past 1e308.
    body = {"condition": {"level": 5}, "contexts": [{"level": 5}, {"level": [10**400]}]}
    p = problem(await client.post(DRAFT, headers=op, json=body), 422)
    assert fields(p) == ["body.contexts.1.level.0"]


async def test_preview_needs_read_access(client: httpx.AsyncClient, auth: Auth) -> None:
    problem(await client.post(VIP, json={"contexts": [{}]}), 401)
    problem(await client.post(VIP, headers=await auth("server"), json={"contexts": [{}]}), 403)


# -- stored players ----------------------------------------------------------------------


async def test_stored_players_with_their_properties(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await record(container, "p-whale", Activity(purchase=250, attributes={"country": "DE"}))
    await record(container, "p-minnow", Activity(purchase=5, session=True))
    clock.advance(timedelta(days=3))
    await record(container, "p-late", Activity(purchase=100))
    await record(container, "p-none", Activity())

    vip = await preview(client, op, VIP, {"players": {}})
    assert vip == {
        "segment": "vip",
        "at": "2026-06-04T12:00:00Z",
        "total": 4,
        "matched": 2,
        "playerIds": ["p-late", "p-whale"],
    }

    new = await preview(client, op, "/api/v1/segments/new-players/preview", {"players": {"limit": 10}})
    assert new["playerIds"] == ["p-late", "p-minnow", "p-none", "p-whale"]
    # Four more days: the first two are no longer new; at a chosen instant, nothing else moves.
    later = {"players": {"limit": 10}, "at": "2026-06-08T12:00:00+00:00"}
    new = await preview(client, op, "/api/v1/segments/new-players/preview", later)
    assert (new["matched"], new["playerIds"], new["at"]) == (2, ["p-late", "p-none"], "2026-06-08T12:00:00Z")

    inactive = {"players": {}, "at": "2026-06-15T12:00:00Z"}
    result = await preview(client, op, "/api/v1/segments/inactive-players/preview", inactive)
    assert result["playerIds"] == ["p-minnow", "p-whale"]

    draft = {"condition": {"country": "DE", "playerId": {"$regex": "^p-"}}, "players": {"limit": 2}}
    result = await preview(client, op, DRAFT, draft)
    assert (result["total"], result["matched"], result["playerIds"]) == (2, 0, [])  # p-late, p-minnow only
    result = await preview(client, op, DRAFT, {**draft, "players": {}})
    assert result["playerIds"] == ["p-whale"]


async def test_players_are_scanned_in_id_order_up_to_the_limit(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    await bulk_players(container, 1200, total_spend=100)
    result = await preview(client, op, VIP, {"players": {"limit": 1100}})  # crosses scan batches
    assert (result["total"], result["matched"]) == (1100, 1100)
    assert result["playerIds"] == [f"p{i:05d}" for i in range(100)]  # the first 100 only
    result = await preview(client, op, VIP, {"players": {}})
    assert result["total"] == 1000  # the default limit
    draft = {"condition": {"n": {"$gte": 1150}}, "players": {"limit": 10000}}
    result = await preview(client, op, DRAFT, draft)
    assert (result["total"], result["matched"]) == (1200, 50)
    assert result["playerIds"][0] == "p01150"


async def test_no_players_stored(client: httpx.AsyncClient, op: Headers) -> None:
    result = await preview(client, op, VIP, {"players": {"limit": 5}})
    assert (result["total"], result["matched"], result["playerIds"]) == (0, 0, [])


async def test_previewing_stored_players_needs_player_read(client: httpx.AsyncClient, auth: Auth) -> None:
    viewer = await auth("viewer")
    approver = await auth("approver")
    for headers in (viewer, approver):
        p = problem(await client.post(VIP, headers=headers, json={"players": {}}), 403)
        assert "player:read" in p["detail"]
        body: dict[str, Any] = {"condition": {}, "players": {}}
        problem(await client.post(DRAFT, headers=headers, json=body), 403)
        assert (await client.post(VIP, headers=headers, json={"contexts": [{}]})).status_code == 200
    # The role check comes first: no hint whether the segment exists.
    problem(await client.post("/api/v1/segments/nope/preview", headers=viewer, json={"players": {}}), 403)
    assert (await client.post(VIP, headers=await auth("admin"), json={"players": {}})).status_code == 200
