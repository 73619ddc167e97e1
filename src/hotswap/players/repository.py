"""Queries for player profiles. Counters move in SQL (`sessions = sessions + 1`), so concurrent
reports from several game servers add up instead of overwriting each other."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.players.model import PlayerProfile
from hotswap.players.tables import players

_SPEND = sa.Numeric(18, 4)


def _profile(row: Any) -> PlayerProfile:
    d = dict(row._mapping)
    # SQLite keeps NUMERIC as a binary float, so sums drift (0.1 + 0.2); the column's scale is 4.
    d["total_spend"] = round(float(d["total_spend"]), 4)
    d["attributes"] = d["attributes"] if isinstance(d["attributes"], dict) else {}
    return PlayerProfile(**d)


def _amount(value: float) -> Any:
    # A decimal literal, so PostgreSQL adds numeric to numeric rather than through a double.
    return sa.cast(sa.literal(str(Decimal(repr(value)).quantize(Decimal("0.0001")))), _SPEND)


class PlayerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, player_id: str, *, for_update: bool = False) -> PlayerProfile | None:
        query = sa.select(players).where(players.c.id == player_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _profile(row)

    async def insert(
        self,
        player_id: str,
        attributes: dict[str, Any],
        *,
        now: datetime,
        sessions: int = 0,
        spend: float = 0.0,
    ) -> None:
        await self.conn.execute(
            players.insert().values(
                id=player_id,
                attributes=attributes,
                first_seen=now,
                last_seen=now,
                sessions=sessions,
                total_spend=_amount(spend),
                created_at=now,
                updated_at=now,
                revision=1,
            )
        )

    async def update(
        self,
        player_id: str,
        *,
        now: datetime,
        attributes: dict[str, Any] | None = None,
        session: bool = False,
        spend: float | None = None,
    ) -> bool:
        """Apply one change; False when there is no such player. Activity (a session, a purchase)
        moves `last_seen`; attributes alone do not."""
        t = players.c
        values: dict[str, Any] = {"updated_at": now, "revision": t.revision + 1}
        if attributes is not None:
            values["attributes"] = attributes
        if session:
            values["sessions"] = t.sessions + 1
        if spend is not None:
            values["total_spend"] = t.total_spend + _amount(spend)
        if session or spend is not None:
            values["last_seen"] = now
        result = await self.conn.execute(players.update().where(t.id == player_id).values(**values))
        return bool(result.rowcount)

    async def delete(self, player_id: str) -> bool:
        result = await self.conn.execute(players.delete().where(players.c.id == player_id))
        return bool(result.rowcount)

    async def scan(self, *, after_id: str | None, limit: int) -> list[PlayerProfile]:
        query = sa.select(players).order_by(players.c.id).limit(limit)
        if after_id is not None:
            query = query.where(players.c.id > after_id)
        return [_profile(r) for r in (await self.conn.execute(query)).all()]

    async def recently_active(self, *, since: datetime, limit: int) -> list[PlayerProfile]:
        """Players seen (a session or a purchase) at `since` or later, the most recent first."""
        t = players.c
        query = sa.select(players).where(t.last_seen >= since).order_by(t.last_seen.desc(), t.id).limit(limit)
        return [_profile(r) for r in (await self.conn.execute(query)).all()]
