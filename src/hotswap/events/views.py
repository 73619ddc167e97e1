"""What the events API and the snapshot show of stored events: reads only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.core.environments import Environment
from hotswap.events import model as m
from hotswap.events.model import EventRow, WindowRow
from hotswap.events.planning import iso
from hotswap.events.repository import EventRepository
from hotswap.events.schemas import CalendarEntry, EventRead, HistoryEntry, WindowRead
from hotswap.events.tables import live_event_windows, live_events
from hotswap.fleet.tables import regions
from hotswap.rollouts.service import DeploymentService


async def region_zones(conn: AsyncConnection) -> dict[str, str]:
    rows = await conn.execute(sa.select(regions.c.id, regions.c.time_zone))
    return {r.id: r.time_zone for r in rows}


def window_read(window: WindowRow, zone: str | None) -> WindowRead:
    return WindowRead(
        region=window.region or None,
        time_zone=zone,
        start_time=window.start_at,
        end_time=window.end_at,
        local_start_time=m.utc_to_local(window.start_at, zone).isoformat() if zone else None,
        local_end_time=m.utc_to_local(window.end_at, zone).isoformat() if zone else None,
        opened_at=window.opened_at,
        closed_at=window.closed_at,
    )


def event_read(row: EventRow, windows: Sequence[WindowRow], zones: dict[str, str]) -> EventRead:
    spec = row.spec
    return EventRead(
        event_id=row.id,
        name=row.id,
        environment=row.environment,
        status=row.status.value,
        allowed_actions=[a.value for a in m.allowed_actions(row.status) if a is not m.EventAction.EXPIRE],
        version=row.version,
        display_name=spec["displayName"],
        description=spec.get("description"),
        event_type=row.event_type,
        event_class=row.event_class.value,
        template_id=row.template_id,
        time_mode=spec["timeMode"],
        start_time=row.start_at,
        end_time=row.end_at,
        windows=[window_read(w, zones.get(w.region)) for w in windows],
        regions=spec.get("regions"),
        segment=spec.get("segment"),
        configuration=spec["configuration"],
        objectives=spec.get("objectives") or [],
        milestones=spec.get("milestones") or [],
        theme=spec.get("theme"),
        variants=spec.get("variants") or [],
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        revision=row.revision,
    )


async def read_events(conn: AsyncConnection, rows: Sequence[EventRow]) -> list[EventRead]:
    windows = await EventRepository(conn).windows([r.id for r in rows])
    zones = await region_zones(conn)
    return [event_read(r, windows.get(r.id, []), zones) for r in rows]


async def history(conn: AsyncConnection, event_id: str, *, after: int | None, limit: int) -> list[HistoryEntry]:
    """Transitions, versions (with the full spec of each) and overrides, oldest first."""
    repo = EventRepository(conn)
    rows = await repo.history(event_id, after=after, limit=limit)
    specs = await repo.versions(event_id) if any(r.version is not None for r in rows) else {}
    out = []
    for r in rows:
        detail = dict(r.detail or {})
        if r.kind in ("created", "version") and r.version in specs:
            detail["spec"] = specs[r.version]
        out.append(
            HistoryEntry(
                at=r.at,
                actor=r.actor,
                kind=r.kind,
                action=r.action,
                from_status=r.from_status,
                to_status=r.to_status,
                version=r.version,
                region=r.region,
                detail=detail or None,
            )
        )
    return out


async def calendar(
    conn: AsyncConnection,
    start: datetime,
    end: datetime,
    *,
    region: str | None,
    event_type: str | None,
    environment: str | None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> tuple[list[CalendarEntry], tuple[datetime, str] | None]:
    """Events whose windows meet `start`..`end` (in `region`, when given: those targeting it or
    everywhere), each window with its local times on its region's clock (for an everywhere
    window: the asked region's clock, else UTC). By start, then id, `limit` events read past
    `after`; with the position of the last one read when there may be more (some read may be
    left out by `region`, so a page can hold fewer than `limit`)."""
    repo = EventRepository(conn)
    rows = await repo.between(start, end, environment=environment, event_type=event_type, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1].start_at, rows[-1].id) if more else None
    windows = await repo.windows([r.id for r in rows])
    zones = await region_zones(conn)
    out = []
    for row in rows:
        shown = [
            w
            for w in windows.get(row.id, [])
            if w.start_at < end and w.end_at > start and (region is None or w.region in (m.EVERYWHERE, region))
        ]
        if not shown:
            continue
        out.append(
            CalendarEntry(
                event_id=row.id,
                display_name=row.spec["displayName"],
                event_type=row.event_type,
                event_class=row.event_class.value,
                status=row.status.value,
                environment=row.environment,
                windows=[window_read(w, zones.get(w.region or (region or ""), "UTC")) for w in shown],
            )
        )
    return out, last


async def snapshot_events(
    deployments: DeploymentService, conn: AsyncConnection, environment: Environment
) -> list[dict[str, Any]]:
    """The snapshot's `events` part: each Active event with its open windows (see the targeting
    engine's events module for what each entry means), and its `exposure` as its deployments
    leave it (`DeploymentService.subject_exposures`)."""
    e, w = live_events.c, live_event_windows.c
    rows = (
        await conn.execute(
            sa.select(e.id, e.version, e.event_type, e.event_class, e.spec, w.region, w.start_at, w.end_at)
            .join(live_event_windows, w.event_id == e.id)
            .where(
                e.environment == environment.value,
                e.status == m.EventStatus.ACTIVE.value,
                w.opened_at.is_not(None),
                w.closed_at.is_(None),
            )
            .order_by(e.id, w.region)
        )
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.get(r.id)
        if entry is None:
            spec = r.spec
            entry = out[r.id] = {
                "id": r.id,
                "version": r.version,
                "displayName": spec["displayName"],
                "description": spec.get("description"),
                "type": r.event_type,
                "class": r.event_class,
                "configuration": spec["configuration"],
                "objectives": spec.get("objectives") or [],
                "milestones": spec.get("milestones") or [],
                "theme": spec.get("theme"),
                "segment": spec.get("segment"),
                "windows": [],
                "exposure": None,
                "variants": spec.get("variants") or [],
                "seed": r.id,
            }
        entry["windows"].append({"region": r.region or None, "start": iso(r.start_at), "end": iso(r.end_at)})
    # Who sees each event while (and after) a deployment rolls it out; absent: never deployed.
    exposures = await deployments.subject_exposures(conn, environment, m.KIND, list(out))
    for event_id, exposure in exposures.items():
        out[event_id]["exposure"] = exposure
    return list(out.values())
