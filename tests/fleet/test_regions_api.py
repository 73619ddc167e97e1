"""Regions over HTTP: the defaults, lookups by id or alias in any case, create, replace, delete;
problems, roles, audit, and the snapshot's alias map."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hotswap.fleet.model import DEFAULT_REGIONS
from tests.fleet.support import REGION, audit_actions, register
from tests.helpers import Auth, CountRows, Headers, fields, problem

DEFAULT_IDS = [r["id"] for r in DEFAULT_REGIONS]


async def create(client: httpx.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/regions", headers=headers, json={**REGION, **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def snapshot_regions(client: httpx.AsyncClient, headers: Headers) -> tuple[int, dict[str, str]]:
    r = await client.get("/api/v1/snapshot", headers=headers, params={"environment": "Production"})
    assert r.status_code == 200, r.text
    document = r.json()
    return document["revision"], document["regions"]


# -- reading -----------------------------------------------------------------------------


async def test_the_default_regions_are_listed_in_rollout_order(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.get("/api/v1/regions", headers=await auth("viewer"))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == ["NA-WEST", "NA-EAST", "EU-WEST", "EU-EAST", "APAC"]
    assert items[0] == {
        "id": "NA-WEST",
        "displayName": "North America West",
        "timeZone": "America/Los_Angeles",
        "rolloutOrder": 1,
        "aliases": ["us-west", "na-west"],
        "createdAt": "2026-06-01T12:00:00Z",
        "createdBy": "system",
        "updatedAt": "2026-06-01T12:00:00Z",
        "updatedBy": "system",
        "revision": 1,
    }
    assert r.json()["nextCursor"] is None


async def test_regions_with_the_same_order_list_by_id(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op, id="ZZ-LAST", aliases=[], rolloutOrder=2)
    await create(client, op, id="AA-FIRST", aliases=[], rolloutOrder=2)
    items = (await client.get("/api/v1/regions", headers=op)).json()["items"]
    assert [i["id"] for i in items] == ["NA-WEST", "AA-FIRST", "NA-EAST", "ZZ-LAST", "EU-WEST", "EU-EAST", "APAC"]


@pytest.mark.parametrize("name", ["NA-WEST", "na-west", "Na-West", "us-west", "US-West"])
async def test_a_region_is_read_by_its_id_or_an_alias_in_any_case(
    name: str, client: httpx.AsyncClient, op: Headers
) -> None:
    r = await client.get(f"/api/v1/regions/{name}", headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "NA-WEST"
    assert r.headers["etag"] == '"1"'


@pytest.mark.parametrize("name", ["mars", "us", "na_west", "na-west-2"])
async def test_an_unknown_region_is_404(name: str, client: httpx.AsyncClient, op: Headers) -> None:
    assert name in problem(await client.get(f"/api/v1/regions/{name}", headers=op), 404)["detail"]


async def test_a_name_too_long_to_be_a_region_is_422(client: httpx.AsyncClient, op: Headers) -> None:
    assert fields(problem(await client.get(f"/api/v1/regions/{'x' * 101}", headers=op), 422)) == ["path.regionId"]


async def test_a_game_server_may_not_read_or_write_regions(
    client: httpx.AsyncClient, server: Headers, auth: Auth
) -> None:
    problem(await client.get("/api/v1/regions", headers=server), 403)
    problem(await client.post("/api/v1/regions", headers=server, json=REGION), 403)
    viewer = await auth("viewer")
    problem(await client.post("/api/v1/regions", headers=viewer, json=REGION), 403)
    problem(await client.delete("/api/v1/regions/APAC", headers=viewer), 403)


# -- create ------------------------------------------------------------------------------


async def test_create_then_read_back_by_alias(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post("/api/v1/regions", headers=op, json={**REGION, "id": "sa-east", "aliases": ["Brazil"]})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/regions/SA-EAST"
    assert r.headers["etag"] == '"1"'
    created = r.json()
    assert created == {
        "id": "SA-EAST",
        "displayName": "South America East",
        "timeZone": "America/Sao_Paulo",
        "rolloutOrder": 6,
        "aliases": ["brazil"],
        "createdAt": "2026-06-01T12:00:00Z",
        "createdBy": "olivia",
        "updatedAt": "2026-06-01T12:00:00Z",
        "updatedBy": "olivia",
        "revision": 1,
    }
    assert (await client.get("/api/v1/regions/BRAZIL", headers=op)).json() == created
    assert await audit_actions(client, op, "region", "SA-EAST") == ["region.create"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeZone": "Mars/Olympus_Mons"}, "body.timeZone"),
        ({"timeZone": "localtime"}, "body.timeZone"),
        ({"id": "SA EAST"}, "body.id"),
        ({"id": "SA_EAST"}, "body.id"),
        ({"id": "x" * 41}, "body.id"),
        ({"id": ""}, "body.id"),
        ({"aliases": ["ok", "not ok"]}, "body.aliases.1"),
        ({"aliases": [f"a{i}" for i in range(21)]}, "body.aliases"),
        ({"rolloutOrder": -1}, "body.rolloutOrder"),
        ({"displayName": ""}, "body.displayName"),
        ({"colour": "green"}, "body.colour"),
    ],
)
async def test_invalid_regions_are_422_naming_the_field_and_write_nothing(
    change: dict[str, Any], field: str, client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    audited = await count_rows("audit_records")
    body = problem(await client.post("/api/v1/regions", headers=op, json={**REGION, **change}), 422)
    assert field in fields(body)
    assert await count_rows("regions") == len(DEFAULT_REGIONS)
    assert await count_rows("audit_records") == audited


@pytest.mark.parametrize("missing", ["id", "displayName", "timeZone", "rolloutOrder"])
async def test_a_region_needs_its_fields(missing: str, client: httpx.AsyncClient, op: Headers) -> None:
    body = {k: v for k, v in REGION.items() if k != missing}
    assert fields(problem(await client.post("/api/v1/regions", headers=op, json=body), 422)) == [f"body.{missing}"]


async def test_an_existing_id_in_any_case_is_409(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    body = problem(await client.post("/api/v1/regions", headers=op, json={**REGION, "id": "na-West"}), 409)
    assert body["region"] == "NA-WEST"
    assert "already exists" in body["detail"]
    assert await count_rows("regions") == len(DEFAULT_REGIONS)


@pytest.mark.parametrize(
    ("change", "other", "name"),
    [
        ({"id": "US-WEST"}, "NA-WEST", "us-west"),  # an id that is another region's alias
        ({"aliases": ["brazil", "EU-Central"]}, "EU-EAST", "eu-central"),  # an alias that is another's alias
        ({"aliases": ["apac"]}, "APAC", "apac"),  # an alias that is another's id
    ],
)
async def test_a_name_another_region_answers_to_is_409_naming_it(
    change: dict[str, Any], other: str, name: str, client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    body = problem(await client.post("/api/v1/regions", headers=op, json={**REGION, **change}), 409)
    assert (body["region"], body["name"]) == (other, name)
    assert other in body["detail"]
    assert await count_rows("regions") == len(DEFAULT_REGIONS)


# -- replace -----------------------------------------------------------------------------


async def test_replace_by_alias_with_the_etag(client: httpx.AsyncClient, op: Headers) -> None:
    body = {"displayName": "US West", "timeZone": "America/Denver", "rolloutOrder": 7, "aliases": ["cali"]}
    r = await client.put("/api/v1/regions/US-WEST", headers=op | {"If-Match": '"1"'}, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    replaced = r.json()
    assert {k: replaced[k] for k in body} == body
    assert (replaced["id"], replaced["revision"], replaced["updatedBy"]) == ("NA-WEST", 2, "olivia")
    assert (await client.get("/api/v1/regions/cali", headers=op)).json() == replaced
    problem(await client.get("/api/v1/regions/us-west", headers=op), 404)  # an alias no more
    assert (await client.get("/api/v1/regions/na-west", headers=op)).json() == replaced  # the id, in any case
    assert await audit_actions(client, op, "region", "NA-WEST") == ["region.update"]


async def test_a_stale_etag_is_412_and_changes_nothing(client: httpx.AsyncClient, op: Headers) -> None:
    body = {"displayName": "APAC", "timeZone": "Asia/Tokyo", "rolloutOrder": 5, "aliases": []}
    assert (await client.put("/api/v1/regions/apac", headers=op, json=body)).status_code == 200
    stale = {**body, "timeZone": "Asia/Seoul"}
    refused = problem(await client.put("/api/v1/regions/apac", headers=op | {"If-Match": '"1"'}, json=stale), 412)
    assert refused["currentRevision"] == 2
    assert (await client.get("/api/v1/regions/APAC", headers=op)).json()["timeZone"] == "Asia/Tokyo"
    problem(await client.delete("/api/v1/regions/apac", headers=op | {"If-Match": '"1"'}), 412)


async def test_a_put_of_what_is_stored_makes_no_revision(client: httpx.AsyncClient, op: Headers) -> None:
    same = {"displayName": "Europe West", "timeZone": "Europe/London", "rolloutOrder": 3, "aliases": ["EU-WEST"]}
    r = await client.put("/api/v1/regions/eu-west", headers=op, json=same)
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 1
    assert await audit_actions(client, op, "region", "EU-WEST") == []


async def test_replace_problems(client: httpx.AsyncClient, op: Headers) -> None:
    body = {"displayName": "X", "timeZone": "Europe/Paris", "rolloutOrder": 3, "aliases": ["eu-west"]}
    problem(await client.put("/api/v1/regions/mars", headers=op, json=body), 404)
    taken = problem(await client.put("/api/v1/regions/EU-WEST", headers=op, json={**body, "aliases": ["asia"]}), 409)
    assert taken["region"] == "APAC"
    bad = problem(await client.put("/api/v1/regions/EU-WEST", headers=op, json={**body, "timeZone": "Paris"}), 422)
    assert fields(bad) == ["body.timeZone"]
    assert fields(problem(await client.put("/api/v1/regions/EU-WEST", headers=op, json={"displayName": "X"}), 422))
    assert (await client.get("/api/v1/regions/EU-WEST", headers=op)).json()["revision"] == 1


# -- delete ------------------------------------------------------------------------------


async def test_delete_by_alias(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    await create(client, op)
    r = await client.delete("/api/v1/regions/Brazil", headers=op | {"If-Match": '"1"'})
    assert r.status_code == 204, r.text
    problem(await client.get("/api/v1/regions/SA-EAST", headers=op), 404)
    problem(await client.delete("/api/v1/regions/SA-EAST", headers=op), 404)
    assert await count_rows("regions") == len(DEFAULT_REGIONS)
    assert await audit_actions(client, op, "region", "SA-EAST") == ["region.delete", "region.create"]


async def test_a_region_with_registered_servers_cannot_be_deleted(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await register(client, server, id="gs-2", region="eu-west")
    await register(client, server, id="gs-1", region="EU-WEST")
    await register(client, server, id="gs-9", region="us-west")
    body = problem(await client.delete("/api/v1/regions/eu-west", headers=op), 409)
    assert (body["servers"], body["serverIds"]) == (2, ["gs-1", "gs-2"])
    assert "EU-WEST" in body["detail"]
    assert (await client.get("/api/v1/regions/EU-WEST", headers=op)).status_code == 200
    for server_id in ("gs-1", "gs-2"):
        assert (await client.delete(f"/api/v1/servers/{server_id}", headers=server)).status_code == 204
    assert (await client.delete("/api/v1/regions/eu-west", headers=op)).status_code == 204


# -- the snapshot ------------------------------------------------------------------------


async def test_region_changes_reach_the_snapshots_alias_map(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    revision, names = await snapshot_regions(client, server)
    assert names["us-east"] == "NA-EAST"
    await create(client, op)
    after, names = await snapshot_regions(client, server)
    assert after == revision + 1
    assert (names["brazil"], names["sa-east"]) == ("SA-EAST", "SA-EAST")
    assert (await client.delete("/api/v1/regions/brazil", headers=op)).status_code == 204
    last, names = await snapshot_regions(client, server)
    assert last == after + 1
    assert "brazil" not in names
