"""HTTP routes for live events, their calendar and history, and the scheduler's dead letters.
Thin: parse, call, commit, render."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import AwareDatetime

from hotswap.auth.model import Permission, Principal
from hotswap.core.environments import parse_environment
from hotswap.core.errors import FieldError, InvalidInput
from hotswap.core.pagination import check_limit, cursor_instant, cursor_str, encode_cursor
from hotswap.events import model as m
from hotswap.events.model import EventRow, TimerRow, WindowRow
from hotswap.events.reads import EventReads
from hotswap.events.scheduler import EventScheduler
from hotswap.events.schemas import (
    MAX_YEAR,
    MIN_YEAR,
    CalendarEntry,
    CalendarRead,
    ConflictRead,
    DeadLetterRead,
    EventCreate,
    EventRead,
    EventUpdate,
    HistoryEntry,
    ValidationRead,
    WindowRead,
)
from hotswap.events.service import EventService, conflict_dict
from hotswap.fleet.service import FleetService
from hotswap.storage.uow import UnitOfWork
from hotswap.web.deps import UowDep, require, service
from hotswap.web.revisions import etag, expected_revision, if_match_header, stale_response
from hotswap.web.schemas import PageRead

router = APIRouter(prefix="/api/v1", tags=["events"])

Events = Annotated[EventService, Depends(service(EventService))]
Fleet = Annotated[FleetService, Depends(service(FleetService))]
Scheduler = Annotated[EventScheduler, Depends(service(EventScheduler))]
Reads = Annotated[EventReads, Depends(service(EventReads))]

Reader = Annotated[Principal, Depends(require(Permission.CONFIG_READ))]
Writer = Annotated[Principal, Depends(require(Permission.EVENT_WRITE))]
Admin = Annotated[Principal, Depends(require(Permission.EVENT_ADMIN))]
Limit = Annotated[int, Query(ge=1, le=500)]
IfMatch = Annotated[str | None, if_match_header("live event")]
_STALE = stale_response("live event")
MAX_CALENDAR_DAYS = 400


async def _reads(reads: Reads, uow: UnitOfWork, rows: Sequence[EventRow]) -> list[EventRead]:
    windows, zones = await reads.windows(uow, rows), await reads.zones(uow)
    return [EventRead.of(row, windows.get(row.id, []), zones) for row in rows]


async def _render(uow: UnitOfWork, reads: Reads, row: EventRow, response: Response | None = None) -> EventRead:
    if response is not None:
        response.headers["ETag"] = etag(row.revision)
    return (await _reads(reads, uow, [row]))[0]


@router.post("/events", status_code=status.HTTP_201_CREATED, response_model=EventRead)
async def create_event(
    body: EventCreate, actor: Writer, uow: UowDep, events: Events, reads: Reads, response: Response
) -> EventRead:
    row = await events.create(uow, actor, body.command())
    await uow.commit()
    response.headers["Location"] = f"/api/v1/events/{row.id}"
    return await _render(uow, reads, row, response)


@router.post("/events/validate", response_model=ValidationRead)
async def validate_event(body: EventCreate, _: Writer, uow: UowDep, events: Events) -> ValidationRead:
    """Check a draft against the rules without saving it: 200 with the conflicts (if any)."""
    planning, found = await events.validate(uow, body.command())
    zones = planning.zones
    return ValidationRead(
        valid=not found,
        conflicts=[ConflictRead.model_validate(conflict_dict(x)) for x in found],
        start_time=planning.start,
        end_time=planning.end,
        windows=[WindowRead.of(_draft_window(w), zones.get(w.region)) for w in planning.windows],
    )


def _draft_window(window: m.Window) -> WindowRow:
    return WindowRow("", window.region, window.start, window.end, None, None)


@router.get("/events", response_model=PageRead[EventRead])
async def list_events(
    _: Reader,
    uow: UowDep,
    events: Events,
    reads: Reads,
    environment: str | None = None,
    status_: Annotated[m.EventStatus | None, Query(alias="status")] = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> PageRead[EventRead]:
    check_limit(limit)
    env = parse_environment(environment, "query.environment") if environment is not None else None
    after = None if cursor is None else cursor_str(cursor, "id")
    rows = await events.page(uow, after_id=after, limit=limit + 1, environment=env, status=status_)
    more = len(rows) > limit
    rows = rows[:limit]
    return PageRead(
        items=await _reads(reads, uow, rows),
        next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None,
    )


@router.get("/events/calendar", response_model=CalendarRead)
async def event_calendar(
    _: Reader,
    uow: UowDep,
    fleet: Fleet,
    reads: Reads,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    region: Annotated[str | None, Query(max_length=40)] = None,
    type_: Annotated[str | None, Query(alias="type", pattern=r"^[A-Za-z][A-Za-z0-9]{0,49}$")] = None,
    environment: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> CalendarRead:
    """By start, then id. `nextCursor`, when set, reads on from where this page stopped."""
    for name, value in (("from", start), ("to", end)):
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise InvalidInput(
                "The calendar's bounds are out of range.",
                errors=[FieldError(f"query.{name}", f"in the years {MIN_YEAR} to {MAX_YEAR}")],
            )
    if end <= start:
        raise InvalidInput("The calendar's end must be after its start.", errors=[FieldError("query.to", "after from")])
    if end - start > timedelta(days=MAX_CALENDAR_DAYS):
        raise InvalidInput(
            "The calendar spans too much.",
            errors=[FieldError("query.to", f"at most {MAX_CALENDAR_DAYS} days after from")],
        )
    zone, region_id = "UTC", None
    if region is not None:
        found = await fleet.region(uow, region)
        if found is None:
            raise InvalidInput(f"No region {region!r}.", errors=[FieldError("query.region", "no such region")])
        zone, region_id = found.time_zone, found.id
    env = parse_environment(environment, "query.environment") if environment is not None else None
    after = None if cursor is None else (cursor_instant(cursor, "start"), cursor_str(cursor, "id"))
    items, last = await reads.calendar(
        uow, start, end, region=region_id, event_type=type_, environment=env, limit=limit, after=after
    )
    zones = await reads.zones(uow)
    entries = [
        CalendarEntry(
            event_id=item.event.id,
            display_name=item.event.spec["displayName"],
            event_type=item.event.event_type,
            event_class=item.event.event_class.value,
            status=item.event.status.value,
            environment=item.event.environment,
            # Everywhere windows are on the asked region's clock, else UTC.
            windows=[WindowRead.of(w, zones.get(w.region or (region_id or ""), "UTC")) for w in item.windows],
        )
        for item in items
    ]
    next_cursor = None if last is None else encode_cursor({"start": last[0].isoformat(), "id": last[1]})
    return CalendarRead(start=start, end=end, region=region_id, time_zone=zone, events=entries, next_cursor=next_cursor)


@router.get("/events/{event_id}", response_model=EventRead)
async def get_event(
    event_id: str, _: Reader, uow: UowDep, events: Events, reads: Reads, response: Response
) -> EventRead:
    return await _render(uow, reads, await events.get(uow, event_id), response)


@router.put("/events/{event_id}", response_model=EventRead, responses=_STALE)
async def update_event(
    event_id: str,
    body: EventUpdate,
    actor: Writer,
    uow: UowDep,
    events: Events,
    reads: Reads,
    response: Response,
    if_match: IfMatch = None,
) -> EventRead:
    """Change any of the fields sent. An Active event's new version is live for players at the
    next snapshot revision (a hot swap); new times reschedule it, judged by the rules again."""
    row = await events.update(uow, actor, event_id, body.command(), expected_revision=expected_revision(if_match))
    await uow.commit()
    return await _render(uow, reads, row, response)


def _lifecycle(action: m.EventAction) -> None:
    async def act(
        event_id: str, actor: Writer, uow: UowDep, events: Events, reads: Reads, response: Response
    ) -> EventRead:
        row = await events.act(uow, actor, event_id, action)
        await uow.commit()
        return await _render(uow, reads, row, response)

    act.__name__ = f"{action.value}_event"
    router.add_api_route(
        f"/events/{{event_id}}/{action.value}",
        act,
        methods=["POST"],
        response_model=EventRead,
        summary=f"{action.value.capitalize()} a live event (409 when its status does not allow it)",
    )


for _action in (
    m.EventAction.ACTIVATE,
    m.EventAction.PAUSE,
    m.EventAction.RESUME,
    m.EventAction.CANCEL,
    m.EventAction.ARCHIVE,
):
    _lifecycle(_action)


@router.get("/events/{event_id}/history", response_model=list[HistoryEntry])
async def event_history(
    event_id: str,
    _: Reader,
    uow: UowDep,
    events: Events,
    reads: Reads,
    after: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    limit: Limit = 500,
) -> list[HistoryEntry]:
    """Every transition, version (with its full content) and override, oldest first."""
    await events.get(uow, event_id)
    return [
        HistoryEntry.model_validate(r, from_attributes=True)
        for r in await reads.history(uow, event_id, after=after, limit=limit)
    ]


# -- the scheduler's dead letters -----------------------------------------------------------


def _dead(timer: TimerRow) -> DeadLetterRead:
    return DeadLetterRead(
        id=timer.id,
        event_id=timer.event_id,
        region=timer.region or None,
        action=timer.action,
        due_at=timer.due_at,
        attempts=timer.attempts,
        last_error=timer.last_error,
        failed_at=timer.done_at,
        state=timer.state,
    )


def _letter_cursor(cursor: str) -> int:
    text = cursor_str(cursor, "id")
    if not text.isdigit() or int(text) > 2**31 - 1:
        raise InvalidInput("Not a cursor from this list.", errors=[FieldError("query.cursor", "not a cursor")])
    return int(text)


@router.get("/admin/dead-letters", response_model=PageRead[DeadLetterRead])
async def dead_letters(
    _: Admin, uow: UowDep, event_scheduler: Scheduler, cursor: str | None = None, limit: Limit = 100
) -> PageRead[DeadLetterRead]:
    """Scheduled event transitions that failed every retry, oldest first."""
    after = None if cursor is None else _letter_cursor(cursor)
    timers = await event_scheduler.dead_letters(uow, after_id=after, limit=limit + 1)
    more = len(timers) > limit
    timers = timers[:limit]
    return PageRead(
        items=[_dead(t) for t in timers],
        next_cursor=encode_cursor({"id": str(timers[-1].id)}) if more and timers else None,
    )


@router.post("/admin/dead-letters/{letter_id}/replay", response_model=DeadLetterRead)
async def replay_dead_letter(
    letter_id: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: Admin, uow: UowDep, event_scheduler: Scheduler
) -> DeadLetterRead:
    """Put a dead letter back on the schedule, due now (fix its cause first)."""
    timer = await event_scheduler.replay(uow, actor, letter_id)
    await uow.commit()
    return _dead(timer)
