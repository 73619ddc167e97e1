"""The snapshot and the player query over HTTP: what game servers and players are served."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.helpers import Auth, Headers, fields, problem


async def release(
    client: httpx.AsyncClient,
    headers: Headers,
    name: str,
    data: dict[str, Any],
    *,
    version: str = "1.0.0",
    environment: str = "Staging",
    create: bool = True,
    **extra: Any,
) -> None:
    if create:
        r = await client.post(
            "/api/v1/configs", headers=headers, json={"name": name, "environment": environment, **extra}
        )
        assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/configs/{name}/versions", headers=headers, json={"configData": data, "version": version}
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/configs/{name}/releases", headers=headers, json={"version": version})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "Applied", r.text


async def set_rules(client: httpx.AsyncClient, headers: Headers, name: str, rules: list[dict[str, Any]]) -> None:
    r = await client.put(f"/api/v1/configs/{name}/targeting", headers=headers, json={"rules": rules})
    assert r.status_code == 200, r.text


async def snapshot(client: httpx.AsyncClient, headers: Headers, environment: str = "Staging") -> dict[str, Any]:
    r = await client.get("/api/v1/snapshot", params={"environment": environment}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def evaluate(
    client: httpx.AsyncClient, headers: Headers, context: dict[str, Any], **params: str
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/evaluate", params={"environment": "Staging", **params}, headers=headers, json=context
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# -- the snapshot ------------------------------------------------------------------------


async def test_a_release_puts_the_live_version_in_the_snapshot(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    before = await snapshot(client, server)
    assert before["configs"] == {}
    await release(client, op, "balance", {"hp": 100, "speed": 1.5}, configType="GameBalance", gameId="g1")
    after = await snapshot(client, server)
    assert after["revision"] > before["revision"]
    entry = after["configs"]["balance"]
    assert entry["value"] == {"hp": 100, "speed": 1.5}
    assert entry["version"] == "1.0.0"
    assert entry["type"] == "GameBalance"
    assert entry["gameId"] == "g1"
    assert set(after["segments"]) == {"vip", "new-players", "inactive-players"}
    assert after["rollouts"] == []
    assert after["events"] == []


async def test_other_environments_are_not_touched(client: httpx.AsyncClient, op: Headers, server: Headers) -> None:
    production = await snapshot(client, server, "Production")
    await release(client, op, "balance", {"hp": 100})
    assert (await snapshot(client, server, "Production"))["revision"] == production["revision"]
    assert "balance" not in (await snapshot(client, server, "Production"))["configs"]


async def test_unreleased_and_archived_configs_are_not_served(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    r = await client.post("/api/v1/configs", headers=op, json={"name": "draft", "environment": "Staging"})
    assert r.status_code == 201
    await client.post("/api/v1/configs/draft/versions", headers=op, json={"configData": {"a": 1}, "version": "1.0.0"})
    await release(client, op, "balance", {"hp": 100})
    assert set((await snapshot(client, server))["configs"]) == {"balance"}
    revision = (await snapshot(client, server))["revision"]
    assert (await client.post("/api/v1/configs/balance/archive", headers=op)).status_code == 200
    after = await snapshot(client, server)
    assert after["configs"] == {}
    assert after["revision"] == revision + 1


async def test_etag_and_if_none_match(client: httpx.AsyncClient, op: Headers, server: Headers) -> None:
    await release(client, op, "balance", {"hp": 100})
    first = await client.get("/api/v1/snapshot?environment=Staging", headers=server)
    etag = first.headers["etag"]
    assert first.headers["x-snapshot-revision"] == str(first.json()["revision"])
    unchanged = await client.get("/api/v1/snapshot?environment=staging", headers={**server, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    weak = await client.get("/api/v1/snapshot?environment=Staging", headers={**server, "If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304
    await release(client, op, "balance", {"hp": 120}, version="1.1.0", create=False)
    changed = await client.get("/api/v1/snapshot?environment=Staging", headers={**server, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["configs"]["balance"]["value"] == {"hp": 120}


async def test_revisions_strictly_increase_with_every_change(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    seen = [(await snapshot(client, server))["revision"]]
    await release(client, op, "balance", {"hp": 100})
    seen.append((await snapshot(client, server))["revision"])
    await set_rules(client, op, "balance", [{"id": "eu", "condition": {"region": "eu"}, "override": {"hp": 90}}])
    seen.append((await snapshot(client, server))["revision"])
    r = await client.patch("/api/v1/configs/balance", headers=op, json={"description": "tuned"})
    assert r.status_code == 200
    seen.append((await snapshot(client, server))["revision"])
    assert seen == sorted(set(seen)), seen


async def test_concurrent_releases_each_get_their_own_revision(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container
) -> None:
    for name in ("a", "b", "c", "d"):
        r = await client.post("/api/v1/configs", headers=op, json={"name": name, "environment": "Staging"})
        assert r.status_code == 201
        r = await client.post(
            f"/api/v1/configs/{name}/versions", headers=op, json={"configData": {"n": name}, "version": "1.0.0"}
        )
        assert r.status_code == 201
    start = (await snapshot(client, server))["revision"]
    results = await asyncio.gather(
        *(
            client.post(f"/api/v1/configs/{name}/releases", headers=op, json={"version": "1.0.0"})
            for name in ("a", "b", "c", "d")
        )
    )
    assert [r.status_code for r in results] == [201] * 4
    final = await snapshot(client, server)
    assert final["revision"] == start + 4
    assert set(final["configs"]) == {"a", "b", "c", "d"}


async def test_snapshot_needs_the_snapshot_permission(client: httpx.AsyncClient, auth: Auth, server: Headers) -> None:
    assert (await client.get("/api/v1/snapshot")).status_code == 401
    approver = await auth("approver")
    assert (await client.get("/api/v1/snapshot", headers=approver)).status_code == 200
    assert (await client.get("/api/v1/snapshot", headers=server)).status_code == 200
    # and the server role still reads nothing of the admin API
    problem(await client.get("/api/v1/configs", headers=server), 403)


async def test_unknown_environment_is_a_problem(client: httpx.AsyncClient, server: Headers) -> None:
    body = problem(await client.get("/api/v1/snapshot?environment=Moon", headers=server), 422)
    assert fields(body) == ["query.environment"]


async def test_a_second_process_catches_up_from_the_store(
    client: httpx.AsyncClient, op: Headers, container: Container, settings: Any, clock: ManualClock
) -> None:
    """Another replica holds its own snapshot; a change committed here reaches it (on the bus
    when Redis is configured, else through its periodic check, run by hand here)."""
    from hotswap.container import build_container
    from hotswap.core.environments import Environment

    other = build_container(settings, clock=clock)
    try:
        await other.start()
        held = await other.snapshots.get(Environment.STAGING)
        await release(client, op, "balance", {"hp": 100})
        if settings.redis_url is None:
            await other.snapshots.check()
        else:
            for _ in range(200):  # the bus delivers asynchronously; wait for it, bounded
                current = other.snapshots.peek(Environment.STAGING)
                if current is not None and current.revision > held.revision:
                    break
                await asyncio.sleep(0.01)
        current = other.snapshots.peek(Environment.STAGING)
        assert current is not None
        assert current.revision > held.revision
        assert "balance" in current.document["configs"]
    finally:
        await other.aclose()


# -- evaluate ------------------------------------------------------------------------------


async def test_evaluate_serves_the_live_value_by_default(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "balance", {"hp": 100})
    body = await evaluate(client, server, {"playerId": "p1"})
    assert body["environment"] == "Staging"
    assert body["configs"]["balance"] == {"value": {"hp": 100}, "version": "1.0.0", "reason": "default"}
    assert body["events"] == []


async def test_a_rule_overrides_part_of_the_value_for_matching_players(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "balance", {"hp": 100, "loot": {"gold": 10, "gems": 1}})
    await set_rules(
        client,
        op,
        "balance",
        [{"id": "eu-mobile", "condition": {"region": "eu", "platform": "ios"}, "override": {"loot": {"gold": 20}}}],
    )
    matched = await evaluate(client, server, {"playerId": "p1", "region": "eu", "platform": "ios"})
    assert matched["configs"]["balance"] == {
        "value": {"hp": 100, "loot": {"gold": 20, "gems": 1}},
        "version": "1.0.0",
        "reason": "rule",
        "ruleId": "eu-mobile",
    }
    other = await evaluate(client, server, {"playerId": "p1", "region": "na", "platform": "ios"})
    assert other["configs"]["balance"]["reason"] == "default"


@pytest.mark.parametrize("pattern", ["^(a|a)*$", "^a*a*a*a*a*a*a*a*a*a*a*a*$", "^(a|aa)+$", "^(a{1,30}){1,30}$"])
async def test_a_rule_whose_pattern_would_backtrack_answers_a_near_miss(
    client: httpx.AsyncClient, op: Headers, server: Headers, pattern: str
) -> None:
    # Patterns match on RE2, in time linear in the attribute: a near-miss cannot stall the query.
    await release(client, op, "balance", {"hp": 100})
    await set_rules(
        client, op, "balance", [{"id": "as", "condition": {"nick": {"$regex": pattern}}, "value": {"hp": 1}}]
    )
    for nick, reason in [("a" * 24 + "b", "default"), ("a" * 20_000 + "b", "default"), ("a" * 24, "rule")]:
        answer = await evaluate(client, server, {"playerId": "p1", "attributes": {"nick": nick}})
        assert answer["configs"]["balance"]["reason"] == reason


async def test_a_segment_rule_uses_the_segment_definition(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"discount": 0})
    await set_rules(client, op, "shop", [{"id": "vip-deal", "segment": "vip", "value": {"discount": 25}}])
    vip = await evaluate(client, server, {"playerId": "whale", "attributes": {"totalSpend": 250}})
    assert vip["configs"]["shop"] == {
        "value": {"discount": 25},
        "version": "1.0.0",
        "reason": "segment",
        "ruleId": "vip-deal",
        "segment": "vip",
    }
    regular = await evaluate(client, server, {"playerId": "minnow", "attributes": {"totalSpend": 5}})
    assert regular["configs"]["shop"]["value"] == {"discount": 0}


async def test_a_rule_rollout_takes_about_its_share_and_is_sticky(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "balance", {"hp": 100})

    async def included(percentage: int) -> set[str]:
        await set_rules(
            client,
            op,
            "balance",
            [{"id": "buff", "rollout": {"percentage": percentage}, "override": {"hp": 110}}],
        )
        out = set()
        for i in range(400):
            body = await evaluate(client, server, {"playerId": f"player-{i}"})
            if body["configs"]["balance"]["reason"] == "rule":
                out.add(f"player-{i}")
        return out

    ten = await included(10)
    thirty = await included(30)
    assert ten <= thirty
    assert 15 <= len(ten) <= 65
    assert 80 <= len(thirty) <= 160


async def test_at_shows_what_a_scheduled_rule_will_serve(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock
) -> None:
    await release(client, op, "balance", {"hp": 100})
    start = clock.now() + timedelta(days=2)
    end = start + timedelta(days=1)
    await set_rules(
        client,
        op,
        "balance",
        [
            {
                "id": "weekend",
                "override": {"hp": 200},
                "activeFrom": start.isoformat(),
                "activeUntil": end.isoformat(),
            }
        ],
    )
    now = await evaluate(client, server, {"playerId": "p1"})
    assert now["configs"]["balance"]["reason"] == "default"
    during = await evaluate(client, server, {"playerId": "p1"}, at=(start + timedelta(hours=1)).isoformat())
    assert during["configs"]["balance"]["value"] == {"hp": 200}
    after = await evaluate(client, server, {"playerId": "p1"}, at=end.isoformat())
    assert after["configs"]["balance"]["reason"] == "default"
    clock.set(start)
    assert (await evaluate(client, server, {"playerId": "p1"}))["configs"]["balance"]["ruleId"] == "weekend"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["body.playerId"]),
        ({"playerId": 7}, ["body.playerId"]),
        ({"playerId": ""}, ["body.playerId"]),
        ({"serverId": "s" * 201}, ["body.serverId"]),
        ({"playerId": "p", "attributes": [1]}, ["body.attributes"]),
        ({"playerId": "p", "level": 3}, ["body.level"]),
        ({"playerId": "p", "region": None, "platform": 5}, ["body.platform"]),
    ],
)
async def test_evaluate_refuses_a_bad_context(
    client: httpx.AsyncClient, server: Headers, body: dict[str, Any], expected: list[str]
) -> None:
    r = await client.post("/api/v1/evaluate", headers=server, json=body)
    assert fields(problem(r, 422)) == expected


async def test_evaluate_refuses_bad_json_bad_at_and_bad_environment(client: httpx.AsyncClient, server: Headers) -> None:
    r = await client.post("/api/v1/evaluate", headers={**server, "content-type": "application/json"}, content=b"{")
    assert fields(problem(r, 422)) == ["body"]
    r = await client.post("/api/v1/evaluate?at=yesterday", headers=server, json={"playerId": "p"})
    assert fields(problem(r, 422)) == ["query.at"]
    r = await client.post("/api/v1/evaluate?at=2026-01-01T00:00:00", headers=server, json={"playerId": "p"})
    assert fields(problem(r, 422)) == ["query.at"]
    r = await client.post("/api/v1/evaluate", headers=server, json={"playerId": "p", "environment": "Moon"})
    assert fields(problem(r, 422)) == ["body.environment"]


async def test_evaluate_needs_a_token_and_the_permission(client: httpx.AsyncClient, auth: Auth) -> None:
    r = await client.post("/api/v1/evaluate", json={"playerId": "p"})
    assert problem(r, 401)["instance"] == "/api/v1/evaluate"
    assert r.headers["x-request-id"]
    r = await client.post("/api/v1/evaluate", headers={"Authorization": "Bearer nope"}, json={"playerId": "p"})
    problem(r, 401)


async def test_evaluate_bounds_the_body(client: httpx.AsyncClient, server: Headers, container: Container) -> None:
    big = {"playerId": "p", "attributes": {"blob": "x" * (container.settings.max_body_bytes + 1)}}
    problem(await client.post("/api/v1/evaluate", headers=server, json=big), 413)


async def test_evaluate_reads_no_database(
    client: httpx.AsyncClient, op: Headers, server: Headers, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await release(client, op, "balance", {"hp": 100})
    await evaluate(client, server, {"playerId": "p1"})  # the snapshot and the token are now in memory

    def no_database(*_: Any, **__: Any) -> Any:
        raise AssertionError("evaluate touched the database")

    monkeypatch.setattr(type(container.engine), "connect", no_database)
    body = await evaluate(client, server, {"playerId": "p2", "region": "eu"})
    assert body["configs"]["balance"]["value"] == {"hp": 100}


# -- targeting rules ------------------------------------------------------------------------


async def test_targeting_rules_round_trip_with_etag(client: httpx.AsyncClient, op: Headers) -> None:
    await release(client, op, "balance", {"hp": 100})
    rules = [
        {"id": "vip", "segment": "vip", "override": {"hp": 150}},
        {"id": "half", "rollout": {"percentage": 50, "seed": "s1"}, "value": {"hp": 1}, "enabled": False},
    ]
    r = await client.put("/api/v1/configs/balance/targeting", headers=op, json={"rules": rules})
    assert r.status_code == 200, r.text
    etag = r.headers["etag"]
    got = await client.get("/api/v1/configs/balance/targeting", headers=op)
    assert got.headers["etag"] == etag
    assert got.json()["rules"] == [
        {"id": "vip", "enabled": True, "segment": "vip", "override": {"hp": 150}},
        {
            "id": "half",
            "enabled": False,
            "value": {"hp": 1},
            "rollout": {"percentage": 50.0, "hashAttribute": "playerId", "seed": "s1"},
        },
    ]
    stale = await client.put("/api/v1/configs/balance/targeting", headers={**op, "If-Match": '"1"'}, json={"rules": []})
    problem(stale, 412)
    fresh = await client.put("/api/v1/configs/balance/targeting", headers={**op, "If-Match": etag}, json={"rules": []})
    assert fresh.status_code == 200


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"override": {"a": 1}}, ["body.rules[0].id"]),
        ({"id": "x"}, ["body.rules[0]"]),
        ({"id": "x", "value": {}, "override": {}}, ["body.rules[0]"]),
        ({"id": "x", "value": [1]}, ["body.rules[0].value"]),
        ({"id": "x", "override": {}, "segment": "no-such"}, ["body.rules[0].segment"]),
        ({"id": "x", "override": {}, "condition": {"$or": 3}}, ["body.rules[0].condition"]),
        ({"id": "x", "override": {}, "condition": {"a": {"$regex": "(a)\\1"}}}, ["body.rules[0].condition.a.$regex"]),
        ({"id": "x", "override": {}, "condition": {"a": {"$regexi": "(?=a)"}}}, ["body.rules[0].condition.a.$regexi"]),
        ({"id": "x", "override": {}, "rollout": {"percentage": 101}}, ["body.rules[0].rollout.percentage"]),
        ({"id": "x", "override": {}, "activeFrom": "soon"}, ["body.rules[0].activeFrom"]),
        ({"id": "x", "override": {}, "colour": "red"}, ["body.rules[0].colour"]),
    ],
)
async def test_bad_rules_are_refused_and_nothing_changes(
    client: httpx.AsyncClient, op: Headers, server: Headers, rule: dict[str, Any], expected: list[str]
) -> None:
    await release(client, op, "balance", {"hp": 100})
    revision = (await snapshot(client, server))["revision"]
    r = await client.put("/api/v1/configs/balance/targeting", headers=op, json={"rules": [rule]})
    assert [f for f in fields(problem(r, 422)) if f.startswith(tuple(expected))], r.text
    assert (await client.get("/api/v1/configs/balance/targeting", headers=op)).json()["rules"] == []
    assert (await snapshot(client, server))["revision"] == revision


async def test_duplicate_rule_ids_are_refused(client: httpx.AsyncClient, op: Headers) -> None:
    await release(client, op, "balance", {"hp": 100})
    rules = [{"id": "a", "override": {}}, {"id": "a", "override": {}}]
    r = await client.put("/api/v1/configs/balance/targeting", headers=op, json={"rules": rules})
    assert fields(problem(r, 422)) == ["body.rules[1].id"]


async def test_rules_must_serve_what_the_schema_allows(client: httpx.AsyncClient, op: Headers) -> None:
    schema = {"type": "object", "properties": {"hp": {"type": "integer", "minimum": 1}}}
    await release(client, op, "balance", {"hp": 100}, jsonSchema=schema)
    r = await client.put(
        "/api/v1/configs/balance/targeting", headers=op, json={"rules": [{"id": "bad", "override": {"hp": 0}}]}
    )
    assert fields(problem(r, 422)) == ["body.rules[0].override.hp"]


async def test_viewers_read_rules_but_cannot_set_them(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    await release(client, op, "balance", {"hp": 100})
    viewer = await auth("viewer")
    assert (await client.get("/api/v1/configs/balance/targeting", headers=viewer)).status_code == 200
    problem(await client.put("/api/v1/configs/balance/targeting", headers=viewer, json={"rules": []}), 403)


# -- the player query ------------------------------------------------------------------------


async def player_configs(client: httpx.AsyncClient, headers: Headers, player: str, **params: str) -> httpx.Response:
    return await client.get(
        f"/api/v1/players/{player}/configs", params={"environment": "Staging", **params}, headers=headers
    )


async def test_the_player_query_uses_the_stored_profile(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"discount": 0})
    await set_rules(client, op, "shop", [{"id": "vip-deal", "segment": "vip", "value": {"discount": 25}}])
    r = await client.put("/api/v1/players/whale", headers=server, json={"attributes": {"country": "DE"}})
    assert r.status_code == 201, r.text
    assert (await client.patch("/api/v1/players/whale", headers=server, json={"purchase": 150})).status_code == 200
    r = await player_configs(client, server, "whale")
    assert r.status_code == 200, r.text
    assert r.headers["x-player-known"] == "true"
    assert r.json()["configs"]["shop"]["ruleId"] == "vip-deal"


async def test_a_profile_write_is_seen_by_the_next_player_query(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"discount": 0})
    await set_rules(client, op, "shop", [{"id": "de", "condition": {"country": "DE"}, "value": {"discount": 5}}])
    await client.put("/api/v1/players/p1", headers=server, json={"attributes": {"country": "FR"}})
    assert (await player_configs(client, server, "p1")).json()["configs"]["shop"]["reason"] == "default"  # now cached
    await client.patch("/api/v1/players/p1", headers=server, json={"attributes": {"country": "DE"}})
    assert (await player_configs(client, server, "p1")).json()["configs"]["shop"]["ruleId"] == "de"


async def test_an_erased_player_is_no_longer_known(
    client: httpx.AsyncClient, op: Headers, server: Headers, auth: Auth
) -> None:
    await release(client, op, "shop", {"discount": 0})
    await client.put("/api/v1/players/p1", headers=server, json={"attributes": {"country": "FR"}})
    assert (await player_configs(client, server, "p1")).headers["x-player-known"] == "true"
    assert (await client.delete("/api/v1/players/p1", headers=await auth("admin"))).status_code == 204
    assert (await player_configs(client, server, "p1")).headers["x-player-known"] == "false"


async def test_query_attributes_go_on_top_and_are_typed(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "balance", {"hp": 100})
    rules = [{"id": "vets", "condition": {"level": {"$gte": 50}, "beta": True}, "override": {"hp": 150}}]
    await set_rules(client, op, "balance", rules)
    await client.put("/api/v1/players/p1", headers=server, json={"attributes": {"level": 10}})
    low = await player_configs(client, server, "p1", **{"attr.beta": "true"})
    assert low.json()["configs"]["balance"]["reason"] == "default"
    high = await player_configs(client, server, "p1", **{"attr.level": "60", "attr.beta": "true"})
    assert high.json()["configs"]["balance"]["ruleId"] == "vets"


async def test_an_unknown_player_is_served_on_the_query_alone(
    client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "balance", {"hp": 100})
    await set_rules(client, op, "balance", [{"id": "eu", "condition": {"region": "eu"}, "override": {"hp": 90}}])
    r = await player_configs(client, server, "newcomer", region="eu")
    assert r.status_code == 200
    assert r.headers["x-player-known"] == "false"
    assert r.json()["configs"]["balance"]["ruleId"] == "eu"


async def test_the_player_query_at_a_later_time_ages_the_player(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock
) -> None:
    await release(client, op, "tutorial", {"hints": False})
    await set_rules(client, op, "tutorial", [{"id": "new", "segment": "new-players", "value": {"hints": True}}])
    await client.put("/api/v1/players/p1", headers=server, json={"attributes": {}})
    assert (await player_configs(client, server, "p1")).json()["configs"]["tutorial"]["value"] == {"hints": True}
    later = (clock.now() + timedelta(days=8)).isoformat()
    assert (await player_configs(client, server, "p1", at=later)).json()["configs"]["tutorial"]["reason"] == "default"


async def test_the_player_query_refuses_bad_input(client: httpx.AsyncClient, server: Headers) -> None:
    assert fields(problem(await player_configs(client, server, "p1", at="nope"), 422)) == ["query.at"]
    assert fields(problem(await player_configs(client, server, "p1", region=""), 422)) == ["query.region"]
    assert fields(problem(await player_configs(client, server, "x" * 201), 422)) == ["path.playerId"]
    assert fields(problem(await player_configs(client, server, "p%00"), 422)) == ["path.playerId"]
    problem(await client.get("/api/v1/players/p1/configs"), 401)


async def test_a_token_revoked_elsewhere_stops_working_within_the_cache_window(
    client: httpx.AsyncClient, server: Headers, container: Container, clock: ManualClock
) -> None:
    assert (await client.post("/api/v1/evaluate", headers=server, json={"playerId": "p"})).status_code == 200
    async with container.engine.begin() as conn:  # another process revokes it: no bus message here
        await conn.execute(sa.text("UPDATE tokens SET revoked_at = issued_at"))
    assert (await client.post("/api/v1/evaluate", headers=server, json={"playerId": "p"})).status_code == 200
    clock.advance(timedelta(seconds=container.authenticator.cache_seconds))
    problem(await client.post("/api/v1/evaluate", headers=server, json={"playerId": "p"}), 401)


async def test_a_token_revoked_through_the_api_stops_working_at_once(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    admin = await auth("admin")
    assert (await client.post("/api/v1/evaluate", headers=admin, json={"playerId": "p"})).status_code == 200
    jti = container.codec.decode(admin["Authorization"].removeprefix("Bearer ")).token_id
    assert (await client.delete(f"/api/v1/tokens/{jti}", headers=admin)).status_code == 204
    problem(await client.post("/api/v1/evaluate", headers=admin, json={"playerId": "p"}), 401)


@pytest.mark.parametrize("attempt", range(3))
async def test_a_segment_is_never_deleted_under_a_rule_naming_it(
    client: httpx.AsyncClient, op: Headers, attempt: int
) -> None:
    await release(client, op, "shop", {"discount": 0})
    segment = {"id": "whales", "name": "Whales", "condition": {"totalSpend": {"$gte": 1000}}}
    assert (await client.post("/api/v1/segments", headers=op, json=segment)).status_code == 201
    rules = {"rules": [{"id": "w", "segment": "whales", "value": {"discount": 50}}]}
    put, delete = await asyncio.gather(
        client.put("/api/v1/configs/shop/targeting", headers=op, json=rules),
        client.delete("/api/v1/segments/whales", headers=op),
    )
    assert (put.status_code, delete.status_code) in {(200, 409), (422, 204)}, (put.text, delete.text)
    stored = (await client.get("/api/v1/configs/shop/targeting", headers=op)).json()["rules"]
    exists = (await client.get("/api/v1/segments/whales", headers=op)).status_code == 200
    assert exists or stored == []


async def test_a_bug_on_a_hot_route_is_a_logged_500_problem(
    client: httpx.AsyncClient,
    server: Headers,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(container.snapshots, "get", broken)
    r = await client.post("/api/v1/evaluate", headers=server, json={"playerId": "p"})
    assert problem(r, 500)["instance"] == "/api/v1/evaluate"
    assert r.headers["x-request-id"]
    assert any("unhandled error on a hot route" in rec.getMessage() for rec in caplog.records)
