"""Heartbeats: what they record, what they refuse, how health follows the clock, and that each
is one UPDATE with nothing read first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.core.environments import Environment
from hotswap.core.errors import InvalidInput
from hotswap.fleet import model as m
from hotswap.fleet.beats import HeartbeatWriter
from hotswap.fleet.hot import parse_heartbeat
from tests.fleet.support import audit_actions, heartbeat, register
from tests.helpers import Auth, CountRows, Headers, fields, problem

FULL: dict[str, Any] = {
    "playerCount": 48,
    "health": {"cpu": 0.71, "memory": 0.5, "tickRate": 60, "errorRate": 0.001},
    "environment": "Production",
    "appliedRevision": 12,
    "configVersions": {"weapon-balance": "2.1.0", "economy": "1.0.3"},
}


async def stored(client: httpx.AsyncClient, headers: Headers, server_id: str = "gs-eu-1") -> dict[str, Any]:
    r = await client.get(f"/api/v1/servers/{server_id}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_heartbeat_records_what_it_reports(
    client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    await register(client, server)
    clock.advance(timedelta(seconds=5))
    r = await heartbeat(client, server, "gs-eu-1", **FULL)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "gs-eu-1", "lastHeartbeatAt": "2026-06-01T12:00:05Z", "heartbeatTimeoutSeconds": 30.0}
    after = await stored(client, op)
    assert {k: after[k] for k in FULL} == {**FULL, "health": {**FULL["health"], "tickRate": 60.0}}
    assert (after["lastHeartbeatAt"], after["healthy"]) == ("2026-06-01T12:00:05Z", True)


async def test_a_heartbeat_changes_only_the_fields_it_sends(
    client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    await register(client, server)
    assert (await heartbeat(client, server, "gs-eu-1", **FULL)).status_code == 200
    clock.advance(timedelta(seconds=5))
    assert (await heartbeat(client, server, "gs-eu-1", playerCount=50)).status_code == 200
    after = await stored(client, op)
    assert {k: after[k] for k in FULL} == {**FULL, "playerCount": 50, "health": after["health"]}
    assert after["health"]["cpu"] == 0.71
    assert (await heartbeat(client, server, "gs-eu-1", environment=None, appliedRevision=None)).status_code == 200
    cleared = await stored(client, op)
    assert (cleared["environment"], cleared["appliedRevision"], cleared["playerCount"]) == (None, None, 50)


@pytest.mark.parametrize("body", [b"", b"{}", b"  \n"])
async def test_an_empty_heartbeat_is_a_liveness_ping(
    body: bytes, client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    await register(client, server)
    assert (await heartbeat(client, server, "gs-eu-1", **FULL)).status_code == 200
    before = await stored(client, op)
    clock.advance(timedelta(seconds=25))
    json_type = {"Content-Type": "application/json"} if body.strip() else {}
    r = await client.put("/api/v1/servers/gs-eu-1/heartbeat", headers=server | json_type, content=body)
    assert r.status_code == 200, r.text
    after = await stored(client, op)
    assert after == {**before, "lastHeartbeatAt": "2026-06-01T12:00:25Z"}


async def test_health_turns_false_past_the_timeout_and_back_with_a_heartbeat(
    client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    await register(client, server, id="quiet")
    await register(client, server, id="chatty")
    clock.advance(timedelta(seconds=30))
    assert [(await stored(client, op, s))["healthy"] for s in ("quiet", "chatty")] == [True, True]
    assert (await heartbeat(client, server, "chatty")).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert (await stored(client, op, "quiet"))["healthy"] is False
    assert (await stored(client, op, "chatty"))["healthy"] is True
    unhealthy = await client.get("/api/v1/servers", headers=op, params={"healthy": "false"})
    assert [(s["id"], s["healthy"]) for s in unhealthy.json()["items"]] == [("quiet", False)]
    healthy = await client.get("/api/v1/servers", headers=op, params={"healthy": "true"})
    assert [(s["id"], s["healthy"]) for s in healthy.json()["items"]] == [("chatty", True)]
    assert (await heartbeat(client, server, "quiet")).status_code == 200
    assert (await stored(client, op, "quiet"))["healthy"] is True


async def test_an_unknown_server_is_404(client: httpx.AsyncClient, server: Headers, count_rows: CountRows) -> None:
    body = problem(await heartbeat(client, server, "nobody", playerCount=1), 404)
    assert "POST /api/v1/servers" in body["detail"]
    assert body["instance"] == "/api/v1/servers/nobody/heartbeat"
    assert await count_rows("game_servers") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"playerCount": -1}, "body.playerCount"),
        ({"playerCount": 1.5}, "body.playerCount"),
        ({"playerCount": True}, "body.playerCount"),
        ({"playerCount": None}, "body.playerCount"),
        ({"health": {"cpu": "high"}}, "body.health"),
        ({"health": {"bad key": 1}}, "body.health"),
        ({"health": {f"m{i}": 1 for i in range(33)}}, "body.health"),
        ({"health": [1, 2]}, "body.health"),
        ({"environment": "Prod"}, "body.environment"),
        ({"environment": 3}, "body.environment"),
        ({"appliedRevision": -1}, "body.appliedRevision"),
        ({"appliedRevision": 2**63}, "body.appliedRevision"),
        ({"configVersions": {"balance": ""}}, "body.configVersions"),
        ({"configVersions": {"-bad": "1.0.0"}}, "body.configVersions"),
        ({"players": 3}, "body.players"),
    ],
)
async def test_invalid_heartbeats_are_422_naming_the_field_and_change_nothing(
    body: dict[str, Any], field: str, client: httpx.AsyncClient, server: Headers, op: Headers, clock: ManualClock
) -> None:
    await register(client, server)
    before = await stored(client, op)
    clock.advance(timedelta(seconds=5))
    assert fields(problem(await heartbeat(client, server, "gs-eu-1", **body), 422)) == [field]
    assert await stored(client, op) == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"health": {"cpu": 1e400}}', "body.health.cpu"),
        (b'{"health": {"cpu": -1e400}}', "body.health.cpu"),
        (b"not json", "body"),
        (b"[]", "body"),
        (b"null", "body"),
        (b'{"playerCount": 1', "body"),
        (b'{"health": {"cpu\\n": 1}}', "body.health"),
    ],
)
async def test_bodies_that_are_not_heartbeats_are_422(
    raw: bytes, field: str, client: httpx.AsyncClient, server: Headers
) -> None:
    await register(client, server)
    r = await client.put(
        "/api/v1/servers/gs-eu-1/heartbeat", headers=server | {"Content-Type": "application/json"}, content=raw
    )
    assert fields(problem(r, 422)) == [field]


async def test_a_path_that_cannot_be_a_server_id_is_422(client: httpx.AsyncClient, server: Headers) -> None:
    r = await client.put("/api/v1/servers/a%20b/heartbeat", headers=server, json={})
    assert fields(problem(r, 422)) == ["path.serverId"]


async def test_heartbeats_need_the_report_permission(client: httpx.AsyncClient, server: Headers, auth: Auth) -> None:
    await register(client, server)
    problem(await heartbeat(client, await auth("viewer"), "gs-eu-1"), 403)
    problem(await client.put("/api/v1/servers/gs-eu-1/heartbeat", json={}), 401)
    assert (await heartbeat(client, await auth("operator"), "gs-eu-1")).status_code == 200


async def test_heartbeats_are_not_audited(client: httpx.AsyncClient, server: Headers, op: Headers) -> None:
    await register(client, server)
    for count in range(3):
        assert (await heartbeat(client, server, "gs-eu-1", playerCount=count)).status_code == 200
    assert await audit_actions(client, op, "server", "gs-eu-1") == ["server.register"]


@pytest.fixture
def statements(container: Container) -> Iterator[list[str]]:
    """The SQL statements the app runs (not BEGIN/COMMIT), as they run."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    sa.event.listen(container.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(container.engine.sync_engine, "before_cursor_execute", record)


async def test_heartbeats_arriving_together_share_one_transaction(
    client: httpx.AsyncClient, server: Headers, statements: list[str], container: Container
) -> None:
    for i in range(20):
        await register(client, server, id=f"gs-{i}")
    assert (await heartbeat(client, server, "gs-0")).status_code == 200  # the token is now known
    statements.clear()
    beats = [heartbeat(client, server, f"gs-{i}", playerCount=i) for i in range(20)]
    beats.append(heartbeat(client, server, "nobody", playerCount=1))
    answers = await asyncio.gather(*beats)
    assert [a.status_code for a in answers] == [200] * 20 + [404]
    # The first heartbeat starts a batch at once; the others gather into the next one. Each batch
    # is one SELECT (which servers exist) and one UPDATE per shape of change.
    selects = [q for q in statements if q.startswith("SELECT")]
    updates = [q for q in statements if q.startswith("UPDATE game_servers SET")]
    assert 1 <= len(selects) <= 3
    assert 1 <= len(updates) <= 3
    assert len(statements) == len(selects) + len(updates)
    stored = {s.id: s.player_count for s in await _servers(container)}
    assert all(stored[f"gs-{i}"] == i for i in range(20))


async def test_the_same_server_twice_in_a_batch_keeps_the_later_values(
    client: httpx.AsyncClient, server: Headers, container: Container
) -> None:
    await register(client, server, id="gs-1")
    answers = await asyncio.gather(
        heartbeat(client, server, "gs-1", playerCount=1),
        heartbeat(client, server, "gs-1", playerCount=2, health={"cpu": 0.5}),
        heartbeat(client, server, "gs-1", playerCount=3),
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    (stored,) = await _servers(container)
    assert (stored.player_count, stored.health) == (3, {"cpu": 0.5})


async def _servers(container: Container) -> list[m.GameServer]:
    async with container.uow(read_only=True) as uow:
        return await container.fleet.servers(uow)


def test_a_heartbeat_body_is_parsed_into_only_what_it_says() -> None:
    beat = parse_heartbeat(b'{"environment": "staging", "appliedRevision": null, "health": {"cpu": 1}}')
    assert beat == m.Heartbeat(health={"cpu": 1.0}, environment=Environment.STAGING, applied_revision=None)
    assert parse_heartbeat(b"{}") == m.Heartbeat()
    with pytest.raises(InvalidInput):
        parse_heartbeat(b'{"configVersions": {"balance": "1.0.0\\n"}}')


async def test_a_stopped_heartbeat_writer_answers_every_waiting_caller() -> None:
    started = asyncio.Event()

    class Hanging:  # a store that never answers
        def __call__(self, *args: Any, **kwargs: Any) -> Hanging:
            return self

        async def __aenter__(self) -> None:
            started.set()
            await asyncio.Event().wait()

        async def __aexit__(self, *args: Any) -> None:
            return None

    writer = HeartbeatWriter(Hanging())  # type: ignore[arg-type]
    in_flight = asyncio.create_task(writer.record("gs-1", m.Heartbeat()))
    await started.wait()
    gathering = asyncio.create_task(writer.record("gs-2", m.Heartbeat()))
    await asyncio.sleep(0)  # a yield: it joins the next batch
    assert writer._flushing is not None
    writer._flushing.cancel()
    for caller in (in_flight, gathering):
        with pytest.raises(ConnectionError):
            await caller
