"""Config profiles, versions, diff, inheritance and releases over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import jsonpatch
import pytest

from hotswap.core.clock import ManualClock
from hotswap.core.pagination import encode_cursor
from tests.helpers import Auth, CountRows, Headers, fields, problem, sha256_of

# Explicit, not only conftest's auto-mark: parametrized tests lose their parameters otherwise.


SEED_PROFILE = {
    "name": "payment-service.production",
    "environment": "Production",
    "serviceType": "Microservice",
    "schemaVersion": "1.0",
}
SEED_VERSION = {
    "configData": '{"maxRetries":3,"timeout":"30s","apiKey":"***"}',
    "version": "1.0.0",
    "description": "Initial production configuration",
}
SEED_DATA = {"maxRetries": 3, "timeout": "30s", "apiKey": "***"}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "maxRetries": {"type": "integer", "minimum": 0},
        "timeout": {"type": "string", "pattern": "^[0-9]+s$"},
        "limits": {"type": "object", "properties": {"rps": {"type": "integer"}}},
    },
    "required": ["maxRetries"],
}


async def create_config(
    client: httpx.AsyncClient, headers: Headers, name: str, environment: str = "Development", **extra: Any
) -> dict[str, Any]:
    r = await client.post("/api/v1/configs", headers=headers, json={"name": name, "environment": environment, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def add_version(
    client: httpx.AsyncClient, headers: Headers, name: str, version: str, data: Any, description: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"configData": data, "version": version}
    if description is not None:
        body["description"] = description
    return await client.post(f"/api/v1/configs/{name}/versions", headers=headers, json=body)


async def audit_actions(client: httpx.AsyncClient, headers: Headers, target_id: str) -> list[str]:
    r = await client.get("/api/v1/audit", headers=headers, params={"targetId": target_id})
    assert r.status_code == 200, r.text
    return [item["action"] for item in r.json()["items"]]


# -- a service config's quick start ------------------------------------------------------------


async def test_the_service_config_quick_start_steps_1_and_2(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post("/api/v1/configs", headers=op, json=SEED_PROFILE)
    assert r.status_code == 201, r.text
    profile = r.json()
    assert r.headers["location"] == "/api/v1/configs/payment-service.production"
    assert profile["id"].startswith("cfg")
    assert {k: profile[k] for k in SEED_PROFILE} == SEED_PROFILE
    assert profile["jsonSchema"] is None
    assert profile["parent"] is None
    assert profile["liveVersion"] is None
    assert profile["archived"] is False
    assert profile["createdBy"] == "olivia"
    assert profile["createdAt"] == "2026-06-01T12:00:00Z"
    assert profile["revision"] == 1

    r = await client.post("/api/v1/configs/payment-service.production/versions", headers=op, json=SEED_VERSION)
    assert r.status_code == 201, r.text
    version = r.json()
    assert r.headers["location"] == "/api/v1/configs/payment-service.production/versions/1.0.0"
    assert version["configName"] == "payment-service.production"
    assert version["version"] == "1.0.0"
    assert version["description"] == "Initial production configuration"
    assert version["configData"] == SEED_DATA
    assert version["effectiveData"] == SEED_DATA
    assert version["checksum"] == sha256_of(SEED_DATA)
    assert version["author"] == "olivia"
    assert version["live"] is False

    # What was stored is what a later read returns.
    assert (await client.get("/api/v1/configs/payment-service.production", headers=op)).json() == profile
    stored = await client.get("/api/v1/configs/payment-service.production/versions/1.0.0", headers=op)
    assert stored.status_code == 200
    assert stored.json() == version


async def test_requests_need_a_token_and_a_role_that_may_write(client: httpx.AsyncClient, auth: Auth) -> None:
    problem(await client.post("/api/v1/configs", json=SEED_PROFILE), 401)
    problem(await client.post("/api/v1/configs", headers=await auth("viewer"), json=SEED_PROFILE), 403)
    problem(await client.post("/api/v1/configs", headers=await auth("approver"), json=SEED_PROFILE), 403)
    problem(await client.get("/api/v1/configs", headers=await auth("server")), 403)
    r = await client.get("/api/v1/configs", headers=await auth("viewer"))
    assert r.status_code == 200
    assert r.json()["items"] == []


# -- profiles ----------------------------------------------------------------------------


async def test_create_profile_with_every_field(client: httpx.AsyncClient, op: Headers) -> None:
    body = {
        "name": "arena.matchmaking",
        "environment": "staging",  # environments are matched without regard to case
        "serviceType": "GameServer",
        "schemaVersion": "2",
        "jsonSchema": SCHEMA,
        "gameId": "arena",
        "configType": "Matchmaking",
        "description": "queue tuning",
    }
    created = await create_config(client, op, **body)  # type: ignore[arg-type]
    assert created["environment"] == "Staging"
    assert created["jsonSchema"] == SCHEMA
    assert created["gameId"] == "arena"
    assert created["configType"] == "Matchmaking"
    assert created["description"] == "queue tuning"


async def test_duplicate_profile_name_is_409_and_writes_nothing(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc")
    r = await client.post("/api/v1/configs", headers=op, json={"name": "svc", "environment": "Staging"})
    problem(r, 409)
    assert await count_rows("config_profiles") == 1
    assert (await client.get("/api/v1/configs/svc", headers=op)).json()["environment"] == "Development"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"environment": "Development"}, "body.name"),
        ({"name": "svc"}, "body.environment"),
        ({"name": "svc", "environment": "Qa"}, "body.environment"),
        ({"name": "bad name!", "environment": "Development"}, "body.name"),
        ({"name": "-leading-dash", "environment": "Development"}, "body.name"),
        ({"name": "svc", "environment": "Development", "configType": "has space"}, "body.configType"),
        ({"name": "svc", "environment": "Development", "colour": "blue"}, "body.colour"),
        ({"name": "svc", "environment": "Development", "jsonSchema": {"type": "nonsense"}}, "body.jsonSchema"),
        ({"name": "svc", "environment": "Development", "jsonSchema": ["not", "an", "object"]}, "body.jsonSchema"),
        ({"name": "svc", "environment": "Development", "parent": "no-such-parent"}, "body.parent"),
    ],
)
async def test_invalid_profile_is_422_naming_the_field(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, body: dict[str, Any], field: str
) -> None:
    p = problem(await client.post("/api/v1/configs", headers=op, json=body), 422)
    assert any(f == field or f.startswith(field + ".") for f in fields(p)), p
    assert await count_rows("config_profiles") == 0


async def test_a_schema_pattern_re2_cannot_run_is_refused_naming_it(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(?!admin).+$"}}}
    body = {"name": "svc", "environment": "Development", "jsonSchema": schema}
    p = problem(await client.post("/api/v1/configs", headers=op, json=body), 422)
    [error] = p["errors"]
    assert error["field"] == "body.jsonSchema.properties.name.pattern"
    assert "look-arounds" in error["message"]
    assert "RE2" in error["message"]
    assert await count_rows("config_profiles") == 0

    await create_config(client, op, "svc")
    keyed = {"patternProperties": {"^(\\w)\\1$": {"type": "integer"}}}
    p = problem(await client.patch("/api/v1/configs/svc", headers=op, json={"jsonSchema": keyed}), 422)
    assert fields(p) == ["body.jsonSchema.patternProperties.^(\\w)\\1$"]
    assert "back-references" in p["errors"][0]["message"]
    assert (await client.get("/api/v1/configs/svc", headers=op)).json()["jsonSchema"] is None


@pytest.mark.parametrize("pattern", ["^(a|a)*$", "^a*a*a*a*a*a*a*a*a*a*a*a*$", "^(a|aa)+$", "^(a{1,30}){1,30}$"])
async def test_a_schema_pattern_that_would_backtrack_checks_a_near_miss(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, pattern: str
) -> None:
    # Schemas match on RE2, in time linear in the value: a near-miss cannot stall a write.
    schema = {"type": "object", "properties": {"nick": {"type": "string", "pattern": pattern}}}
    schema["patternProperties"] = {pattern: {"type": "integer"}}
    await create_config(client, op, "svc", jsonSchema=schema)
    near_miss = "a" * 24 + "b"
    p = problem(await add_version(client, op, "svc", "1.0.0", {"nick": near_miss}), 422)
    assert fields(p) == ["body.configData.nick"]
    assert await count_rows("config_versions") == 0
    ok = await add_version(client, op, "svc", "1.0.0", {"nick": "a" * 24, "a" * 20_000 + "b": "any", "aaa": 1})
    assert ok.status_code == 201, ok.text


async def test_malformed_json_body_is_a_problem_not_a_500(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post(
        "/api/v1/configs", headers={**op, "content-type": "application/json"}, content=b'{"name": "svc",'
    )
    problem(r, 422)


async def test_get_unknown_profile_is_404(client: httpx.AsyncClient, op: Headers) -> None:
    problem(await client.get("/api/v1/configs/nope", headers=op), 404)
    problem(await client.patch("/api/v1/configs/nope", headers=op, json={"description": "x"}), 404)
    problem(await client.post("/api/v1/configs/nope/archive", headers=op), 404)
    problem(await add_version(client, op, "nope", "1.0.0", {}), 404)
    problem(await client.get("/api/v1/configs/nope/versions", headers=op), 404)
    problem(await client.get("/api/v1/configs/nope/versions/1.0.0", headers=op), 404)
    problem(await client.get("/api/v1/configs/nope/diff?from=1.0.0&to=1.0.1", headers=op), 404)
    problem(await client.post("/api/v1/configs/nope/releases", headers=op, json={"version": "1.0.0"}), 404)
    problem(await client.get("/api/v1/configs/nope/releases", headers=op), 404)


async def test_list_pages_through_profiles_in_name_order(client: httpx.AsyncClient, op: Headers) -> None:
    names = ["e-svc", "a-svc", "d-svc", "c-svc", "b-svc"]
    for name in names:
        await create_config(client, op, name)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        r = await client.get("/api/v1/configs", headers=op, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [p["name"] for p in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(names)
    assert pages == 3


@pytest.mark.parametrize(
    "params",
    [{"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 501}, {"environment": "Moon"}],
)
async def test_list_rejects_bad_query(client: httpx.AsyncClient, op: Headers, params: dict[str, Any]) -> None:
    p = problem(await client.get("/api/v1/configs", headers=op, params=params), 422)
    (name,) = params
    assert f"query.{name}" in fields(p)


async def test_list_filters_by_environment_game_and_type(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "dev-a", "Development", gameId="arena", configType="Economy")
    await create_config(client, op, "prod-a", "Production", gameId="arena", configType="GameBalance")
    await create_config(client, op, "prod-b", "Production", gameId="brawl", configType="GameBalance")
    await create_config(client, op, "stage-x", "Staging")

    async def names(**params: str) -> list[str]:
        r = await client.get("/api/v1/configs", headers=op, params=params)
        assert r.status_code == 200, r.text
        return [p["name"] for p in r.json()["items"]]

    assert await names() == ["dev-a", "prod-a", "prod-b", "stage-x"]
    assert await names(environment="Production") == ["prod-a", "prod-b"]
    assert await names(environment="staging") == ["stage-x"]
    assert await names(gameId="arena") == ["dev-a", "prod-a"]
    assert await names(configType="GameBalance") == ["prod-a", "prod-b"]
    assert await names(gameId="arena", configType="GameBalance", environment="Production") == ["prod-a"]
    assert await names(gameId="nobody") == []


async def test_patch_updates_metadata_only(
    client: httpx.AsyncClient, op: Headers, auth: Auth, clock: ManualClock
) -> None:
    await create_config(client, op, "svc", serviceType="Microservice", description="old")
    clock.advance(timedelta(minutes=5))
    editor = await auth("admin", "ada")
    r = await client.patch(
        "/api/v1/configs/svc",
        headers=editor,
        json={"description": "new", "schemaVersion": "1.1", "gameId": "arena", "configType": "FeatureFlag"},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["description"] == "new"
    assert updated["schemaVersion"] == "1.1"
    assert updated["gameId"] == "arena"
    assert updated["configType"] == "FeatureFlag"
    assert updated["serviceType"] == "Microservice"  # not sent, so not changed
    assert updated["revision"] == 2
    assert updated["updatedBy"] == "ada"
    assert updated["updatedAt"] == "2026-06-01T12:05:00Z"
    assert updated["createdBy"] == "olivia"
    assert updated["createdAt"] == "2026-06-01T12:00:00Z"
    assert (await client.get("/api/v1/configs/svc", headers=op)).json() == updated

    # null clears a field
    r = await client.patch("/api/v1/configs/svc", headers=op, json={"description": None})
    assert r.status_code == 200
    assert r.json()["description"] is None
    assert r.json()["revision"] == 3


async def test_patch_refuses_environment_and_unknown_fields(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    for body, field in [
        ({"environment": "Production"}, "body.environment"),
        ({"name": "renamed"}, "body.name"),
        ({"jsonSchema": {"type": 12}}, "body.jsonSchema"),
        ({"parent": "missing"}, "body.parent"),
    ]:
        p = problem(await client.patch("/api/v1/configs/svc", headers=op, json=body), 422)
        assert any(f == field or f.startswith(field + ".") for f in fields(p)), p
    after = (await client.get("/api/v1/configs/svc", headers=op)).json()
    assert after["environment"] == "Development"
    assert after["revision"] == 1


async def test_patch_schema_applies_to_later_versions(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    assert (await add_version(client, op, "svc", "1.0.0", {"maxRetries": "many"})).status_code == 201
    r = await client.patch("/api/v1/configs/svc", headers=op, json={"jsonSchema": SCHEMA})
    assert r.status_code == 200
    assert r.json()["jsonSchema"] == SCHEMA
    p = problem(await add_version(client, op, "svc", "1.0.1", {"maxRetries": "many"}), 422)
    assert fields(p) == ["body.configData.maxRetries"]
    assert (await add_version(client, op, "svc", "1.0.1", {"maxRetries": 2})).status_code == 201


async def test_archive_hides_profile_and_freezes_it(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, clock: ManualClock
) -> None:
    await create_config(client, op, "old-svc")
    await create_config(client, op, "new-svc")
    assert (await add_version(client, op, "old-svc", "1.0.0", {"a": 1})).status_code == 201
    clock.advance(timedelta(hours=1))

    r = await client.post("/api/v1/configs/old-svc/archive", headers=op)
    assert r.status_code == 200, r.text
    archived = r.json()
    assert archived["archived"] is True
    assert archived["archivedAt"] == "2026-06-01T13:00:00Z"

    # Archiving twice is a harmless no-op.
    again = await client.post("/api/v1/configs/old-svc/archive", headers=op)
    assert again.status_code == 200
    assert again.json() == archived

    # Still readable by name, hidden from the list unless asked for.
    assert (await client.get("/api/v1/configs/old-svc", headers=op)).json()["archived"] is True
    listed = (await client.get("/api/v1/configs", headers=op)).json()["items"]
    assert [p["name"] for p in listed] == ["new-svc"]
    listed = (await client.get("/api/v1/configs", headers=op, params={"includeArchived": "true"})).json()["items"]
    assert [p["name"] for p in listed] == ["new-svc", "old-svc"]
    assert (await client.get("/api/v1/configs/old-svc/versions/1.0.0", headers=op)).status_code == 200

    # Archived forbids every change, and its name stays taken.
    problem(await add_version(client, op, "old-svc", "1.0.1", {"a": 2}), 409)
    problem(await client.patch("/api/v1/configs/old-svc", headers=op, json={"description": "x"}), 409)
    problem(await client.post("/api/v1/configs/old-svc/releases", headers=op, json={"version": "1.0.0"}), 409)
    problem(await client.post("/api/v1/configs", headers=op, json={"name": "old-svc", "environment": "Staging"}), 409)
    assert await count_rows("config_versions") == 1
    assert await count_rows("config_releases") == 0


async def test_archive_refuses_a_parent_with_active_children(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "base")
    await create_config(client, op, "child", parent="base")
    problem(await client.post("/api/v1/configs/base/archive", headers=op), 409)
    assert (await client.get("/api/v1/configs/base", headers=op)).json()["archived"] is False
    assert (await client.post("/api/v1/configs/child/archive", headers=op)).status_code == 200
    assert (await client.post("/api/v1/configs/base/archive", headers=op)).status_code == 200


async def test_archived_profile_cannot_become_a_parent(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "base")
    await create_config(client, op, "other")
    assert (await client.post("/api/v1/configs/base/archive", headers=op)).status_code == 200
    p = problem(
        await client.post(
            "/api/v1/configs", headers=op, json={"name": "c", "environment": "Staging", "parent": "base"}
        ),
        422,
    )
    assert fields(p) == ["body.parent"]
    assert await count_rows("config_profiles") == 2
    p = problem(await client.patch("/api/v1/configs/other", headers=op, json={"parent": "base"}), 422)
    assert fields(p) == ["body.parent"]
    assert (await client.get("/api/v1/configs/other", headers=op)).json()["parent"] is None


# -- versions ----------------------------------------------------------------------------


async def test_version_from_object_and_from_string_store_the_same_data(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    data = {"weapons": {"rifle": {"damage": 45, "fireRate": 600}}, "enabled": True, "tags": ["a", "b"]}
    from_object = await add_version(client, op, "svc", "1.0.0", data)
    from_string = await add_version(client, op, "svc", "1.0.1", json.dumps(data, indent=2))
    assert from_object.status_code == 201, from_object.text
    assert from_string.status_code == 201, from_string.text
    assert from_object.json()["configData"] == data
    assert from_string.json()["configData"] == data
    # The checksum covers the data, not its spelling: key order and whitespace do not matter.
    reordered = json.dumps(dict(reversed(list(data.items()))))
    third = await add_version(client, op, "svc", "1.0.2", reordered)
    assert from_object.json()["checksum"] == from_string.json()["checksum"] == third.json()["checksum"]
    assert from_object.json()["checksum"] == sha256_of(data)
    different = await add_version(client, op, "svc", "1.0.3", {**data, "enabled": False})
    assert different.json()["checksum"] != sha256_of(data)


async def test_list_versions_newest_first_with_pagination(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    labels = ["1.0.0", "1.1.0", "1.0.1", "2.0.0-rc.1", "2.0.0"]
    for i, label in enumerate(labels):
        assert (await add_version(client, op, "svc", label, {"i": i})).status_code == 201
    r = await client.get("/api/v1/configs/svc/versions", headers=op, params={"limit": 3})
    assert r.status_code == 200
    first = r.json()
    assert [v["version"] for v in first["items"]] == ["2.0.0", "2.0.0-rc.1", "1.0.1"]
    assert all("configData" not in v for v in first["items"])  # the list is a summary
    r = await client.get("/api/v1/configs/svc/versions", headers=op, params={"limit": 3, "cursor": first["nextCursor"]})
    second = r.json()
    assert [v["version"] for v in second["items"]] == ["1.1.0", "1.0.0"]
    assert second["nextCursor"] is None
    problem(await client.get("/api/v1/configs/svc/versions/9.9.9", headers=op), 404)


@pytest.mark.parametrize(
    "position",
    [{"seq": True}, {"seq": 2**63}, {"seq": -1}, {"seq": "3"}, {"name": "x"}],
    ids=["bool", "past-bigint", "negative", "text", "wrong-key"],
)
async def test_forged_version_cursors_are_422_not_500(
    position: dict[str, object], client: httpx.AsyncClient, op: Headers
) -> None:
    await create_config(client, op, "svc")
    r = await client.get("/api/v1/configs/svc/versions", headers=op, params={"cursor": encode_cursor(position)})
    body = problem(r, 422)
    assert body["errors"][0]["field"] == "query.cursor"


async def test_duplicate_version_is_409_and_keeps_the_original(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc")
    assert (await add_version(client, op, "svc", "1.0.0", {"a": 1})).status_code == 201
    problem(await add_version(client, op, "svc", "1.0.0", {"a": 2}), 409)
    assert await count_rows("config_versions") == 1
    stored = (await client.get("/api/v1/configs/svc/versions/1.0.0", headers=op)).json()
    assert stored["configData"] == {"a": 1}
    # The same label on another profile is fine.
    await create_config(client, op, "other")
    assert (await add_version(client, op, "other", "1.0.0", {"a": 2})).status_code == 201


async def test_no_route_mutates_a_version(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    original = (await add_version(client, op, "svc", "1.0.0", {"a": 1})).json()
    url = "/api/v1/configs/svc/versions/1.0.0"
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        r = await client.request(method, url, headers=op, json={"configData": {"a": 2}, "version": "1.0.0"})
        problem(r, 405)
    problem(await client.delete("/api/v1/configs/svc/versions", headers=op), 405)
    assert (await client.get(url, headers=op)).json() == original


@pytest.mark.parametrize("label", ["1.0", "v1.0.0", "1.0.0.0", "latest", "01.0.0", ""])
async def test_invalid_semver_is_422(client: httpx.AsyncClient, op: Headers, count_rows: CountRows, label: str) -> None:
    await create_config(client, op, "svc")
    p = problem(await add_version(client, op, "svc", label, {"a": 1}), 422)
    assert fields(p) == ["body.version"]
    assert await count_rows("config_versions") == 0


@pytest.mark.parametrize("data", ['{"maxRetries":3,', "not json", "[1, 2, 3]", '"just a string"', "42", "null", ""])
async def test_config_data_string_must_hold_a_json_object(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, data: str
) -> None:
    await create_config(client, op, "svc")
    p = problem(await add_version(client, op, "svc", "1.0.0", data), 422)
    assert fields(p) == ["body.configData"]
    assert await count_rows("config_versions") == 0


@pytest.mark.parametrize("data", [[1, 2], 42, None, True])
async def test_config_data_of_the_wrong_type_is_422(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, data: Any
) -> None:
    await create_config(client, op, "svc")
    p = problem(await add_version(client, op, "svc", "1.0.0", data), 422)
    assert fields(p)
    assert all(f.startswith("body.configData") for f in fields(p)), p
    assert await count_rows("config_versions") == 0


async def test_config_data_json_cannot_store_is_422_not_500(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc")
    # A number beyond 64 bits parses from the request body but has no canonical form.
    p = problem(await add_version(client, op, "svc", "1.0.0", {"big": 2**70}), 422)
    assert fields(p) == ["body.configData.big"]
    # NaN is not JSON, yet Python's parser accepts it in a request body.
    raw = b'{"version": "1.0.0", "configData": {"x": NaN}}'
    r = await client.post(
        "/api/v1/configs/svc/versions", headers={**op, "content-type": "application/json"}, content=raw
    )
    p = problem(r, 422)
    assert any(f.startswith("body.configData") for f in fields(p)), p
    assert await count_rows("config_versions") == 0


async def test_schema_failures_list_every_failing_path_and_write_nothing(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    await create_config(client, op, "svc", jsonSchema=SCHEMA)
    bad = {"maxRetries": -1, "timeout": "soon", "limits": {"rps": "fast"}}
    p = problem(await add_version(client, op, "svc", "1.0.0", bad), 422)
    errors = {e["field"]: e for e in p["errors"]}
    assert set(errors) == {"body.configData.maxRetries", "body.configData.timeout", "body.configData.limits.rps"}
    assert errors["body.configData.limits.rps"]["pointer"] == "/limits/rps"
    assert errors["body.configData.maxRetries"]["pointer"] == "/maxRetries"
    assert all(e["message"] for e in p["errors"])
    assert "3 problems" in p["detail"]

    # A missing required property is reported on the object that lacks it.
    p = problem(await add_version(client, op, "svc", "1.0.0", json.dumps({"timeout": "30s"})), 422)
    assert fields(p) == ["body.configData"]
    assert "maxRetries" in p["errors"][0]["message"]

    assert await count_rows("config_versions") == 0
    assert "config.version.create" not in await audit_actions(client, op, "svc")
    ok = await add_version(client, op, "svc", "1.0.0", {"maxRetries": 3, "timeout": "30s", "limits": {"rps": 10}})
    assert ok.status_code == 201, ok.text


# -- diff --------------------------------------------------------------------------------


async def test_diff_is_an_applicable_json_patch_with_a_readable_summary(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    v1 = SEED_DATA
    v2 = {"maxRetries": 5, "timeout": "30s", "features": {"beta": True}}
    assert (await add_version(client, op, "svc", "1.0.0", v1)).status_code == 201
    assert (await add_version(client, op, "svc", "1.1.0", v2)).status_code == 201

    r = await client.get("/api/v1/configs/svc/diff?from=1.0.0&to=1.1.0", headers=op)
    assert r.status_code == 200, r.text
    diff = r.json()
    assert diff["configName"] == "svc"
    assert diff["from"] == "1.0.0"
    assert diff["to"] == "1.1.0"
    assert diff["fromChecksum"] == sha256_of(v1)
    assert diff["toChecksum"] == sha256_of(v2)
    assert jsonpatch.JsonPatch(diff["patch"]).apply(v1) == v2
    assert {op_["op"] for op_ in diff["patch"]} <= {"add", "remove", "replace", "move", "copy", "test"}
    summary = diff["summary"]
    assert sorted(summary["changes"]) == sorted(
        ["changed maxRetries: 3 -> 5", 'removed apiKey (was "***")', 'added features = {"beta":true}']
    )
    assert (summary["added"], summary["removed"], summary["changed"]) == (1, 1, 1)

    # The reverse direction undoes it; a version against itself is empty.
    back = (await client.get("/api/v1/configs/svc/diff?from=1.1.0&to=1.0.0", headers=op)).json()
    assert jsonpatch.JsonPatch(back["patch"]).apply(v2) == v1
    same = (await client.get("/api/v1/configs/svc/diff?from=1.1.0&to=1.1.0", headers=op)).json()
    assert same["patch"] == []
    assert same["summary"] == {"added": 0, "removed": 0, "changed": 0, "changes": []}


async def test_diff_with_unknown_version_is_404_and_missing_query_is_422(
    client: httpx.AsyncClient, op: Headers
) -> None:
    await create_config(client, op, "svc")
    assert (await add_version(client, op, "svc", "1.0.0", {"a": 1})).status_code == 201
    p = problem(await client.get("/api/v1/configs/svc/diff?from=1.0.0&to=9.0.0", headers=op), 404)
    assert fields(p) == ["query.to"]
    p = problem(await client.get("/api/v1/configs/svc/diff?from=0.1.0&to=1.0.0", headers=op), 404)
    assert fields(p) == ["query.from"]
    p = problem(await client.get("/api/v1/configs/svc/diff?from=1.0.0", headers=op), 422)
    assert fields(p) == ["query.to"]


# -- inheritance -------------------------------------------------------------------------


async def test_child_effective_data_is_parent_deep_merged_with_its_own(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "base")
    child = await create_config(client, op, "child", parent="base")
    assert child["parent"] == "base"
    base_data = {"a": 1, "nested": {"x": 1, "y": 2}, "list": [1, 2]}
    assert (await add_version(client, op, "base", "1.0.0", base_data)).status_code == 201

    r = await add_version(client, op, "child", "1.0.0", {"nested": {"y": 3}, "b": 2, "list": [9]})
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["configData"] == {"nested": {"y": 3}, "b": 2, "list": [9]}
    assert v["effectiveData"] == {"a": 1, "nested": {"x": 1, "y": 3}, "b": 2, "list": [9]}
    # The checksum is of the version's own data, which is what is stored.
    assert v["checksum"] == sha256_of(v["configData"])
    got = (await client.get("/api/v1/configs/child/versions/1.0.0", headers=op)).json()
    assert got["effectiveData"] == v["effectiveData"]


async def test_grandchild_inherits_through_the_chain(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "root")
    await create_config(client, op, "mid", parent="root")
    await create_config(client, op, "leaf", parent="mid")
    assert (await add_version(client, op, "root", "1.0.0", {"a": 1, "b": 1, "c": 1})).status_code == 201
    assert (await add_version(client, op, "mid", "1.0.0", {"b": 2, "c": 2})).status_code == 201
    v = (await add_version(client, op, "leaf", "1.0.0", {"c": 3})).json()
    assert v["effectiveData"] == {"a": 1, "b": 2, "c": 3}


async def test_a_child_version_pins_the_parent_version_it_was_written_on(
    client: httpx.AsyncClient, op: Headers
) -> None:
    await create_config(client, op, "base")
    await create_config(client, op, "child", parent="base")
    v1 = (await add_version(client, op, "base", "1.0.0", {"level": "one"})).json()
    # A template never released still serves as a base: its newest version.
    first = (await add_version(client, op, "child", "1.0.0", {})).json()
    assert (first["effectiveData"], first["parentVersionId"]) == ({"level": "one"}, v1["id"])

    # Once the parent has a live version, new child versions build on that, not on newer drafts.
    r = await client.post("/api/v1/configs/base/releases", headers=op, json={"version": "1.0.0"})
    assert r.status_code == 201
    v2 = (await add_version(client, op, "base", "1.1.0", {"level": "two"})).json()
    assert (await add_version(client, op, "child", "1.0.1", {})).json()["effectiveData"] == {"level": "one"}

    # Releasing the parent's next version changes no existing child version ...
    r = await client.post("/api/v1/configs/base/releases", headers=op, json={"version": "1.1.0"})
    assert r.status_code == 201
    got = (await client.get("/api/v1/configs/child/versions/1.0.0", headers=op)).json()
    assert got["effectiveData"] == {"level": "one"}
    # ... it reaches the child through the child's next version.
    third = (await add_version(client, op, "child", "1.1.0", {})).json()
    assert (third["effectiveData"], third["parentVersionId"]) == ({"level": "two"}, v2["id"])
    diff = (await client.get("/api/v1/configs/child/diff?from=1.0.1&to=1.1.0", headers=op)).json()
    assert diff["summary"]["changes"] == ['changed level: "one" -> "two"']


async def test_parent_changes_cannot_alter_a_live_production_child_without_approval(
    client: httpx.AsyncClient, op: Headers, auth: Auth
) -> None:
    approver = await auth("approver", "alice")
    await create_config(client, op, "template")
    await create_config(client, op, "other-template")
    await create_config(client, op, "prod", environment="Production", parent="template")
    assert (await add_version(client, op, "template", "1.0.0", {"damage": 10})).status_code == 201
    assert (await add_version(client, op, "other-template", "1.0.0", {"damage": 1})).status_code == 201
    assert (await add_version(client, op, "prod", "1.0.0", {})).status_code == 201
    release = (await client.post("/api/v1/configs/prod/releases", headers=op, json={"version": "1.0.0"})).json()
    r = await client.post(f"/api/v1/approvals/{release['approvalId']}/approve", headers=approver, json={})
    assert r.status_code == 200, r.text

    # The operator changes the Development template and re-parents the Production config ...
    assert (await add_version(client, op, "template", "2.0.0", {"damage": 9999})).status_code == 201
    r = await client.post("/api/v1/configs/template/releases", headers=op, json={"version": "2.0.0"})
    assert r.json()["status"] == "Applied"
    r = await client.patch("/api/v1/configs/prod", headers=op, json={"parent": "other-template"})
    assert r.status_code == 200

    # ... and what Production serves is still exactly what was approved.
    live = (await client.get("/api/v1/configs/prod", headers=op)).json()["liveVersion"]
    assert live == "1.0.0"
    got = (await client.get("/api/v1/configs/prod/versions/1.0.0", headers=op)).json()
    assert got["effectiveData"] == {"damage": 10}


async def test_validation_runs_on_effective_data(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    await create_config(client, op, "base", jsonSchema=SCHEMA)
    await create_config(client, op, "child", parent="base")
    # Nothing to inherit yet: the child's own data lacks the required key.
    p = problem(await add_version(client, op, "child", "1.0.0", {"timeout": "5s"}), 422)
    assert fields(p) == ["body.configData"]
    assert (await add_version(client, op, "base", "1.0.0", {"maxRetries": 3})).status_code == 201
    # Now it inherits maxRetries, so the same data passes ...
    assert (await add_version(client, op, "child", "1.0.0", {"timeout": "5s"})).status_code == 201
    # ... and the parent's schema still applies to what the child overrides.
    p = problem(await add_version(client, op, "child", "1.0.1", {"maxRetries": "x"}), 422)
    assert fields(p) == ["body.configData.maxRetries"]
    assert await count_rows("config_versions") == 2


async def test_child_schema_replaces_the_parents(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "base", jsonSchema=SCHEMA)
    strict = {"type": "object", "properties": {"mode": {"enum": ["fast", "safe"]}}, "required": ["mode"]}
    await create_config(client, op, "child", parent="base", jsonSchema=strict)
    assert (await add_version(client, op, "base", "1.0.0", {"maxRetries": 3})).status_code == 201
    p = problem(await add_version(client, op, "child", "1.0.0", {"mode": "turbo"}), 422)
    assert fields(p) == ["body.configData.mode"]
    assert (await add_version(client, op, "child", "1.0.0", {"mode": "safe"})).status_code == 201


async def test_diff_compares_effective_data(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "base")
    await create_config(client, op, "child", parent="base")
    assert (await add_version(client, op, "base", "1.0.0", {"nested": {"x": 1, "y": 2}})).status_code == 201
    v1 = (await add_version(client, op, "child", "1.0.0", {"nested": {"y": 3}})).json()
    v2 = (await add_version(client, op, "child", "1.1.0", {})).json()
    diff = (await client.get("/api/v1/configs/child/diff?from=1.0.0&to=1.1.0", headers=op)).json()
    # Dropping the override falls back to the parent's value: a change, not a removal of `nested`.
    assert diff["patch"] == [{"op": "replace", "path": "/nested/y", "value": 2}]
    assert diff["summary"]["changes"] == ["changed nested.y: 3 -> 2"]
    assert jsonpatch.JsonPatch(diff["patch"]).apply(v1["effectiveData"]) == v2["effectiveData"]


async def test_parent_changes_refuse_cycles(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "a")
    await create_config(client, op, "b", parent="a")
    await create_config(client, op, "c", parent="b")
    problem(await client.patch("/api/v1/configs/a", headers=op, json={"parent": "a"}), 409)
    problem(await client.patch("/api/v1/configs/a", headers=op, json={"parent": "b"}), 409)
    problem(await client.patch("/api/v1/configs/a", headers=op, json={"parent": "c"}), 409)
    assert (await client.get("/api/v1/configs/a", headers=op)).json()["parent"] is None
    # Re-parenting elsewhere and detaching are fine.
    await create_config(client, op, "d")
    r = await client.patch("/api/v1/configs/c", headers=op, json={"parent": "d"})
    assert r.status_code == 200
    assert r.json()["parent"] == "d"
    r = await client.patch("/api/v1/configs/c", headers=op, json={"parent": None})
    assert r.json()["parent"] is None
    assert (await client.patch("/api/v1/configs/a", headers=op, json={"parent": "c"})).status_code == 200


# -- releases ----------------------------------------------------------------------------


async def test_release_outside_production_applies_at_once(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    for env in ("Development", "Staging"):
        name = f"svc-{env.lower()}"
        await create_config(client, op, name, env)
        assert (await add_version(client, op, name, "1.0.0", {"a": 1})).status_code == 201
        r = await client.post(
            f"/api/v1/configs/{name}/releases", headers=op, json={"version": "1.0.0", "comment": "go"}
        )
        assert r.status_code == 201, r.text
        release = r.json()
        assert release["status"] == "Applied"
        assert release["kind"] == "Release"
        assert release["environment"] == env
        assert release["version"] == "1.0.0"
        assert release["previousVersion"] is None
        assert release["approvalId"] is None
        assert release["comment"] == "go"
        assert release["requestedBy"] == "olivia"
        assert release["decidedAt"] == release["requestedAt"]
        assert (await client.get(f"/api/v1/configs/{name}", headers=op)).json()["liveVersion"] == "1.0.0"
        assert (await client.get(f"/api/v1/configs/{name}/versions/1.0.0", headers=op)).json()["live"] is True
    assert await count_rows("approvals") == 0


async def test_release_then_revert_to_an_earlier_version(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    for label, n in [("1.0.0", 1), ("1.1.0", 2), ("1.2.0", 3)]:
        assert (await add_version(client, op, "svc", label, {"n": n})).status_code == 201

    async def release(version: str) -> dict[str, Any]:
        r = await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": version})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    await release("1.0.0")
    second = await release("1.2.0")
    assert second["previousVersion"] == "1.0.0"

    problem(await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.2.0"}), 409)
    # A revert must go back, not forward.
    problem(await client.post("/api/v1/configs/svc/revert", headers=op, json={"toVersion": "1.2.0"}), 409)
    p = problem(await client.post("/api/v1/configs/svc/revert", headers=op, json={"toVersion": "7.0.0"}), 422)
    assert fields(p) == ["body.toVersion"]

    r = await client.post("/api/v1/configs/svc/revert", headers=op, json={"toVersion": "1.1.0", "comment": "oops"})
    assert r.status_code == 201, r.text
    revert = r.json()
    assert revert["kind"] == "Revert"
    assert revert["status"] == "Applied"
    assert revert["version"] == "1.1.0"
    assert revert["previousVersion"] == "1.2.0"
    assert revert["comment"] == "oops"
    assert revert["id"] not in {second["id"]}
    assert (await client.get("/api/v1/configs/svc", headers=op)).json()["liveVersion"] == "1.1.0"

    history = (await client.get("/api/v1/configs/svc/releases", headers=op)).json()
    assert len(history) == 3
    assert {(h["kind"], h["version"]) for h in history} == {
        ("Release", "1.0.0"),
        ("Release", "1.2.0"),
        ("Revert", "1.1.0"),
    }
    versions = (await client.get("/api/v1/configs/svc/versions", headers=op)).json()["items"]
    assert [v["version"] for v in versions if v["live"]] == ["1.1.0"]
    # Versions are untouched by releases: still three, with their data.
    assert len(versions) == 3
    assert (await client.get("/api/v1/configs/svc/versions/1.2.0", headers=op)).json()["configData"] == {"n": 3}


async def test_revert_needs_a_live_version(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    assert (await add_version(client, op, "svc", "1.0.0", {"n": 1})).status_code == 201
    problem(await client.post("/api/v1/configs/svc/revert", headers=op, json={"toVersion": "1.0.0"}), 409)


async def test_release_of_unknown_version_is_422(client: httpx.AsyncClient, op: Headers, count_rows: CountRows) -> None:
    await create_config(client, op, "svc")
    p = problem(await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.0.0"}), 422)
    assert fields(p) == ["body.version"]
    p = problem(await client.post("/api/v1/configs/svc/releases", headers=op, json={}), 422)
    assert fields(p) == ["body.version"]
    assert await count_rows("config_releases") == 0


async def test_viewers_and_approvers_cannot_release(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    await create_config(client, op, "svc")
    assert (await add_version(client, op, "svc", "1.0.0", {"n": 1})).status_code == 201
    for role in ("viewer", "approver", "server"):
        r = await client.post("/api/v1/configs/svc/releases", headers=await auth(role), json={"version": "1.0.0"})
        problem(r, 403)
    assert (await client.get("/api/v1/configs/svc", headers=op)).json()["liveVersion"] is None


# -- audit -------------------------------------------------------------------------------


async def test_every_mutation_is_audited(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    await create_config(client, op, "svc")
    await client.patch("/api/v1/configs/svc", headers=op, json={"description": "d"})
    await add_version(client, op, "svc", "1.0.0", {"n": 1})
    await add_version(client, op, "svc", "1.1.0", {"n": 2})
    await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.0.0"})
    await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.1.0"})
    await client.post("/api/v1/configs/svc/revert", headers=op, json={"toVersion": "1.0.0"})
    await client.post("/api/v1/configs/svc/archive", headers=op)

    viewer = await auth("viewer", "vic")
    r = await client.get("/api/v1/audit", headers=viewer, params={"targetId": "svc"})
    assert r.status_code == 200
    records = list(reversed(r.json()["items"]))  # oldest first
    assert [rec["action"] for rec in records] == [
        "config.create",
        "config.update",
        "config.version.create",
        "config.version.create",
        "config.release.apply",
        "config.release.apply",
        "config.revert.apply",
        "config.archive",
    ]
    assert all(rec["actor"] == "olivia" and rec["actorRole"] == "operator" for rec in records)
    assert all(rec["targetType"] == "config" and rec["requestId"] for rec in records)
    version_records = [rec for rec in records if rec["action"] == "config.version.create"]
    assert version_records[0]["details"] == {"checksum": sha256_of({"n": 1})}


async def test_refused_requests_leave_no_audit_record(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc", jsonSchema=SCHEMA)
    before = await audit_actions(client, op, "svc")
    await add_version(client, op, "svc", "1.0.0", {"maxRetries": "x"})
    await add_version(client, op, "svc", "nope", {"maxRetries": 1})
    await client.patch("/api/v1/configs/svc", headers=op, json={"environment": "Production"})
    await client.post("/api/v1/configs/svc/releases", headers=op, json={"version": "1.0.0"})
    assert await audit_actions(client, op, "svc") == before == ["config.create"]


# -- optimistic concurrency (If-Match) ---------------------------------------------------


async def test_etag_is_the_revision_and_if_match_guards_edits(client: httpx.AsyncClient, op: Headers) -> None:
    await create_config(client, op, "svc")
    read = await client.get("/api/v1/configs/svc", headers=op)
    etag = read.headers["etag"]
    assert etag == f'"{read.json()["revision"]}"'

    # Two editors read the same revision; the first edit wins and moves the ETag on ...
    first = await client.patch("/api/v1/configs/svc", headers=op | {"If-Match": etag}, json={"description": "a"})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == f'"{first.json()["revision"]}"' != etag
    # ... the second, made against the old revision, is refused instead of overwriting it.
    stale = await client.patch("/api/v1/configs/svc", headers=op | {"If-Match": etag}, json={"description": "b"})
    body = problem(stale, 412)
    assert body["currentRevision"] == first.json()["revision"]
    assert (await client.get("/api/v1/configs/svc", headers=op)).json()["description"] == "a"
    problem(await client.post("/api/v1/configs/svc/archive", headers=op | {"If-Match": etag}), 412)

    # Weak tags and `*` are understood; without the header the edit applies to any revision.
    weak = {"If-Match": f"W/{first.headers['etag']}"}
    assert (await client.patch("/api/v1/configs/svc", headers=op | weak, json={"description": "c"})).status_code == 200
    assert (await client.patch("/api/v1/configs/svc", headers=op | {"If-Match": "*"}, json={})).status_code == 200
    problem(await client.patch("/api/v1/configs/svc", headers=op | {"If-Match": '"abc"'}, json={}), 412)
    assert (await client.patch("/api/v1/configs/svc", headers=op, json={"description": "d"})).status_code == 200
