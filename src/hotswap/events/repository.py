"""Queries for live events, their windows, history and timers."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.analysis.ingest import Participation
from hotswap.core.environments import Environment
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
    Totals,
    WindowRow,
)
from hotswap.events.tables import (
    event_participants,
    event_timers,
    live_event_history,
    live_event_versions,
    live_event_windows,
    live_events,
)

PARTICIPATION_CHUNK = 500  # rows per statement


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

    # -- what the snapshot serves -------------------------------------------------------------

    async def serving(self, environment: Environment) -> list[Any]:
        """Each Active event of the environment with each of its open windows, by id and region."""
        e, w = live_events.c, live_event_windows.c
        query = (
            sa.select(e.id, e.version, e.event_type, e.event_class, e.spec, w.region, w.start_at, w.end_at)
            .join(live_event_windows, w.event_id == e.id)
            .where(
                e.environment == environment.value,
                e.status == EventStatus.ACTIVE.value,
                w.opened_at.is_not(None),
                w.closed_at.is_(None),
            )
            .order_by(e.id, w.region)
        )
        return list((await self.conn.execute(query)).all())

    # -- what other slices' changes touch -----------------------------------------------------

    async def planned_targeting(self, *, segment: str | None = None, region: str | None = None) -> list[str]:
        """Ids of the planned events (Scheduled, Active, Paused) that target the segment, or name
        the region among theirs, by id. PostgreSQL narrows the rows with jsonb containment; the
        spec is checked here either way."""
        e = live_events.c
        query = sa.select(e.id, e.spec).where(e.status.in_(sorted(s.value for s in PLANNED))).order_by(e.id)
        if self.conn.dialect.name == "postgresql":
            wanted: dict[str, Any] = {"segment": segment} if segment is not None else {"regions": [region]}
            query = query.where(sa.type_coerce(e.spec, JSONB).contains(wanted))
        rows = (await self.conn.execute(query)).all()
        if segment is not None:
            return [r.id for r in rows if r.spec.get("segment") == segment]
        return [r.id for r in rows if region in (r.spec.get("regions") or [])]

    # -- participation (from metric samples tagged with an event) -----------------------------

    async def statuses_and_windows(self, ids: Sequence[str]) -> dict[str, tuple[EventStatus, list[WindowRow]]]:
        """Which of `ids` are live events (whatever their status), each with its status and
        windows, in one query."""
        if not ids:
            return {}
        e, w = live_events.c, live_event_windows.c
        query = (
            sa.select(e.id, e.status, *(c for c in live_event_windows.c if c.name != "event_id"))
            .select_from(live_events.outerjoin(live_event_windows, w.event_id == e.id))
            .where(e.id.in_(sorted(set(ids))))
            .order_by(e.id, w.region)
        )
        out: dict[str, tuple[EventStatus, list[WindowRow]]] = {}
        for row in (await self.conn.execute(query)).all():
            _, windows = out.setdefault(row.id, (EventStatus(row.status), []))
            if row.region is not None:  # none left when an edit removed every window
                windows.append(WindowRow(row.id, row.region, row.start_at, row.end_at, row.opened_at, row.closed_at))
        return out

    async def forget_participant(self, player_id: str) -> int:
        p = event_participants.c
        result = await self.conn.execute(event_participants.delete().where(p.player_id == player_id))
        return int(result.rowcount)

    async def add_participation(self, added: Mapping[tuple[str, str], Participation]) -> None:
        """One upsert per (event, player). The update adds to the stored row (never read-then-write),
        in key order, so batches at once neither lose counts nor deadlock."""
        rows = [
            {
                "event_id": event_id,
                "player_id": player_id,
                "first_at": p.first,
                "last_at": p.last,
                "samples": p.samples,
                "purchases": p.purchases,
                "revenue": p.revenue,
            }
            for (event_id, player_id), p in sorted(added.items())
        ]
        if not rows:
            return
        stmt = (postgresql if self.conn.dialect.name == "postgresql" else sqlite).insert(event_participants)
        c, x = event_participants.c, stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["event_id", "player_id"],
            set_={
                "first_at": sa.case((x.first_at < c.first_at, x.first_at), else_=c.first_at),
                "last_at": sa.case((x.last_at > c.last_at, x.last_at), else_=c.last_at),
                "samples": c.samples + x.samples,
                "purchases": c.purchases + x.purchases,
                "revenue": c.revenue + x.revenue,
            },
        )
        for start in range(0, len(rows), PARTICIPATION_CHUNK):
            await self.conn.execute(stmt, rows[start : start + PARTICIPATION_CHUNK])

    async def participation_totals(self, event_id: str) -> Totals:
        c = event_participants.c
        query = sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((c.purchases > 0, 1), else_=0)),
            sa.func.sum(c.purchases),
            sa.func.sum(c.revenue),
            sa.func.sum(c.samples),
        ).where(c.event_id == event_id)
        n, payers, purchases, revenue, samples = (await self.conn.execute(query)).one()
        return Totals(int(n), int(payers or 0), int(purchases or 0), float(revenue or 0.0), int(samples or 0))

    @staticmethod
    def participant_ids(event_id: str) -> sa.Select[Any]:
        """The event's participants' ids, as a query another slice's repository can count with."""
        return sa.select(event_participants.c.player_id).where(event_participants.c.event_id == event_id)
