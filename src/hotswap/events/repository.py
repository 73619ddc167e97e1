"""Queries for live events, their windows, history and timers."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.event_templates.model import EventClass
from hotswap.events.model import (
    DEAD,
    OPEN,
    PENDING,
    PLANNED,
    SUPERSEDED,
    EventRow,
    EventStatus,
    TimerRow,
    WindowRow,
)
from hotswap.events.tables import event_timers, live_event_history, live_event_versions, live_event_windows, live_events


def _event(row: Any) -> EventRow:
    values = dict(row._mapping)
    values["status"] = EventStatus(values["status"])
    values["event_class"] = EventClass(values["event_class"])
    return EventRow(**values)


class EventRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_schedule(self, environment: str) -> None:
        """Serialize the writes that the scheduling rules judge, per environment: two events
        created at once must not both fit in the last free place (SQLite: writers are serialized)."""
        if self.conn.dialect.name == "postgresql":
            key = zlib.crc32(f"live-events:{environment}".encode()) - 2**31
            await self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    async def add(self, values: dict[str, Any]) -> None:
        await self.conn.execute(live_events.insert().values(**values))

    async def get(self, event_id: str, *, for_update: bool = False) -> EventRow | None:
        query = sa.select(live_events).where(live_events.c.id == event_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _event(row)

    async def update(self, event_id: str, values: dict[str, Any]) -> None:
        await self.conn.execute(
            live_events.update()
            .where(live_events.c.id == event_id)
            .values(**values, revision=live_events.c.revision + 1)
        )

    async def planned(self, environment: str, start: datetime, end: datetime) -> list[EventRow]:
        """Events the rules count whose span comes within `start`..`end` (callers widen it)."""
        e = live_events.c
        query = (
            sa.select(live_events)
            .where(
                e.environment == environment,
                e.status.in_(sorted(s.value for s in PLANNED)),
                e.start_at < end,
                e.end_at > start,
            )
            .order_by(e.start_at, e.id)
        )
        return [_event(r) for r in (await self.conn.execute(query)).all()]

    async def between(
        self,
        start: datetime,
        end: datetime,
        *,
        environment: str | None,
        event_type: str | None,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[EventRow]:
        """By start, then id; `after` a (start, id) position: the rows past it."""
        e = live_events.c
        query = (
            sa.select(live_events)
            .where(e.start_at < end, e.end_at > start, e.status != EventStatus.ARCHIVED.value)
            .order_by(e.start_at, e.id)
        )
        if after is not None:
            query = query.where(sa.or_(e.start_at > after[0], sa.and_(e.start_at == after[0], e.id > after[1])))
        if environment is not None:
            query = query.where(e.environment == environment)
        if event_type is not None:
            query = query.where(e.event_type == event_type)
        return [_event(r) for r in (await self.conn.execute(query.limit(limit))).all()]

    async def rows(
        self, *, after_id: str | None, limit: int, environment: str | None, status: str | None
    ) -> list[EventRow]:
        e = live_events.c
        query = sa.select(live_events).order_by(e.id).limit(limit)
        if after_id is not None:
            query = query.where(e.id > after_id)
        if environment is not None:
            query = query.where(e.environment == environment)
        if status is not None:
            query = query.where(e.status == status)
        return [_event(r) for r in (await self.conn.execute(query)).all()]

    # -- versions and history ---------------------------------------------------------------

    async def add_version(self, values: dict[str, Any]) -> None:
        await self.conn.execute(live_event_versions.insert().values(**values))

    async def versions(self, event_id: str) -> dict[int, dict[str, Any]]:
        v = live_event_versions.c
        rows = await self.conn.execute(sa.select(v.version, v.spec).where(v.event_id == event_id))
        return {r.version: r.spec for r in rows}

    async def record(self, values: dict[str, Any]) -> None:
        await self.conn.execute(live_event_history.insert().values(**values))

    async def history(self, event_id: str, *, after: int | None, limit: int) -> list[Any]:
        h = live_event_history.c
        query = sa.select(live_event_history).where(h.event_id == event_id).order_by(h.id).limit(limit)
        if after is not None:
            query = query.where(h.id > after)
        return list((await self.conn.execute(query)).all())

    # -- windows ----------------------------------------------------------------------------

    async def windows(self, event_ids: Sequence[str]) -> dict[str, list[WindowRow]]:
        if not event_ids:
            return {}
        w = live_event_windows.c
        query = sa.select(live_event_windows).where(w.event_id.in_(sorted(set(event_ids)))).order_by(w.region)
        out: dict[str, list[WindowRow]] = {}
        for row in (await self.conn.execute(query)).all():
            out.setdefault(row.event_id, []).append(WindowRow(**dict(row._mapping)))
        return out

    async def put_window(self, values: dict[str, Any]) -> None:
        await self.conn.execute(live_event_windows.insert().values(**values))

    async def update_window(self, event_id: str, region: str, values: dict[str, Any]) -> None:
        w = live_event_windows.c
        await self.conn.execute(
            live_event_windows.update().where(w.event_id == event_id, w.region == region).values(**values)
        )

    async def delete_window(self, event_id: str, region: str) -> None:
        w = live_event_windows.c
        await self.conn.execute(live_event_windows.delete().where(w.event_id == event_id, w.region == region))

    # -- timers -----------------------------------------------------------------------------

    async def add_timers(self, values: list[dict[str, Any]]) -> None:
        if values:
            await self.conn.execute(event_timers.insert(), values)

    async def supersede_timers(self, event_id: str) -> None:
        t = event_timers.c
        await self.conn.execute(
            event_timers.update().where(t.event_id == event_id, t.state == PENDING).values(state=SUPERSEDED)
        )

    async def due_events(self, now: datetime, limit: int) -> list[str]:
        """Events with a pending timer due by `now`, the most overdue first."""
        t = event_timers.c
        first = sa.func.min(t.next_at)
        query = (
            sa.select(t.event_id, first.label("first"))
            .where(t.state == PENDING, t.next_at <= now)
            .group_by(t.event_id)
            .order_by(first, t.event_id)
            .limit(limit)
        )
        return [r.event_id for r in (await self.conn.execute(query)).all()]

    async def due_timers(self, event_id: str, now: datetime) -> list[TimerRow]:
        """The event's pending timers due by `now`, in the order they fall due; locked, and
        skipped when another worker holds them (PostgreSQL)."""
        t = event_timers.c
        query = (
            sa.select(event_timers)
            .where(t.event_id == event_id, t.state == PENDING, t.next_at <= now)
            .order_by(t.due_at, sa.case((t.action == OPEN, 0), else_=1), t.id)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [TimerRow(**dict(r._mapping)) for r in (await self.conn.execute(query)).all()]

    async def next_due(self) -> datetime | None:
        t = event_timers.c
        value: datetime | None = await self.conn.scalar(sa.select(sa.func.min(t.next_at)).where(t.state == PENDING))
        return value

    async def update_timer(self, timer_id: int, values: dict[str, Any]) -> None:
        await self.conn.execute(event_timers.update().where(event_timers.c.id == timer_id).values(**values))

    async def timer(self, timer_id: int, *, for_update: bool = False) -> TimerRow | None:
        query = sa.select(event_timers).where(event_timers.c.id == timer_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else TimerRow(**dict(row._mapping))

    async def dead_timers(self, *, after_id: int | None, limit: int) -> list[TimerRow]:
        t = event_timers.c
        query = sa.select(event_timers).where(t.state == DEAD).order_by(t.id).limit(limit)
        if after_id is not None:
            query = query.where(t.id > after_id)
        return [TimerRow(**dict(r._mapping)) for r in (await self.conn.execute(query)).all()]
