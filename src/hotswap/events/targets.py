"""What changes to the regions and segments live events target mean for the events planned
there (Scheduled, Active or Paused). The fleet and segments slices tell of them by signals, heard
here inside their own transactions (`RegionChanged`, `RegionDeleting`, `SegmentDeleting`):

- a segment that a planned event targets is not deleted (409 naming the events): the event
  could not go live (`EventService.segments_exist`);
- a region that a planned event targets is not deleted (409 naming the events): the event's
  windows, and every later edit of it, would name a region that no longer exists;
- a new time zone re-plans each regionLocal event that targets the region: its wall-clock times
  are read on the region's new clock, the region's window and timers move, and the event's
  history says why. What has happened stays (a window that is open keeps its start; see
  `planning.effective`). The scheduling rules are not judged again: the region's clock is a
  fact, not a planner's choice.

The region's transaction holds region writes (SHARE ROW EXCLUSIVE on PostgreSQL) and then locks
the events' rows; an event write takes `FleetService.hold_regions` before its row lock, so the
two wait for each other in one order and never deadlock.
"""

from __future__ import annotations

from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, InvalidInput
from hotswap.events import model as m
from hotswap.events import planning as p
from hotswap.events.history import record_history
from hotswap.events.model import PLANNED, EventRow, TimeMode
from hotswap.events.repository import EventRepository
from hotswap.events.service import EventService
from hotswap.fleet.signals import RegionChanged, RegionDeleting
from hotswap.segments.signals import SegmentDeleting
from hotswap.storage.uow import UnitOfWork


async def region_deleting(uow: UnitOfWork, signal: RegionDeleting) -> None:
    region = signal.region
    events = await planned_in(uow, region.id)
    if events:
        ids = [e.id for e in events]
        raise Conflict(
            f"Region {region.id!r} is a target of the live events {', '.join(map(repr, ids))}; "
            "change their regions (or let them end) first.",
            extra={"events": ids},
        )


async def region_changed(service: EventService, uow: UnitOfWork, signal: RegionChanged) -> None:
    before, after = signal.before, signal.after
    if after.time_zone == before.time_zone:
        return
    why = f"region {before.id} changed its time zone from {before.time_zone} to {after.time_zone}"
    for event in await planned_in(uow, before.id):
        if event.spec.get("timeMode") == TimeMode.REGION_LOCAL.value:
            await replan(service, uow, signal.actor, event, why)


async def segment_deleting(uow: UnitOfWork, signal: SegmentDeleting) -> None:
    ids = await EventRepository(uow.conn).planned_targeting(segment=signal.segment_id)
    if ids:
        raise Conflict(
            f"Segment {signal.segment_id!r} is the target of the live events {', '.join(map(repr, ids))}; "
            "change their segment (or let them end) first.",
            extra={"events": ids},
        )


async def planned_in(uow: UnitOfWork, region_id: str) -> list[EventRow]:
    """The planned events that name `region_id` among their regions, row-locked, by id."""
    repo = EventRepository(uow.conn)
    out = []
    for event_id in await repo.planned_targeting(region=region_id):
        locked = await repo.get(event_id, for_update=True)
        if locked is not None and locked.status in PLANNED:
            out.append(locked)
    return out


async def replan(service: EventService, uow: UnitOfWork, actor: Principal, row: EventRow, why: str) -> None:
    """Plan `row` (locked by the caller) again from its own spec: its windows and timers move,
    and its history says why. No new version: the spec is the same. What has happened stays: a
    window that has closed keeps its times (it does not open again), an open one keeps its start.

    It marks no snapshot change: the region's own change marks every environment once, after
    every event (marking here, between two events' deployment updates, would take the snapshot
    row's lock before a deployment row's: the worker's order is the other way round)."""
    repo = EventRepository(uow.conn)
    try:
        planning = await p.plan(uow, service.fleet, row.spec)
    except InvalidInput as exc:  # e.g. a short window that falls into the new zone's clock change
        raise Conflict(
            f"Live event {row.id!r} cannot be planned on the new clock: {exc.detail} Change the event first.",
            extra={"events": [row.id]},
        ) from exc
    held = (await repo.windows([row.id])).get(row.id, [])
    closed = {w.region: m.Window(w.region, w.start_at, w.end_at) for w in held if w.closed_at is not None}
    windows = [closed.get(w.region, w) for w in p.effective(planning.windows, held)]
    if sorted((w.region, w.start_at, w.end_at) for w in held) == sorted((w.region, w.start, w.end) for w in windows):
        return
    status = row.status
    if not await p.store_windows(repo, uow, row.id, windows, held):
        status = m.transition(row.status, m.EventAction.EXPIRE)
    start, end = m.span(windows)
    await repo.update(row.id, {"status": status.value, "start_at": start, "end_at": end, "updated_at": uow.clock.now()})
    detail = {
        "reason": why,
        "windows": [{"region": w.region, "start": p.iso(w.start), "end": p.iso(w.end)} for w in windows],
    }
    await record_history(uow, row.id, actor.subject, "replan", detail=detail)
    if status is not row.status:
        await record_history(
            uow, row.id, actor.subject, "transition", action="expire", from_status=row.status, to_status=status
        )
    await service.start_moved(uow, actor, row, start)
    await service.timers_set(uow)
