"""Opening and closing an event's windows when their timers fall due.

The scheduler applies each event's due timers at their instants. A write of an event (a create,
an edit, a lifecycle step) applies the timers already due when it is made, in its own
transaction, so that its answer shows the status and windows the next read will: an event
created after its start is Active in the create's answer, not a moment later.

Idempotent: opening an opened window (or closing a closed one) changes nothing, and an applied
timer is marked done in the same transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal, Role
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict
from hotswap.events import model as m
from hotswap.events.history import record_history
from hotswap.events.model import CLOSE, DONE, OPEN, EventRow, TimerRow, WindowRow
from hotswap.events.repository import EventRepository
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
SCHEDULER = "scheduler"
ACTOR = Principal(SCHEDULER, Role.ADMIN, "-")

# A timer that could not be applied (an open whose segment is gone), with the error: the
# scheduler counts the attempt; without one, the timer stays due for the scheduler.
Failed = Callable[[UnitOfWork, EventRepository, TimerRow, str, datetime], Awaitable[None]]
# A window opened by its timer (the scheduler measures how late).
Opened = Callable[[TimerRow, datetime], None]
# Refuses (Conflict) to open an event whose segment no longer exists.
SegmentsExist = Callable[[UnitOfWork, EventRow], Awaitable[None]]


class DueTimers:
    def __init__(self, audit: AuditLog, snapshots: SnapshotChanges, segments_exist: SegmentsExist) -> None:
        self.audit = audit
        self.snapshots = snapshots
        self.segments_exist = segments_exist

    async def apply(
        self, uow: UnitOfWork, event_id: str, *, failed: Failed | None = None, opened: Opened | None = None
    ) -> None:
        """Apply the event's timers due by now, in the caller's transaction."""
        repo = EventRepository(uow.conn)
        now = uow.clock.now()
        # The event's row first, then its timers: the order every writer of an event takes
        # (an edit locks the row, then replaces the timers), so none waits on another in a cycle.
        row = await repo.get(event_id, for_update=True)
        timers = await repo.due_timers(event_id, now)
        if row is None or not timers:
            return  # another worker did them (an event is never deleted, so its row exists)
        status = row.status
        windows = {w.region: w for w in (await repo.windows([event_id])).get(event_id, [])}
        serving_changed = False
        for timer in timers:
            # Each timer in its own savepoint: one that fails (an open whose segment is gone) is
            # retried alone, and never holds back another (the close of a window already open).
            try:
                async with uow.conn.begin_nested():
                    status, windows, changed = await self._one(uow, repo, row, status, windows, timer, now, opened)
                    await repo.update_timer(timer.id, {"state": DONE, "done_at": now, "attempts": timer.attempts + 1})
            except Conflict as exc:
                log.warning("live event %s: its scheduled %s failed: %s", event_id, timer.action, exc)
                if failed is not None:
                    await failed(uow, repo, timer, f"{type(exc).__name__}: {exc}", now)
                continue
            serving_changed |= changed
        if status is not row.status:
            await repo.update(event_id, {"status": status.value, "updated_at": now, "updated_by": SCHEDULER})
            await self.audit.record(
                uow,
                ACTOR,
                "event.schedule",
                target_type="live_event",
                target_id=event_id,
                summary=f"live event {event_id!r}: {row.status.value} -> {status.value} on schedule",
            )
        if serving_changed:
            await self.snapshots.mark_changed(uow, [Environment(row.environment)])

    async def _one(
        self,
        uow: UnitOfWork,
        repo: EventRepository,
        row: EventRow,
        status: m.EventStatus,
        windows: dict[str, WindowRow],
        timer: TimerRow,
        now: datetime,
        opened: Opened | None,
    ) -> tuple[m.EventStatus, dict[str, WindowRow], bool]:
        """Apply one timer: the event's status and windows after it, and whether what the
        snapshot serves changed. Changes nothing when the window is already as asked."""
        window = windows.get(timer.region)
        if status not in m.PLANNED or window is None:
            return status, windows, False
        event_id = row.id
        if timer.action == OPEN and window.opened_at is None and window.closed_at is None:
            if window.end_at <= now:  # over before it could open
                note = {"missed": True, "dueAt": timer.due_at.isoformat()}
                await record_history(
                    uow, event_id, SCHEDULER, "window", action="skip", region=timer.region, detail=note
                )
                return status, windows, False
            await self.segments_exist(uow, row)
            await repo.update_window(event_id, timer.region, {"opened_at": now})
            if opened is not None:
                opened(timer, now)
            after = m.transition(status, m.EventAction.ACTIVATE) if status is m.EventStatus.SCHEDULED else status
            await _note(uow, event_id, timer, status, after)
            return after, {**windows, timer.region: replace(window, opened_at=now)}, after is m.EventStatus.ACTIVE
        if timer.action == CLOSE and window.closed_at is None:
            await repo.update_window(event_id, timer.region, {"closed_at": now})
            windows = {**windows, timer.region: replace(window, closed_at=now)}
            changed = status is m.EventStatus.ACTIVE and window.opened_at is not None
            if all(w.closed_at is not None for w in windows.values()):
                after = m.transition(status, m.EventAction.EXPIRE)
                await _note(uow, event_id, timer, status, after)
                return after, windows, changed
            await record_history(uow, event_id, SCHEDULER, "window", action="close", region=timer.region)
            return status, windows, changed
        return status, windows, False


async def _note(uow: UnitOfWork, event_id: str, timer: TimerRow, before: m.EventStatus, after: m.EventStatus) -> None:
    if after is before:
        await record_history(uow, event_id, SCHEDULER, "window", action=timer.action, region=timer.region)
        return
    action = m.EventAction.ACTIVATE if timer.action == OPEN else m.EventAction.EXPIRE
    await record_history(
        uow,
        event_id,
        SCHEDULER,
        "transition",
        action=action.value,
        from_status=before,
        to_status=after,
        region=timer.region,
    )
