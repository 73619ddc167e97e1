"""Players over HTTP: PUT, PATCH (attributes, sessions, purchases), export, erasure, roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.core.signals import AFTER_COMMIT
from hotswap.delivery.bus import RESYNC, InProcessBus, PostgresBus, RedisBus
from hotswap.players import model as m
from hotswap.players.signals import PlayerWritten
from tests.helpers import Auth, CountRows, Headers, fields, problem

URL = "/api/v1/players/p-1"


async def export(client: httpx.AsyncClient, headers: Headers, url: str = URL) -> dict[str, Any]:
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def audit_actions(client: httpx.AsyncClient, headers: Headers) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/audit", headers=headers, params={"targetType": "player"})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_put_creates_then_replaces(
    client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    r = await client.put(URL, headers=server, json={"attributes": {"country": "DE", "level": 3, "gone": None}})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == URL
    assert r.headers["etag"] == '"1"'
    created = r.json()
    assert created == {
        "playerId": "p-1",
        "attributes": {"country": "DE", "level": 3},
        "properties": {
            "firstSeen": "2026-06-01T12:00:00Z",
            "lastSeen": "2026-06-01T12:00:00Z",
            "daysSinceInstall": 0,
            "daysSinceLastLogin": 0,
            "sessions": 0,
            "totalSpend": 0.0,
        },
        "createdAt": "2026-06-01T12:00:00Z",
        "updatedAt": "2026-06-01T12:00:00Z",
    }
    assert await export(client, op) == created

    clock.advance(timedelta(days=2, hours=1))
    r = await client.put(URL, headers=server, json={"attributes": {"platform": "ios"}})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    replaced = r.json()
    assert replaced["attributes"] == {"platform": "ios"}  # replaced, not merged
    # Attributes alone are not activity: lastSeen stays.
    assert replaced["properties"]["lastSeen"] == "2026-06-01T12:00:00Z"
    assert replaced["properties"]["daysSinceInstall"] == 2
    assert replaced["properties"]["daysSinceLastLogin"] == 2
    assert replaced["updatedAt"] == "2026-06-03T13:00:00Z"
    assert replaced["createdAt"] == "2026-06-01T12:00:00Z"
    got = await client.get(URL, headers=op)
    assert got.json() == replaced
    assert got.headers["etag"] == '"2"'


async def test_patch_merges_and_counts_activity(
    client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    r = await client.patch(URL, headers=server, json={"attributes": {"country": "DE", "level": 1}, "session": True})
    assert r.status_code == 201, r.text  # first seen: created
    first = r.json()
    assert first["properties"]["sessions"] == 1
    assert first["properties"]["firstSeen"] == first["properties"]["lastSeen"] == "2026-06-01T12:00:00Z"

    clock.advance(timedelta(hours=5))
    r = await client.patch(URL, headers=server, json={"attributes": {"level": 2, "country": None, "guild": "owls"}})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["attributes"] == {"level": 2, "guild": "owls"}
    assert merged["properties"]["lastSeen"] == "2026-06-01T12:00:00Z"  # attributes only: not seen

    clock.advance(timedelta(days=3))
    r = await client.patch(URL, headers=server, json={"purchase": 4.99})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["totalSpend"] == 4.99
    assert r.json()["properties"]["lastSeen"] == "2026-06-04T17:00:00Z"
    assert r.json()["properties"]["sessions"] == 1

    clock.advance(timedelta(days=1))
    r = await client.patch(URL, headers=server, json={"purchase": 0.1, "session": True})
    props = r.json()["properties"]
    assert props["totalSpend"] == 5.09
    assert props["sessions"] == 2
    assert props["lastSeen"] == "2026-06-05T17:00:00Z"
    assert props["daysSinceInstall"] == 4
    assert props["daysSinceLastLogin"] == 0
    assert r.headers["etag"] == '"4"'

    clock.advance(timedelta(days=20))
    exported = await export(client, op)
    assert exported["properties"]["daysSinceLastLogin"] == 20
    assert exported["properties"]["daysSinceInstall"] == 24
    assert exported["attributes"] == {"level": 2, "guild": "owls"}


async def test_patch_session_false_and_empty_patch(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    r = await client.patch(URL, headers=server, json={})
    assert r.status_code == 201  # a server reporting a player it sees: stored
    assert r.json()["properties"]["sessions"] == 0
    r = await client.patch(URL, headers=server, json={"session": False, "purchase": 0})
    assert r.status_code == 200
    assert r.json()["properties"]["sessions"] == 0
    assert r.json()["properties"]["totalSpend"] == 0


async def test_purchase_on_a_new_player_counts(client: httpx.AsyncClient, server: Headers) -> None:
    r = await client.patch(URL, headers=server, json={"purchase": 150})
    assert r.status_code == 201
    assert r.json()["properties"]["totalSpend"] == 150
    assert r.json()["properties"]["sessions"] == 0


async def test_spend_adds_up_to_four_decimals(client: httpx.AsyncClient, server: Headers) -> None:
    for _ in range(10):
        r = await client.patch(URL, headers=server, json={"purchase": 0.1})
    assert r.json()["properties"]["totalSpend"] == 1.0
    r = await client.patch(URL, headers=server, json={"purchase": 0.2})
    assert r.json()["properties"]["totalSpend"] == 1.2


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("PUT", {}, "body.attributes"),
        ("PUT", {"attributes": []}, "body.attributes"),
        ("PUT", {"attributes": {"totalSpend": 1000}}, "body.attributes.totalSpend"),
        ("PUT", {"attributes": {"playerId": "someone-else"}}, "body.attributes.playerId"),
        ("PATCH", {"attributes": {"daysSinceInstall": 0}}, "body.attributes.daysSinceInstall"),
        ("PATCH", {"attributes": {"serverId": "s"}}, "body.attributes.serverId"),
        ("PUT", {"attributes": {"a.b": 1}}, "body.attributes.a.b"),
        ("PUT", {"attributes": {"x" * 101: 1}}, "body.attributes." + "x" * 101),
        ("PUT", {"attributes": {f"k{i}": i for i in range(m.MAX_ATTRIBUTES + 1)}}, "body.attributes"),
        ("PUT", {"attributes": {"blob": "x" * m.MAX_ATTRIBUTES_BYTES}}, "body.attributes"),
        ("PUT", {"attributes": {"deep": [[[[[[[[[[1]]]]]]]]]]}}, "body.attributes.deep"),
        ("PUT", {"attributes": {"a": 1}, "session": True}, "body.session"),
        ("PATCH", {"session": "yes"}, "body.session"),
        ("PATCH", {"session": 1}, "body.session"),
        ("PATCH", {"purchase": -1}, "body.purchase"),
        ("PATCH", {"purchase": "5"}, "body.purchase"),
        ("PATCH", {"purchase": True}, "body.purchase"),
        ("PATCH", {"purchase": m.MAX_PURCHASE + 1}, "body.purchase"),
        ("PATCH", {"attributes": {"ok": 1}, "extra": 1}, "body.extra"),
    ],
)
async def test_invalid_bodies_are_422_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, server: Headers, count_rows: CountRows, method: str, body: Any, field: str
) -> None:
    p = problem(await client.request(method, URL, headers=server, json=body), 422)
    assert field in fields(p), p
    assert await count_rows("players") == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"attributes": {"x": NaN}}', "body.attributes.x"),
        (b'{"attributes": {"x": [Infinity]}}', "body.attributes.x.0"),
        (b'{"attributes": {"x": {"y": "\\ud800"}}}', "body.attributes.x.y"),
    ],
)
async def test_unstorable_json_is_refused(
    client: httpx.AsyncClient, server: Headers, count_rows: CountRows, raw: bytes, field: str
) -> None:
    headers = server | {"content-type": "application/json"}
    p = problem(await client.put(URL, headers=headers, content=raw), 422)
    assert fields(p) == [field]
    p = problem(await client.patch(URL, headers=headers, content=raw), 422)
    assert fields(p) == [field]
    assert await count_rows("players") == 0


async def test_a_merge_past_the_limit_changes_nothing(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    full = {f"k{i}": i for i in range(m.MAX_ATTRIBUTES)}
    assert (await client.put(URL, headers=server, json={"attributes": full})).status_code == 201
    p = problem(await client.patch(URL, headers=server, json={"attributes": {"one_more": 1}, "session": True}), 422)
    assert fields(p) == ["body.attributes"]
    exported = await export(client, op)
    assert exported["attributes"] == full
    assert exported["properties"]["sessions"] == 0
    # Removing one while adding one fits.
    r = await client.patch(URL, headers=server, json={"attributes": {"k0": None, "one_more": 1}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("player_id", ["has%20space", "x" * 201, "tab%09here"])
async def test_malformed_player_ids_are_refused(client: httpx.AsyncClient, server: Headers, player_id: str) -> None:
    p = problem(await client.put(f"/api/v1/players/{player_id}", headers=server, json={"attributes": {}}), 422)
    assert fields(p) == ["path.playerId"]


@pytest.mark.parametrize(
    "player_id", ["steam:76561198000000000", "7f3c0a9e-1b2c-4d5e-8f90-123456789abc", "Ünïcode", "玩家-42", "a"]
)
async def test_usual_player_ids_are_accepted(
    client: httpx.AsyncClient, server: Headers, op: Headers, player_id: str
) -> None:
    r = await client.put(f"/api/v1/players/{player_id}", headers=server, json={"attributes": {}})
    assert r.status_code == 201, r.text
    assert r.json()["playerId"] == player_id
    assert r.headers["location"] == f"/api/v1/players/{quote(player_id, safe='')}"
    assert (await export(client, op, f"/api/v1/players/{player_id}"))["playerId"] == player_id


@pytest.mark.parametrize("raw_id", ["%FF", "%ED%A0%80", "%E2%82"])  # not UTF-8: decoded with replacements
async def test_undecodable_player_ids_are_never_a_server_error(
    client: httpx.AsyncClient, server: Headers, raw_id: str
) -> None:
    r = await client.put(f"/api/v1/players/{raw_id}", headers=server, json={"attributes": {}})
    assert r.status_code in (201, 422), r.text


async def test_delete_erases_and_is_audited_without_the_data(
    client: httpx.AsyncClient, server: Headers, auth: Auth, op: Headers, count_rows: CountRows
) -> None:
    secret = {"email_hash": "c0ffee", "country": "DE"}
    assert (await client.put(URL, headers=server, json={"attributes": secret})).status_code == 201
    admin = await auth("admin", "ada")
    r = await client.delete(URL, headers=admin)
    assert r.status_code == 204
    assert r.content == b""
    assert await count_rows("players") == 0
    problem(await client.get(URL, headers=op), 404)
    problem(await client.delete(URL, headers=admin), 404)
    (entry,) = await audit_actions(client, admin)
    assert (entry["action"], entry["targetId"], entry["actor"]) == ("player.delete", "p-1", "ada")
    assert "c0ffee" not in str(entry)
    assert "DE" not in str(entry)


async def test_player_writes_are_not_audited(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    await client.put(URL, headers=server, json={"attributes": {"a": 1}})
    await client.patch(URL, headers=server, json={"session": True})
    assert await audit_actions(client, op) == []


async def test_unknown_player_is_404(client: httpx.AsyncClient, op: Headers) -> None:
    problem(await client.get("/api/v1/players/nobody", headers=op), 404)


async def test_roles(client: httpx.AsyncClient, auth: Auth, server: Headers, op: Headers) -> None:
    put = {"attributes": {"a": 1}}
    problem(await client.put(URL, json=put), 401)
    for role in ("viewer", "approver"):
        headers = await auth(role)
        problem(await client.put(URL, headers=headers, json=put), 403)
        problem(await client.patch(URL, headers=headers, json={"session": True}), 403)
    assert (await client.put(URL, headers=server, json=put)).status_code == 201
    assert (await client.put(URL, headers=op, json=put)).status_code == 200
    assert (await client.patch(URL, headers=await auth("admin"), json={"session": True})).status_code == 200
    # Game servers report players but cannot read them back, nor erase them.
    problem(await client.get(URL, headers=server), 403)
    problem(await client.get(URL, headers=await auth("viewer")), 403)
    problem(await client.delete(URL, headers=server), 403)
    problem(await client.delete(URL, headers=op), 403)
    assert (await client.get(URL, headers=op)).status_code == 200
    assert (await client.get(URL, headers=await auth("admin"))).status_code == 200


async def test_cache_sees_every_write_after_its_commit(
    client: httpx.AsyncClient, server: Headers, auth: Auth, container: Container
) -> None:
    service = container.players
    announced: list[str] = []
    container.signals.connect(PlayerWritten, lambda s: announced.append(s.player_id), phase=AFTER_COMMIT)
    assert await service.cached_profile(container.uow, "p-1") is None  # absence is cached...
    await client.put(URL, headers=server, json={"attributes": {"level": 1}})
    cached = await service.cached_profile(container.uow, "p-1")  # ...and forgotten on create
    assert cached is not None
    assert cached.attributes == {"level": 1}
    await client.patch(URL, headers=server, json={"session": True})
    cached = await service.cached_profile(container.uow, "p-1")
    assert cached is not None
    assert cached.sessions == 1
    await client.delete(URL, headers=await auth("admin"))
    assert await service.cached_profile(container.uow, "p-1") is None
    assert announced == ["p-1", "p-1", "p-1"]


async def test_a_refused_write_announces_nothing(
    client: httpx.AsyncClient, server: Headers, container: Container
) -> None:
    announced: list[str] = []

    async def on_written(signal: PlayerWritten) -> None:
        announced.append(signal.player_id)

    container.signals.connect(PlayerWritten, on_written, phase=AFTER_COMMIT)
    await client.put(URL, headers=server, json={"attributes": {"level": 1}})
    cached = await container.players.cached_profile(container.uow, "p-1")
    problem(await client.put(URL, headers=server, json={"attributes": {"sessions": 9}}), 422)
    assert announced == ["p-1"]
    assert await container.players.cached_profile(container.uow, "p-1") is cached


async def test_invalidate_forgets_one_player(client: httpx.AsyncClient, server: Headers, container: Container) -> None:
    await client.put(URL, headers=server, json={"attributes": {"level": 1}})
    first = await container.players.cached_profile(container.uow, "p-1")
    assert await container.players.cached_profile(container.uow, "p-1") is first
    container.players.invalidate("p-1")
    again = await container.players.cached_profile(container.uow, "p-1")
    assert again == first
    assert again is not first


async def test_a_bus_that_was_away_forgets_every_cached_profile(
    client: httpx.AsyncClient, server: Headers, container: Container
) -> None:
    for player in ("p-1", "p-2"):
        await client.put(f"/api/v1/players/{player}", headers=server, json={"attributes": {"level": 1}})
    first = {p: await container.players.cached_profile(container.uow, p) for p in ("p-1", "p-2")}
    # Writes announced while the bus was away were lost; a bus that listens again says RESYNC.
    bus = container.bus
    if isinstance(bus, InProcessBus):
        await bus.publish(RESYNC)
    else:  # what a listener that connected again hands its receivers first
        assert isinstance(bus, RedisBus | PostgresBus)
        for receiver in bus._handlers:
            await receiver(RESYNC)
    for player, profile in first.items():
        again = await container.players.cached_profile(container.uow, player)
        assert again == profile
        assert again is not profile


async def test_a_failing_listener_does_not_fail_the_write(
    client: httpx.AsyncClient, server: Headers, op: Headers, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []

    async def broken(signal: PlayerWritten) -> None:
        raise ConnectionError("bus down")

    container.signals.connect(PlayerWritten, broken, phase=AFTER_COMMIT)
    container.signals.connect(PlayerWritten, lambda s: heard.append(s.player_id), phase=AFTER_COMMIT)
    r = await client.put(URL, headers=server, json={"attributes": {"a": 1}})
    assert r.status_code == 201, r.text  # committed: a listener's failure is not the writer's
    assert heard == ["p-1"]  # and the listeners after it still hear
    assert "bus down" in caplog.text
    failures = container.metrics.after_commit_failures.labels(f"PlayerWritten:{broken.__qualname__}")
    assert failures._value.get() == 1
    assert (await export(client, op))["attributes"] == {"a": 1}
