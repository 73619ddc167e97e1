"""Erasing a player erases everything stored under its id, in every slice, in one transaction:
its profile, its activity and deployment units (analysis), its participation in live events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.core.errors import Conflict
from hotswap.core.signals import IN_TRANSACTION
from hotswap.players.signals import PlayerErased
from hotswap.storage.metadata import metadata
from tests.analysis.support import metrics_of, running, sample, send
from tests.events.test_engagement import create_event
from tests.events.test_engagement import metrics as event_metrics
from tests.helpers import Auth, Headers, problem
from tests.rollouts.support import served

# Where a player's id is stored before its erasure: every one of these must be emptied of it.
STORED = {"players.id", "player_activity.player_id", "deployment_units.unit_id", "event_participants.player_id"}


def _holds(column: sa.Column[Any], value: str) -> sa.ColumnElement[bool] | None:
    if isinstance(column.type, sa.String):
        return column == value
    if isinstance(getattr(column.type, "impl_instance", None), sa.JSON):  # the value anywhere in the document
        return sa.cast(column, sa.Text).contains(f'"{value}"')
    return None


async def rows_naming(container: Container, value: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table with a text or JSON column holding `value`, by `table.column`."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with container.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for column in table.columns:
                condition = _holds(column, value)
                if condition is None:
                    continue
                rows = (await conn.execute(sa.select(table).where(condition))).all()
                if rows:
                    found[f"{table.name}.{column.name}"] = sorted((tuple(r) for r in rows), key=repr)
    return found


async def arm_of(client: httpx.AsyncClient, server: Headers, player: str) -> str:
    body = await served(client, server, "balance", playerId=player)
    assert body is not None
    arm: str = body["rollout"]["arm"]
    return arm


async def played(client: httpx.AsyncClient, server: Headers, deployment: str, *players: str) -> None:
    """Each player's profile, a session and a purchase under the deployment in live event e1."""
    samples = []
    for player in players:
        r = await client.put(f"/api/v1/players/{player}", headers=server, json={"attributes": {"level": 3}})
        assert r.status_code == 201, r.text
        arm = await arm_of(client, server, player)
        samples += [
            sample(deployment, arm, "session_start", playerId=player, eventId="e1"),
            sample(deployment, arm, "purchase", playerId=player, eventId="e1", value=4.99),
            sample(deployment, arm, "complaint", playerId=player),
        ]
    r = await send(client, server, samples)
    assert r.status_code == 200, r.text


@pytest.fixture
async def deployment(client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock) -> str:
    """A running deployment of `balance` over players (servers na-1, na-2, eu-1) and live event e1, under way."""
    found = (await running(client, op, server))["id"]
    await create_event(client, op, clock)
    clock.advance(timedelta(hours=2))
    return str(found)


async def test_erasure_leaves_no_row_holding_the_player_id_and_others_untouched(
    client: httpx.AsyncClient, server: Headers, op: Headers, auth: Auth, container: Container, deployment: str
) -> None:
    await played(client, server, deployment, "p-1", "p-2")
    assert set(await rows_naming(container, "p-1")) == STORED
    others = await rows_naming(container, "p-2")
    assert set(others) == STORED

    r = await client.delete("/api/v1/players/p-1", headers=await auth("admin", "ada"))
    assert r.status_code == 204, r.text

    left = await rows_naming(container, "p-1")
    assert list(left) == ["audit_records.target_id"]  # the erasure's own entry: who, not what
    assert await rows_naming(container, "p-2") == others
    found = await event_metrics(client, op)
    assert (found["participants"], found["purchases"], found["revenue"]) == (1, 1, pytest.approx(4.99))
    arms = (await metrics_of(client, op, deployment))["arms"]
    assert sum(arm["players"] for arm in arms.values()) == 1
    assert sum(arm["playerComplaints"] for arm in arms.values()) == 1


async def test_a_game_server_of_the_same_id_keeps_its_rows(
    client: httpx.AsyncClient, server: Headers, auth: Auth, container: Container, deployment: str
) -> None:
    await played(client, server, deployment, "na-1")  # reported by game server na-1 itself
    units = await rows_naming(container, "na-1")
    assert {row[1] for row in units["deployment_units.unit_id"]} == {"player", "server"}

    r = await client.delete("/api/v1/players/na-1", headers=await auth("admin"))
    assert r.status_code == 204, r.text

    left = await rows_naming(container, "na-1")
    assert left["deployment_units.unit_id"] == [row for row in units["deployment_units.unit_id"] if row[1] == "server"]
    assert left["game_servers.id"] == units["game_servers.id"]
    assert not set(left) & (STORED - {"deployment_units.unit_id"})


async def test_a_player_seen_only_in_metrics_is_erased_too(
    client: httpx.AsyncClient, server: Headers, auth: Auth, container: Container, deployment: str
) -> None:
    arm = await arm_of(client, server, "p-3")
    r = await send(client, server, [sample(deployment, arm, "session_start", playerId="p-3", eventId="e1")])
    assert r.status_code == 200, r.text
    assert set(await rows_naming(container, "p-3")) == STORED - {"players.id"}  # no profile was ever stored

    admin = await auth("admin")
    r = await client.delete("/api/v1/players/p-3", headers=admin)
    assert r.status_code == 204, r.text
    assert list(await rows_naming(container, "p-3")) == ["audit_records.target_id"]
    problem(await client.delete("/api/v1/players/p-3", headers=admin), 404)  # nothing left to erase


async def test_an_erasure_that_fails_part_way_erases_nothing(
    client: httpx.AsyncClient,
    server: Headers,
    auth: Auth,
    container: Container,
    deployment: str,
) -> None:
    await played(client, server, deployment, "p-1")
    before = await rows_naming(container, "p-1")

    async def fails(*_: Any) -> int:
        raise Conflict("the last step failed")

    # The last subscriber: after the profile, activity, units and participation are deleted.
    container.signals.connect(PlayerErased, fails, phase=IN_TRANSACTION)
    problem(await client.delete("/api/v1/players/p-1", headers=await auth("admin")), 409)
    assert await rows_naming(container, "p-1") == before
