"""Queries for regions and game servers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.core.environments import Environment, stored_environment
from hotswap.fleet.model import GameServer, Region
from hotswap.fleet.tables import game_servers, regions

# Ids per `IN (...)`: well under what SQLite (32,766) and asyncpg (32,767) take as parameters,
# and enough for a whole fleet of the size we plan for in one statement.
ID_CHUNK = 10_000


def _region(row: Any) -> Region:
    d = dict(row._mapping)
    d["aliases"] = tuple(d["aliases"] or ())
    return Region(**d)


def _server(row: Any) -> GameServer:
    d = dict(row._mapping)
    env = d["environment"]
    d["environment"] = stored_environment(env)
    for key in ("labels", "health", "config_versions"):
        d[key] = d[key] if isinstance(d[key], dict) else {}
    return GameServer(**d)


@dataclass(frozen=True, slots=True)
class ServerQuery:
    """Which servers: every given condition holds. `fresh_since` splits healthy from not."""

    region: str | None = None
    game: str | None = None
    environment: Environment | None = None
    ids: Sequence[str] | None = None
    healthy: bool | None = None
    fresh_since: datetime | None = None  # a heartbeat at or after this instant is healthy

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        t = game_servers.c
        out: list[sa.ColumnElement[bool]] = []
        if self.region is not None:
            out.append(t.region == self.region)
        if self.game is not None:
            out.append(t.game == self.game)
        if self.environment is not None:
            out.append(t.environment == self.environment.value)
        if self.healthy is not None:
            assert self.fresh_since is not None
            fresh = t.last_heartbeat_at >= self.fresh_since
            out.append(fresh if self.healthy else sa.not_(fresh))
        return out


class RegionRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_for_writing(self) -> None:
        """Serialize region writes, so that checking names are free and then writing them is one
        step (aliases live in a JSON list, which no unique index covers). Reads, and foreign-key
        checks of server registrations, are not blocked. SQLite: writers are serialized already."""
        if self.conn.dialect.name == "postgresql":
            await self.conn.execute(sa.text("LOCK TABLE regions IN SHARE ROW EXCLUSIVE MODE"))

    async def lock_for_reading(self) -> None:
        """Wait for a region write under way, and hold region writes off until the transaction
        ends (other readers and holders are not blocked). SQLite: writers are serialized already."""
        if self.conn.dialect.name == "postgresql":
            await self.conn.execute(sa.text("LOCK TABLE regions IN SHARE MODE"))

    async def all(self) -> list[Region]:
        """In rollout order, then by id (sorted here: the same on every database's collation)."""
        found = [_region(r) for r in (await self.conn.execute(sa.select(regions))).all()]
        return sorted(found, key=lambda r: (r.rollout_order, r.id))

    async def add(self, values: dict[str, Any]) -> None:
        await self.conn.execute(regions.insert().values(**values))

    async def update(self, region_id: str, values: dict[str, Any]) -> None:
        await self.conn.execute(
            regions.update().where(regions.c.id == region_id).values(**values, revision=regions.c.revision + 1)
        )

    async def delete(self, region_id: str) -> None:
        await self.conn.execute(regions.delete().where(regions.c.id == region_id))


class ServerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, server_id: str) -> GameServer | None:
        row = (await self.conn.execute(sa.select(game_servers).where(game_servers.c.id == server_id))).first()
        return None if row is None else _server(row)

    async def insert(self, values: dict[str, Any]) -> None:
        await self.conn.execute(game_servers.insert().values(**values))

    async def update(self, server_id: str, values: dict[str, Any]) -> bool:
        """One UPDATE; False when there is no such server."""
        result = await self.conn.execute(game_servers.update().where(game_servers.c.id == server_id).values(**values))
        return bool(result.rowcount)

    async def delete(self, server_id: str) -> bool:
        result = await self.conn.execute(game_servers.delete().where(game_servers.c.id == server_id))
        return bool(result.rowcount)

    async def in_region(self, region_id: str, *, limit: int) -> tuple[int, list[str]]:
        """How many servers are registered in the region, and the first `limit` of their ids."""
        t = game_servers.c
        count = (await self.conn.execute(sa.select(sa.func.count()).where(t.region == region_id))).scalar_one()
        ids = (
            (await self.conn.execute(sa.select(t.id).where(t.region == region_id).order_by(t.id).limit(limit)))
            .scalars()
            .all()
        )
        return int(count), list(ids)

    async def page(self, query: ServerQuery, *, after_id: str | None, limit: int) -> list[GameServer]:
        t = game_servers.c
        statement = sa.select(game_servers).where(*query.conditions()).order_by(t.id).limit(limit)
        if after_id is not None:
            statement = statement.where(t.id > after_id)
        return [_server(r) for r in (await self.conn.execute(statement)).all()]

    async def select(self, query: ServerQuery) -> list[GameServer]:
        """Every server the query names, in id order (code point order, whatever the database's
        collation; a statement per ID_CHUNK ids)."""
        base = sa.select(game_servers).where(*query.conditions())
        if query.ids is None:
            found = [_server(r) for r in (await self.conn.execute(base)).all()]
        else:
            found = []
            for chunk in _chunks(query.ids):
                rows = (await self.conn.execute(base.where(game_servers.c.id.in_(chunk)))).all()
                found.extend(_server(r) for r in rows)
        return sorted(found, key=lambda s: s.id)

    async def regions_of(self, server_ids: Sequence[str], chunk: int = 500) -> dict[str, str]:
        s = game_servers.c
        found: dict[str, str] = {}
        for start in range(0, len(server_ids), chunk):
            rows = await self.conn.execute(sa.select(s.id, s.region).where(s.id.in_(server_ids[start : start + chunk])))
            found.update({r.id: r.region for r in rows})
        return found

    async def record_heartbeats(self, changes: Mapping[str, dict[str, Any]], now: datetime) -> set[str]:
        """One batch of heartbeats: a SELECT of which of the servers exist, then one executemany
        UPDATE per shape of change (the same columns). Returns the servers that exist."""
        t = game_servers.c
        ids: Sequence[str] = list(changes)
        known = set((await self.conn.execute(sa.select(t.id).where(t.id.in_(ids)))).scalars())
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for server_id in ids:
            if server_id in known:
                shapes.setdefault(tuple(sorted(changes[server_id])), []).append(
                    {"b_id": server_id, "last_heartbeat_at": now, **changes[server_id]}
                )
        for columns, rows in shapes.items():
            values: dict[str, Any] = {name: sa.bindparam(name) for name in (*columns, "last_heartbeat_at")}
            await self.conn.execute(game_servers.update().where(t.id == sa.bindparam("b_id")).values(values), rows)
        return known

    async def count_applied(self, server_ids: Sequence[str], environment: Environment, revision: int) -> int:
        t = game_servers.c
        total = 0
        for chunk in _chunks(server_ids):
            statement = sa.select(sa.func.count()).where(
                t.id.in_(chunk), t.environment == environment.value, t.applied_revision >= revision
            )
            total += int((await self.conn.execute(statement)).scalar_one())
        return total


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = sorted(set(ids))
    return [unique[i : i + ID_CHUNK] for i in range(0, len(unique), ID_CHUNK)]
