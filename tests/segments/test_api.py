"""Segments over HTTP: create, read, list, replace, delete, previews; roles, problems, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotswap.configs.tables import config_profiles
from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.segments.model import BUILTIN_SEGMENTS
from hotswap.storage.revisions import snapshot_revisions
from tests.helpers import Auth, CountRows, Headers, fields, problem

BUILTIN_IDS = sorted(s["id"] for s in BUILTIN_SEGMENTS)
WHALES = {
    "id": "eu-whales",
    "name": "EU whales",
    "description": "Big spenders in the EU",
    "condition": {"country": {"$in": ["DE", "FR"]}, "totalSpend": {"$gte": 500}},
}


async def create(client: httpx.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/segments", headers=headers, json={**WHALES, **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def revisions(container: Container) -> dict[str, int]:
    async with container.engine.connect() as conn:
        rows = (await conn.execute(sa.select(snapshot_revisions))).all()
    return {r.environment: r.revision for r in rows}


async def audit_actions(client: httpx.AsyncClient, headers: Headers, target_id: str) -> list[str]:
    r = await client.get("/api/v1/audit", headers=headers, params={"targetId": target_id, "targetType": "segment"})
    assert r.status_code == 200, r.text
    return [item["action"] for item in r.json()["items"]]


async def set_targeting(container: Container, name: str, rules: list[dict[str, Any]] | None) -> None:
    """Store targeting rules the way the configs slice does (its own API is tested there)."""
    async with container.engine.begin() as conn:
        await conn.execute(config_profiles.update().where(config_profiles.c.name == name).values(targeting=rules))


# -- create and read ---------------------------------------------------------------------


async def test_create_then_read_back(client: httpx.AsyncClient, op: Headers, container: Container) -> None:
    before = await revisions(container)
    r = await client.post("/api/v1/segments", headers=op, json=WHALES)
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == "/api/v1/segments/eu-whales"
    assert r.headers["etag"] == '"1"'
    assert created == {
        **WHALES,
        "builtin": False,
        "createdAt": "2026-06-01T12:00:00Z",
        "createdBy": "olivia",
        "updatedAt": "2026-06-01T12:00:00Z",
        "updatedBy": "olivia",
        "revision": 1,
    }
    got = await client.get("/api/v1/segments/eu-whales", headers=op)
    assert got.status_code == 200
    assert got.json() == created
    assert got.headers["etag"] == '"1"'
    # Segments are part of every environment's snapshot: each one moved on.
    assert await revisions(container) == {env: rev + 1 for env, rev in before.items()}
    assert await audit_actions(client, op, "eu-whales") == ["segment.create"]


async def test_builtin_segments_are_there_and_flagged(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.get("/api/v1/segments", headers=op)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [s["id"] for s in items] == BUILTIN_IDS
    by_id = {s["id"]: s for s in items}
    for builtin in BUILTIN_SEGMENTS:
        assert by_id[builtin["id"]]["condition"] == builtin["condition"]
        assert by_id[builtin["id"]]["builtin"] is True
        assert by_id[builtin["id"]]["createdBy"] == "system"


async def test_description_is_optional(client: httpx.AsyncClient, op: Headers) -> None:
    created = await create(client, op, id="plain", description=None)
    assert created["description"] is None
    r = await client.post(
        "/api/v1/segments", headers=op, json={"id": "bare", "name": "Bare", "condition": {"level": {"$gt": 3}}}
    )
    assert r.status_code == 201, r.text
    assert r.json()["description"] is None


async def test_duplicate_id_is_409_and_writes_nothing(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, container: Container
) -> None:
    await create(client, op)
    before = await revisions(container)
    problem(await client.post("/api/v1/segments", headers=op, json={**WHALES, "name": "other"}), 409)
    problem(await client.post("/api/v1/segments", headers=op, json={**WHALES, "id": "vip"}), 409)  # a built-in
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS) + 1
    assert (await client.get("/api/v1/segments/eu-whales", headers=op)).json()["name"] == "EU whales"
    assert await revisions(container) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "EU-Whales"}, "body.id"),
        ({"id": "-x"}, "body.id"),
        ({"id": "x" * 101}, "body.id"),
        ({"id": None}, "body.id"),
        ({"name": ""}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
        ({"description": "x" * 4001}, "body.description"),
        ({"condition": ["not", "an", "object"]}, "body.condition"),
        ({"condition": None}, "body.condition"),
        ({"condition": {"$or": {"a": 1}}}, "body.condition.$or"),
        ({"condition": {"level": {"$gtee": 3}}}, "body.condition.level.$gtee"),
        ({"condition": {"name": {"$regex": "^(a)\\1$"}}}, "body.condition.name.$regex"),  # RE2: no back-references
        ({"colour": "blue"}, "body.colour"),
    ],
)
async def test_invalid_create_is_422_naming_the_field(
    client: httpx.AsyncClient,
    op: Headers,
    count_rows: CountRows,
    container: Container,
    change: dict[str, Any],
    field: str,
) -> None:
    before = await revisions(container)
    p = problem(await client.post("/api/v1/segments", headers=op, json={**WHALES, **change}), 422)
    assert field in fields(p), p
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS)
    assert await revisions(container) == before


async def test_a_pattern_re2_cannot_run_is_refused_saying_so(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    body = {**WHALES, "condition": {"$or": [{"email": {"$regexi": "^(?!.*@example\\.com$)"}}]}}
    p = problem(await client.post("/api/v1/segments", headers=op, json=body), 422)
    [error] = p["errors"]
    assert error["field"] == "body.condition.$or.0.email.$regexi"
    assert "look-arounds" in error["message"]
    assert "RE2" in error["message"]
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS)


@pytest.mark.parametrize("pattern", ["^(a|a)*$", "^a*a*a*a*a*a*a*a*a*a*a*a*$", "^(a{1,30}){1,30}$"])
async def test_a_pattern_that_would_backtrack_is_stored(client: httpx.AsyncClient, op: Headers, pattern: str) -> None:
    # RE2 matches in linear time whatever the pattern: nothing to refuse.
    body = {**WHALES, "condition": {"nick": {"$regex": pattern}}}
    r = await client.post("/api/v1/segments", headers=op, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["condition"] == body["condition"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"id": "s", "name": "n", "condition": {"x": NaN}}', "body.condition.x"),
        (b'{"id": "s", "name": "n", "condition": {"x": {"$in": ["\\ud800"]}}}', "body.condition.x.$in.0"),
        (b'{"id": "s", "name": "n\\ud800", "condition": {}}', "body.name"),
    ],
)
async def test_unstorable_json_is_refused(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, raw: bytes, field: str
) -> None:
    r = await client.post("/api/v1/segments", headers=op | {"content-type": "application/json"}, content=raw)
    assert field in fields(problem(r, 422))
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS)


async def test_missing_fields_are_named(client: httpx.AsyncClient, op: Headers) -> None:
    p = problem(await client.post("/api/v1/segments", headers=op, json={}), 422)
    assert {"body.id", "body.name", "body.condition"} <= set(fields(p))


async def test_unknown_segment_is_404(client: httpx.AsyncClient, op: Headers) -> None:
    problem(await client.get("/api/v1/segments/nope", headers=op), 404)
    body = {"name": "n", "condition": {}}
    problem(await client.put("/api/v1/segments/nope", headers=op, json=body), 404)
    problem(await client.delete("/api/v1/segments/nope", headers=op), 404)
    problem(await client.post("/api/v1/segments/nope/preview", headers=op, json={"contexts": [{}]}), 404)


async def test_list_pages_in_id_order(client: httpx.AsyncClient, op: Headers) -> None:
    for slug in ["m-seg", "a-seg", "z-seg", "b-seg"]:
        await create(client, op, id=slug)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        r = await client.get("/api/v1/segments", headers=op, params=params)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= 3
        seen += [s["id"] for s in r.json()["items"]]
        cursor = r.json()["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(["m-seg", "a-seg", "z-seg", "b-seg", *BUILTIN_IDS])


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"limit": 0}, {"limit": 501}])
async def test_list_rejects_bad_query(client: httpx.AsyncClient, op: Headers, params: dict[str, Any]) -> None:
    p = problem(await client.get("/api/v1/segments", headers=op, params=params), 422)
    (name,) = params
    assert f"query.{name}" in fields(p)


# -- replace -----------------------------------------------------------------------------


async def test_put_replaces_and_bumps_the_revision(
    client: httpx.AsyncClient, op: Headers, auth: Auth, clock: ManualClock, container: Container
) -> None:
    await create(client, op)
    clock.advance(timedelta(minutes=5))
    before = await revisions(container)
    ada = await auth("admin", "ada")
    body = {"name": "Whales", "condition": {"totalSpend": {"$gte": 1000}}}
    r = await client.put("/api/v1/segments/eu-whales", headers=ada | {"If-Match": '"1"'}, json=body)
    assert r.status_code == 200, r.text
    updated = r.json()
    assert r.headers["etag"] == '"2"'
    assert updated["name"] == "Whales"
    assert updated["description"] is None  # not sent: cleared, it is a replace
    assert updated["condition"] == {"totalSpend": {"$gte": 1000}}
    assert updated["revision"] == 2
    assert (updated["updatedBy"], updated["updatedAt"]) == ("ada", "2026-06-01T12:05:00Z")
    assert (updated["createdBy"], updated["createdAt"]) == ("olivia", "2026-06-01T12:00:00Z")
    assert (await client.get("/api/v1/segments/eu-whales", headers=op)).json() == updated
    assert await revisions(container) == {env: rev + 1 for env, rev in before.items()}
    assert await audit_actions(client, op, "eu-whales") == ["segment.update", "segment.create"]


async def test_put_of_what_is_stored_changes_nothing(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    created = await create(client, op)
    before = await revisions(container)
    body = {k: WHALES[k] for k in ("name", "description", "condition")}
    r = await client.put("/api/v1/segments/eu-whales", headers=op, json=body)
    assert r.status_code == 200
    assert r.json() == created
    assert await revisions(container) == before
    assert await audit_actions(client, op, "eu-whales") == ["segment.create"]


async def test_put_with_a_stale_etag_is_412(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    await create(client, op)
    body = {"name": "v2", "condition": {"a": 2}}
    assert (await client.put("/api/v1/segments/eu-whales", headers=op, json=body)).status_code == 200
    for stale in ['"1"', "1", 'W/"1"', '"banana"']:
        p = problem(
            await client.put(
                "/api/v1/segments/eu-whales", headers=op | {"If-Match": stale}, json={"name": "v3", "condition": {}}
            ),
            412,
        )
        assert p["currentRevision"] == 2
    r = await client.put("/api/v1/segments/eu-whales", headers=op | {"If-Match": "*"}, json={**body, "name": "v3"})
    assert r.status_code == 200
    assert r.json()["revision"] == 3


async def test_invalid_put_changes_nothing(client: httpx.AsyncClient, op: Headers) -> None:
    created = await create(client, op)
    for body, field in [
        ({"name": "x", "condition": {"$nor": "x"}}, "body.condition.$nor"),
        ({"name": "x"}, "body.condition"),
        ({"name": "x", "condition": {}, "id": "renamed"}, "body.id"),
        ({"name": "x", "condition": {}, "builtin": True}, "body.builtin"),
    ]:
        p = problem(await client.put("/api/v1/segments/eu-whales", headers=op, json=body), 422)
        assert field in fields(p), p
    assert (await client.get("/api/v1/segments/eu-whales", headers=op)).json() == created


async def test_builtins_are_editable_and_stay_flagged(client: httpx.AsyncClient, op: Headers) -> None:
    body = {"name": "VIP", "description": "spent 500 or more", "condition": {"totalSpend": {"$gte": 500}}}
    r = await client.put("/api/v1/segments/vip", headers=op, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["builtin"] is True
    assert r.json()["condition"] == {"totalSpend": {"$gte": 500}}


# -- delete ------------------------------------------------------------------------------


async def test_delete_then_gone(
    client: httpx.AsyncClient, op: Headers, container: Container, count_rows: CountRows
) -> None:
    await create(client, op)
    before = await revisions(container)
    r = await client.delete("/api/v1/segments/eu-whales", headers=op)
    assert r.status_code == 204
    assert r.content == b""
    problem(await client.get("/api/v1/segments/eu-whales", headers=op), 404)
    problem(await client.delete("/api/v1/segments/eu-whales", headers=op), 404)
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS)
    assert await revisions(container) == {env: rev + 1 for env, rev in before.items()}
    assert await audit_actions(client, op, "eu-whales") == ["segment.delete", "segment.create"]
    await create(client, op)  # the id is free again


async def test_builtins_are_deletable(client: httpx.AsyncClient, op: Headers) -> None:
    assert (await client.delete("/api/v1/segments/inactive-players", headers=op)).status_code == 204
    r = await client.get("/api/v1/segments", headers=op)
    assert [s["id"] for s in r.json()["items"]] == ["new-players", "vip"]


async def test_delete_with_a_stale_etag_is_412(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op)
    await client.put("/api/v1/segments/eu-whales", headers=op, json={"name": "v2", "condition": {}})
    problem(await client.delete("/api/v1/segments/eu-whales", headers=op | {"If-Match": '"1"'}), 412)
    assert (await client.delete("/api/v1/segments/eu-whales", headers=op | {"If-Match": '"2"'})).status_code == 204


async def test_delete_refused_while_config_rules_name_the_segment(
    client: httpx.AsyncClient, op: Headers, container: Container, count_rows: CountRows
) -> None:
    await create(client, op)
    for name in ["shop", "events", "old-shop", "other"]:
        r = await client.post("/api/v1/configs", headers=op, json={"name": name, "environment": "Staging"})
        assert r.status_code == 201, r.text
    rule = {"id": "r1", "segment": "eu-whales", "override": {"discount": 10}}
    await set_targeting(container, "shop", [{"id": "r0", "override": {}}, rule])
    await set_targeting(container, "events", [rule])
    await set_targeting(container, "old-shop", [rule])
    await set_targeting(container, "other", [{**rule, "segment": "vip"}])
    assert (await client.post("/api/v1/configs/old-shop/archive", headers=op)).status_code == 200
    before = await revisions(container)

    p = problem(await client.delete("/api/v1/segments/eu-whales", headers=op), 409)
    assert p["configs"] == ["events", "shop"]  # the archived config does not count
    assert "'events', 'shop'" in p["detail"]
    assert await count_rows("segments") == len(BUILTIN_SEGMENTS) + 1
    assert await revisions(container) == before
    assert await audit_actions(client, op, "eu-whales") == ["segment.create"]

    await set_targeting(container, "shop", [{"id": "r0", "override": {}}])
    await set_targeting(container, "events", None)
    assert (await client.delete("/api/v1/segments/eu-whales", headers=op)).status_code == 204


# -- roles -------------------------------------------------------------------------------


async def test_roles(client: httpx.AsyncClient, auth: Auth, op: Headers) -> None:
    await create(client, op)
    viewer = await auth("viewer")
    server = await auth("server")
    approver = await auth("approver")
    problem(await client.get("/api/v1/segments"), 401)
    assert (await client.get("/api/v1/segments", headers=viewer)).status_code == 200
    assert (await client.get("/api/v1/segments/eu-whales", headers=viewer)).status_code == 200
    problem(await client.get("/api/v1/segments", headers=server), 403)
    for headers in (viewer, server, approver):
        problem(await client.post("/api/v1/segments", headers=headers, json={**WHALES, "id": "x"}), 403)
        problem(
            await client.put("/api/v1/segments/eu-whales", headers=headers, json={"name": "x", "condition": {}}), 403
        )
        problem(await client.delete("/api/v1/segments/eu-whales", headers=headers), 403)
    assert (await client.get("/api/v1/segments/eu-whales", headers=op)).json()["revision"] == 1
    assert (
        await client.post("/api/v1/segments", headers=await auth("admin"), json={**WHALES, "id": "y"})
    ).status_code == 201
