"""Game configs: a profile plus its first or next version in one request."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.helpers import Auth, CountRows, Headers, fields, problem, sha256_of

# Explicit, not only conftest's auto-mark: parametrized tests lose their parameters otherwise.


SEED_BODY = {
    "name": "weapon-balance-patch-2.1",
    "gameId": "battle-royale",
    "configType": "GameBalance",
    "configuration": '{"weapons":{"rifle":{"damage":45,"fireRate":600}}}',
    "version": "2.1.0",
}
SEED_DATA = {"weapons": {"rifle": {"damage": 45, "fireRate": 600}}}


@pytest.fixture
async def op(auth: Auth) -> Headers:
    return await auth("operator", "gina", ttl=timedelta(days=1))


async def post_game_config(client: httpx.AsyncClient, headers: Headers, **overrides: Any) -> httpx.Response:
    return await client.post("/api/v1/game-configs", headers=headers, json={**SEED_BODY, **overrides})


async def test_a_game_config_request_as_written(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post("/api/v1/game-configs", headers=op, json=SEED_BODY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == "/api/v1/configs/weapon-balance-patch-2.1/versions/2.1.0"
    assert body["name"] == "weapon-balance-patch-2.1"
    assert body["gameId"] == "battle-royale"
    assert body["configType"] == "GameBalance"
    assert body["version"] == "2.1.0"
    assert body["configuration"] == SEED_DATA
    assert body["checksum"] == sha256_of(SEED_DATA)
    assert body["createdBy"] == "gina"
    assert body["createdAt"] == "2026-06-01T12:00:00Z"
    assert body["liveVersion"] is None  # stored, not released
    assert body["id"].startswith("cfg")
    assert body["versionId"].startswith("ver")


async def test_game_config_lands_in_the_common_model(client: httpx.AsyncClient, op: Headers) -> None:
    created = (await client.post("/api/v1/game-configs", headers=op, json=SEED_BODY)).json()
    profile = (await client.get("/api/v1/configs/weapon-balance-patch-2.1", headers=op)).json()
    assert profile["id"] == created["id"]
    assert profile["gameId"] == "battle-royale"
    assert profile["configType"] == "GameBalance"
    assert profile["createdBy"] == "gina"
    version = (await client.get("/api/v1/configs/weapon-balance-patch-2.1/versions/2.1.0", headers=op)).json()
    assert version["id"] == created["versionId"]
    assert version["configData"] == SEED_DATA
    assert version["checksum"] == created["checksum"]
    listed = (await client.get("/api/v1/configs", headers=op, params={"gameId": "battle-royale"})).json()["items"]
    assert [p["name"] for p in listed] == ["weapon-balance-patch-2.1"]


async def test_default_environment_is_production_so_releases_need_approval(
    client: httpx.AsyncClient, op: Headers
) -> None:
    created = (await client.post("/api/v1/game-configs", headers=op, json=SEED_BODY)).json()
    assert created["environment"] == "Production"
    profile = (await client.get("/api/v1/configs/weapon-balance-patch-2.1", headers=op)).json()
    assert profile["environment"] == "Production"
    r = await client.post("/api/v1/configs/weapon-balance-patch-2.1/releases", headers=op, json={"version": "2.1.0"})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "PendingApproval"
    assert r.json()["approvalId"]
    assert (await client.get("/api/v1/configs/weapon-balance-patch-2.1", headers=op)).json()["liveVersion"] is None


async def test_environment_can_be_chosen(client: httpx.AsyncClient, op: Headers) -> None:
    r = await post_game_config(client, op, name="arena-dev", environment="development")
    assert r.status_code == 201, r.text
    assert r.json()["environment"] == "Development"
    rel = await client.post("/api/v1/configs/arena-dev/releases", headers=op, json={"version": "2.1.0"})
    assert rel.json()["status"] == "Applied"
    p = problem(await post_game_config(client, op, name="arena-qa", environment="QA"), 422)
    assert fields(p) == ["body.environment"]


async def test_configuration_may_be_an_object(client: httpx.AsyncClient, op: Headers) -> None:
    r = await post_game_config(client, op, configuration=SEED_DATA)
    assert r.status_code == 201, r.text
    assert r.json()["configuration"] == SEED_DATA
    assert r.json()["checksum"] == sha256_of(SEED_DATA)


async def test_same_name_with_new_version_appends_to_the_same_profile(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    first = (await post_game_config(client, op)).json()
    patched = {"weapons": {"rifle": {"damage": 42, "fireRate": 600}}}
    r = await post_game_config(client, op, version="2.1.1", configuration=json.dumps(patched), description="nerf")
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["id"] == first["id"]
    assert second["versionId"] != first["versionId"]
    assert second["version"] == "2.1.1"
    assert second["configuration"] == patched
    assert second["description"] == "nerf"
    assert await count_rows("config_profiles") == 1
    assert await count_rows("config_versions") == 2
    versions = (await client.get("/api/v1/configs/weapon-balance-patch-2.1/versions", headers=op)).json()["items"]
    assert [v["version"] for v in versions] == ["2.1.1", "2.1.0"]
    diff = (await client.get("/api/v1/configs/weapon-balance-patch-2.1/diff?from=2.1.0&to=2.1.1", headers=op)).json()
    assert diff["summary"]["changes"] == ["changed weapons.rifle.damage: 45 -> 42"]


async def test_same_name_and_version_again_is_409(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    assert (await post_game_config(client, op)).status_code == 201
    problem(await post_game_config(client, op, configuration="{}"), 409)
    assert await count_rows("config_versions") == 1
    got = (await client.get("/api/v1/configs/weapon-balance-patch-2.1/versions/2.1.0", headers=op)).json()
    assert got["configData"] == SEED_DATA


@pytest.mark.parametrize("change", [{"gameId": "other-game"}, {"configType": "Economy"}])
async def test_same_name_for_another_game_or_type_is_409(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, change: dict[str, str]
) -> None:
    assert (await post_game_config(client, op)).status_code == 201
    problem(await post_game_config(client, op, version="2.2.0", **change), 409)
    assert await count_rows("config_versions") == 1


async def test_next_version_keeps_the_environment_and_refuses_a_different_one(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    assert (await post_game_config(client, op, environment="Staging")).status_code == 201
    # The body carries no environment: the next version joins the existing Staging config.
    r = await post_game_config(client, op, version="2.1.1")
    assert r.status_code == 201, r.text
    assert r.json()["environment"] == "Staging"
    # An environment that is sent must match: a version cannot move a config between environments.
    problem(await post_game_config(client, op, version="2.1.2", environment="Production"), 409)
    assert (await post_game_config(client, op, version="2.1.2", environment="staging")).status_code == 201
    assert await count_rows("config_versions") == 3


async def test_a_plain_config_name_cannot_be_taken_over_by_a_game(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post("/api/v1/configs", headers=op, json={"name": "shared", "environment": "Development"})
    assert r.status_code == 201
    problem(await post_game_config(client, op, name="shared"), 409)


@pytest.mark.parametrize(
    "configuration",
    ['{"weapons":{"rifle":{"damage":45,', "weapons: rifle", "[1, 2]", '"text"', "", 12, [1], None],
)
async def test_bad_configuration_is_422_naming_configuration(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, configuration: Any
) -> None:
    p = problem(await post_game_config(client, op, configuration=configuration), 422)
    assert fields(p)
    assert all(f.startswith("body.configuration") for f in fields(p)), p
    # Nothing written: not the profile either.
    assert await count_rows("config_profiles") == 0
    assert await count_rows("config_versions") == 0
    assert (await client.get("/api/v1/audit", headers=op, params={"targetId": SEED_BODY["name"]})).json()["items"] == []


async def test_bad_configuration_on_an_existing_game_config_names_configuration(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    assert (await post_game_config(client, op)).status_code == 201
    p = problem(await post_game_config(client, op, version="2.2.0", configuration="{oops"), 422)
    assert fields(p) == ["body.configuration"]
    assert await count_rows("config_versions") == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "2.1"}, "body.version"),
        ({"name": "has spaces"}, "body.name"),
        ({"configType": "Game Balance"}, "body.configType"),
        ({"gameId": None}, "body.gameId"),
        ({"version": None}, "body.version"),
        ({"unknown": 1}, "body.unknown"),
    ],
)
async def test_other_bad_fields_are_422_and_write_nothing(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows, change: dict[str, Any], field: str
) -> None:
    p = problem(await post_game_config(client, op, **change), 422)
    assert any(f == field or f.startswith(field + ".") for f in fields(p)), p
    assert await count_rows("config_profiles") == 0


async def test_missing_fields_are_each_named(client: httpx.AsyncClient, op: Headers) -> None:
    p = problem(await client.post("/api/v1/game-configs", headers=op, json={}), 422)
    assert {"body.name", "body.gameId", "body.configType", "body.configuration", "body.version"} <= set(fields(p))


async def test_list_by_game_id_shows_each_config_with_its_newest_version(
    client: httpx.AsyncClient, op: Headers
) -> None:
    await post_game_config(client, op)
    await post_game_config(client, op, version="2.1.1", configuration='{"weapons":{}}')
    await post_game_config(client, op, name="br-economy", configType="Economy", version="1.0.0", configuration="{}")
    await post_game_config(client, op, name="kart-physics", gameId="kart-racer", version="0.1.0")
    # A config with no game is not a game config.
    await client.post("/api/v1/configs", headers=op, json={"name": "plain", "environment": "Development"})

    r = await client.get("/api/v1/game-configs", headers=op, params={"gameId": "battle-royale"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["name"], i["version"]) for i in items] == [
        ("br-economy", "1.0.0"),
        ("weapon-balance-patch-2.1", "2.1.1"),
    ]
    assert items[1]["configuration"] == {"weapons": {}}
    assert all(i["gameId"] == "battle-royale" for i in items)

    kart = (await client.get("/api/v1/game-configs", headers=op, params={"gameId": "kart-racer"})).json()["items"]
    assert [i["name"] for i in kart] == ["kart-physics"]
    everything = (await client.get("/api/v1/game-configs", headers=op)).json()["items"]
    assert [i["name"] for i in everything] == ["br-economy", "kart-physics", "weapon-balance-patch-2.1"]
    none = (await client.get("/api/v1/game-configs", headers=op, params={"gameId": "no-game"})).json()
    assert none == {"items": [], "nextCursor": None}


async def test_list_pages(client: httpx.AsyncClient, op: Headers) -> None:
    for i in range(3):
        await post_game_config(client, op, name=f"cfg-{i}", version="1.0.0")
    r = await client.get("/api/v1/game-configs", headers=op, params={"gameId": "battle-royale", "limit": 2})
    page = r.json()
    assert [i["name"] for i in page["items"]] == ["cfg-0", "cfg-1"]
    r = await client.get(
        "/api/v1/game-configs", headers=op, params={"gameId": "battle-royale", "limit": 2, "cursor": page["nextCursor"]}
    )
    assert [i["name"] for i in r.json()["items"]] == ["cfg-2"]
    assert r.json()["nextCursor"] is None


async def test_game_configs_need_the_right_role(client: httpx.AsyncClient, auth: Auth) -> None:
    problem(await client.post("/api/v1/game-configs", json=SEED_BODY), 401)
    problem(await client.post("/api/v1/game-configs", headers=await auth("viewer"), json=SEED_BODY), 403)
    problem(await client.get("/api/v1/game-configs", headers=await auth("server")), 403)
    assert (await client.get("/api/v1/game-configs", headers=await auth("viewer"))).status_code == 200


async def test_game_config_writes_are_audited(client: httpx.AsyncClient, op: Headers) -> None:
    await post_game_config(client, op)
    await post_game_config(client, op, version="2.1.1")
    r = await client.get("/api/v1/audit", headers=op, params={"targetId": SEED_BODY["name"]})
    actions = [rec["action"] for rec in reversed(r.json()["items"])]
    assert actions == ["config.create", "config.version.create", "config.version.create"]
