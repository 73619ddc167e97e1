"""Live events: create, edit (a hot swap when live), move through the lifecycle, validate.
Each use case runs in the caller's unit of work and never commits.

An Active event is part of its environment's snapshot (with its open windows), so every write
that changes what an Active event serves marks that snapshot changed in the same transaction:
the edit is live for players at the next revision, with nothing restarted."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Permission, Principal
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, PreconditionFailed
from hotswap.core.signals import Signals
from hotswap.event_templates.model import Template
from hotswap.event_templates.service import TemplateService
from hotswap.events import model as m
from hotswap.events import planning as p
from hotswap.events.commands import CreateEvent, EditEvent
from hotswap.events.history import record_history
from hotswap.events.model import EVENT_ID_PATTERN, EventRow
from hotswap.events.repository import EventRepository
from hotswap.events.signals import EventStartMoved, EventTimersSet
from hotswap.events.timers import DueTimers
from hotswap.fleet.service import FleetService
from hotswap.segments.service import SegmentService
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork


def not_found(event_id: str) -> NotFound:
    return NotFound(f"No live event {event_id[:100]!r}.")


def require_id(event_id: str) -> str:
    """A path's event id: anything that cannot be one is simply not found (and never reaches the
    store: PostgreSQL refuses NUL in text)."""
    if not re.fullmatch(EVENT_ID_PATTERN, event_id):
        raise not_found(event_id)
    return event_id


class EventService:
    def __init__(
        self,
        audit: AuditLog,
        snapshots: SnapshotChanges,
        fleet: FleetService,
        segments: SegmentService,
        templates: TemplateService,
        signals: Signals[UnitOfWork],
    ) -> None:
        self.audit = audit
        self.snapshots = snapshots
        self.fleet = fleet
        self.segments = segments
        self.templates = templates
        self.signals = signals
        self.due = DueTimers(audit, snapshots, self.segments_exist)

    async def start_moved(self, uow: UnitOfWork, actor: Principal, row: EventRow, start: datetime) -> None:
        """`row` (as it was) now starts at `start`: tell whoever waits for its start."""
        if start != row.start_at:
            moved = EventStartMoved(actor, row.id, Environment(row.environment), row.start_at, start)
            await self.signals.send(uow, moved)

    # -- reads ------------------------------------------------------------------------------

    async def get(self, uow: UnitOfWork, event_id: str, *, lock: bool = False) -> EventRow:
        """`lock`: hold the event's row until the transaction ends (a deployment drafted from it)."""
        row = await EventRepository(uow.conn).get(require_id(event_id), for_update=lock)
        if row is None:
            raise not_found(event_id)
        return row

    async def page(
        self,
        uow: UnitOfWork,
        *,
        after_id: str | None,
        limit: int,
        environment: Environment | None,
        status: m.EventStatus | None,
    ) -> list[EventRow]:
        """Events in id order after `after_id`, of an environment and a status when given."""
        return await EventRepository(uow.conn).rows(
            after_id=after_id,
            limit=limit,
            environment=environment.value if environment else None,
            status=status.value if status else None,
        )

    # -- writes -----------------------------------------------------------------------------

    async def validate(self, uow: UnitOfWork, body: CreateEvent) -> tuple[p.Planning, list[m.Conflict]]:
        """What creating `body` would plan and which rules it would break; stores nothing
        (a template named is read, not counted as used)."""
        environment = body.environment
        template = await self._template(uow, body.template_id, count=False)
        planning = await p.plan(uow, self.fleet, p.spec_from_template(body.content, template, body.id))
        past = _over(uow, planning, body)
        await self._check_segment(uow, planning.spec)
        if past:  # a record of the past runs beside nothing: the rules concern what will run
            return planning, []
        found = await p.conflicts(EventRepository(uow.conn), environment.value, planning, body.id)
        return planning, found

    async def create(self, uow: UnitOfWork, actor: Principal, body: CreateEvent) -> EventRow:
        environment = body.environment
        repo = EventRepository(uow.conn)
        await self.fleet.hold_regions(uow)  # see `events.targets`
        exists = Conflict(f"A live event {body.id!r} already exists.")
        if await repo.get(body.id) is not None:
            raise exists
        _check_override(actor, body.override)
        template = await self._template(uow, body.template_id, count=True)
        planning = await p.plan(uow, self.fleet, p.spec_from_template(body.content, template, body.id))
        past = _over(uow, planning, body)
        await self._check_segment(uow, planning.spec)
        found: list[m.Conflict] = []
        if not past:  # a record of the past runs beside nothing: the rules concern what will run
            await repo.lock_schedule(environment.value)
            found = await p.conflicts(repo, environment.value, planning, body.id)
            _refuse(found, body.override)
        now = uow.clock.now()
        spec = planning.spec
        status = m.EventStatus.EXPIRED if past else m.EventStatus.SCHEDULED
        try:
            await repo.add(
                {
                    "id": body.id,
                    "environment": environment.value,
                    "status": status.value,
                    "event_type": spec["type"],
                    "event_class": spec["class"],
                    "template_id": template.id if template else None,
                    "spec": spec,
                    "version": 1,
                    "start_at": planning.start,
                    "end_at": planning.end,
                    "created_at": now,
                    "created_by": actor.subject,
                    "updated_at": now,
                    "updated_by": actor.subject,
                    "revision": 1,
                }
            )
        except IntegrityError as exc:  # a concurrent create of the same id won the race
            raise exists from exc
        await repo.add_version(
            {"event_id": body.id, "version": 1, "spec": spec, "created_at": now, "created_by": actor.subject}
        )
        detail = {"recordPast": True} if past else None
        await self._history(uow, body.id, actor, "created", version=1, to_status=status, detail=detail)
        await self._overridden(uow, body.id, actor, found, body.override)
        if past:
            await p.store_past_windows(repo, uow, body.id, planning.windows)
        else:
            await p.store_windows(repo, uow, body.id, planning.windows, [])
        what = f"recorded past live event {body.id!r} (ended {p.iso(planning.end)})" if past else "scheduled live event"
        await self.audit.record(
            uow,
            actor,
            "event.create",
            target_type="live_event",
            target_id=body.id,
            summary=(what if past else f"{what} {body.id!r}")
            + f" in {environment.value}"
            + (f" from template {template.id!r}" if template else ""),
            after_ref="version:1",
        )
        if past:
            return await self.get(uow, body.id)
        await self.timers_set(uow)
        return await self.settled(uow, body.id)

    async def update(
        self, uow: UnitOfWork, actor: Principal, event_id: str, body: EditEvent, *, expected_revision: int | None
    ) -> EventRow:
        repo = EventRepository(uow.conn)
        await self.fleet.hold_regions(uow)  # before the row lock: see `events.targets`
        row = await repo.get(require_id(event_id), for_update=True)
        if row is None:
            raise not_found(event_id)
        if expected_revision is not None and expected_revision != row.revision:
            raise PreconditionFailed(
                f"Live event {event_id!r} is at revision {row.revision}, not {expected_revision}.",
                extra={"currentRevision": row.revision},
            )
        if row.status not in m.EDITABLE:
            raise Conflict(f"Live event {event_id!r} is {row.status.value}: it can no longer be edited.")
        _check_override(actor, body.override)
        spec = p.spec_edited(row.spec, body.content)
        planning = None if spec == row.spec else await p.plan(uow, self.fleet, spec)
        if planning is None or planning.spec == row.spec:
            # Nothing changes (perhaps once its regions are read as ids: an alias for the same
            # region): no new version, no snapshot. `recordPast` is still judged, on the times the
            # event keeps, as a create's is: an event that has not ended is no record of the past.
            if body.record_past:
                p.over(row.end_at, uow.clock.now(), record_past=True)
            return await self.settled(uow, event_id)
        spec = planning.spec
        windows_before = (await repo.windows([event_id])).get(event_id, [])
        planning = replace(planning, windows=p.effective(planning.windows, windows_before))
        await self._check_segment(uow, spec)
        found: list[m.Conflict] = []
        now = uow.clock.now()
        moved = any(spec.get(k) != row.spec.get(k) for k in p.TIMING)
        # New times that have ended make the event a record of the past, as a create with them
        # does: it ends in this edit, by its author, and runs beside nothing, so the scheduling
        # rules, which concern what will run, pass it.
        past = (moved or body.record_past) and p.over(planning.end, now, record_past=body.record_past)
        if moved and not past:
            await repo.lock_schedule(row.environment)
            found = await p.conflicts(repo, row.environment, planning, event_id)
            _refuse(found, body.override)
        version = row.version + 1
        status = row.status
        if past:
            await p.store_past_windows(repo, uow, event_id, planning.windows, windows_before)
            status = m.transition(row.status, m.EventAction.EXPIRE)
        elif sorted((w.region, w.start_at, w.end_at) for w in windows_before) != sorted(
            (w.region, w.start, w.end) for w in planning.windows
        ):
            if not await p.store_windows(repo, uow, event_id, planning.windows, windows_before):
                status = m.transition(row.status, m.EventAction.EXPIRE)  # its last open window was edited away
            await self.timers_set(uow)
        await repo.update(
            event_id,
            {
                "status": status.value,
                "event_type": spec["type"],
                "event_class": spec["class"],
                "spec": spec,
                "version": version,
                "start_at": planning.start,
                "end_at": planning.end,
                "updated_at": now,
                "updated_by": actor.subject,
            },
        )
        await repo.add_version(
            {"event_id": event_id, "version": version, "spec": spec, "created_at": now, "created_by": actor.subject}
        )
        await self.start_moved(uow, actor, row, planning.start)
        changed = sorted(k for k in spec.keys() | row.spec.keys() if spec.get(k) != row.spec.get(k))
        await self._history(uow, event_id, actor, "version", version=version, detail={"changed": changed})
        await self._overridden(uow, event_id, actor, found, body.override)
        if status is not row.status:
            await self._history(
                uow,
                event_id,
                actor,
                "transition",
                action="expire",
                from_status=row.status,
                to_status=status,
                detail={"recordPast": True} if past else None,
            )
        live = row.status is m.EventStatus.ACTIVE
        if past:
            summary = (
                f"recorded past live event {event_id!r} (ended {p.iso(planning.end)}): changed {', '.join(changed)}; "
                f"{row.status.value} -> {status.value}" + (" (was live until now: no longer served)" if live else "")
            )
        else:
            summary = f"changed {', '.join(changed)} of live event {event_id!r}" + (
                " (live: hot swapped)" if live else ""
            )
        await self.audit.record(
            uow,
            actor,
            "event.update",
            target_type="live_event",
            target_id=event_id,
            summary=summary,
            before_ref=f"version:{row.version}",
            after_ref=f"version:{version}",
        )
        if live:
            await self.snapshots.mark_changed(uow, [Environment(row.environment)])
        return await self.settled(uow, event_id)

    async def act(self, uow: UnitOfWork, actor: Principal, event_id: str, action: m.EventAction) -> EventRow:
        """activate, pause, resume, cancel or archive: 409 when the lifecycle does not allow it."""
        repo = EventRepository(uow.conn)
        row = await repo.get(require_id(event_id), for_update=True)
        if row is None:
            raise not_found(event_id)
        try:
            after = m.transition(row.status, action)
        except m.IllegalTransition as exc:
            raise Conflict(
                str(exc),
                extra={
                    "eventStatus": row.status.value,
                    "allowedActions": [a.value for a in m.allowed_actions(row.status)],
                },
            ) from exc
        now = uow.clock.now()
        values: dict[str, Any] = {"status": after.value, "updated_at": now, "updated_by": actor.subject}
        if action is m.EventAction.ACTIVATE:
            values.update(await self._open_now(uow, repo, row))
            await self.start_moved(uow, actor, row, values["start_at"])
        elif action is m.EventAction.CANCEL:
            await repo.supersede_timers(event_id)
        await repo.update(event_id, values)
        await self._history(
            uow, event_id, actor, "transition", action=action.value, from_status=row.status, to_status=after
        )
        await self.audit.record(
            uow,
            actor,
            f"event.{action.value}",
            target_type="live_event",
            target_id=event_id,
            summary=f"live event {event_id!r}: {row.status.value} -> {after.value}",
        )
        if m.EventStatus.ACTIVE in (row.status, after):
            await self.snapshots.mark_changed(uow, [Environment(row.environment)])
        return await self.settled(uow, event_id)

    async def settled(self, uow: UnitOfWork, event_id: str) -> EventRow:
        """The event after a write, with the timers already due applied in the write's own
        transaction: the answer shows what the next read will (an event whose start has passed
        is Active at once; one whose end passed while the scheduler was behind is Expired), not
        what the scheduler is about to change. A timer that cannot be applied stays due for the
        scheduler, which retries it."""
        await self.due.apply(uow, event_id)
        return await self.get(uow, event_id)

    async def _open_now(self, uow: UnitOfWork, repo: EventRepository, row: EventRow) -> dict[str, Any]:
        """An operator's activate: every window not closed opens now (an early start moves the
        start to now); refused when no window is left to open."""
        now = uow.clock.now()
        held = (await repo.windows([row.id])).get(row.id, [])
        live = [w for w in held if w.closed_at is None and w.end_at > now]
        if not live:
            raise Conflict(
                f"Live event {row.id!r} has ended everywhere ({p.iso(row.end_at)}); move its endTime to activate it."
            )
        await self.segments_exist(uow, row)
        if any(w.start_at > now for w in live):  # an early start is a change of time: the rules judge it
            early = p.Planning(row.spec, [m.Window(w.region, min(w.start_at, now), w.end_at) for w in live], {})
            await repo.lock_schedule(row.environment)
            _refuse(await p.conflicts(repo, row.environment, early, row.id), None)
        for window in live:
            if window.opened_at is None:
                await repo.update_window(
                    row.id, window.region, {"opened_at": now, "start_at": min(window.start_at, now)}
                )
        return {"start_at": min(row.start_at, now)}

    async def segments_exist(self, uow: UnitOfWork, row: EventRow) -> None:
        """An event about to go live must target a segment that exists (it may have been
        deleted since the event was planned)."""
        segment = await self._missing_segment(uow, row.spec)
        if segment is not None:
            raise Conflict(f"Live event {row.id!r} targets segment {segment!r}, which no longer exists.")

    # -- helpers ----------------------------------------------------------------------------

    async def _template(self, uow: UnitOfWork, template_id: str | None, *, count: bool) -> Template | None:
        if template_id is None:
            return None
        try:
            if count:
                return await self.templates.use(uow, template_id)
            return await self.templates.get(uow, template_id)
        except NotFound as exc:
            raise InvalidInput(
                f"No event template {template_id!r}.", errors=[FieldError("body.templateId", "no such template")]
            ) from exc

    async def _missing_segment(self, uow: UnitOfWork, spec: dict[str, Any]) -> str | None:
        """The segment the spec targets when it does not exist; it stays (share-locked) for the
        rest of the transaction when it does."""
        segment = spec.get("segment")
        if segment and segment not in await self.segments.lock_existing(uow, [segment]):
            return str(segment)
        return None

    async def _check_segment(self, uow: UnitOfWork, spec: dict[str, Any]) -> None:
        segment = await self._missing_segment(uow, spec)
        if segment is not None:
            raise InvalidInput(f"No segment {segment!r}.", errors=[FieldError("body.segment", "no such segment")])

    async def _history(self, uow: UnitOfWork, event_id: str, actor: Principal, kind: str, **entry: Any) -> None:
        await record_history(uow, event_id, actor.subject, kind, **entry)

    async def _overridden(
        self, uow: UnitOfWork, event_id: str, actor: Principal, found: list[m.Conflict], override: str | None
    ) -> None:
        if not found or override is None:
            return
        detail = {"reason": override, "conflicts": [conflict_dict(c) for c in found]}
        await self._history(uow, event_id, actor, "override", detail=detail)
        await self.audit.record(
            uow,
            actor,
            "event.override",
            target_type="live_event",
            target_id=event_id,
            summary=f"overrode {', '.join(c.rule for c in found)} for live event {event_id!r}: {override}",
        )

    async def timers_set(self, uow: UnitOfWork) -> None:
        """After `uow` commits, the scheduler (here, and in a worker apart) looks again."""
        await self.signals.send(uow, EventTimersSet())


def _over(uow: UnitOfWork, planning: p.Planning, body: CreateEvent) -> bool:
    """Whether a new event records the past (see `planning.over`)."""
    derived = body.content.end_time is None
    return p.over(planning.end, uow.clock.now(), record_past=body.record_past, derived_end=derived)


def conflict_dict(conflict: m.Conflict) -> dict[str, Any]:
    return {"rule": conflict.rule, "message": conflict.message, "eventIds": list(conflict.event_ids)}


def _check_override(actor: Principal, override: str | None) -> None:
    if override is not None and not actor.can(Permission.EVENT_ADMIN):
        raise Forbidden("Only an admin may override the scheduling rules.")


def _refuse(found: list[m.Conflict], override: str | None) -> None:
    if found and override is None:
        raise Conflict(
            "The event breaks the scheduling rules: " + "; ".join(c.message for c in found) + ".",
            extra={"conflicts": [conflict_dict(c) for c in found]},
        )
