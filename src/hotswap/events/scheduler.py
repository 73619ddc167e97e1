"""The event scheduler: opens and closes event windows at their stored instants.

Its timers are rows (`event_timers`), each an absolute instant, so nothing is lost when a
worker stops: one started later finds the overdue timers and runs them at once, the most
overdue first, and each event's in the order they fell due. The loop (`DueLoop`) sleeps until
the earliest pending timer, so a window opens within milliseconds of its instant, not at the
next poll; `poll_seconds` only bounds how long a timer that another process added can wait.

At least once, idempotent: an event's due timers are handled in one transaction that marks
them done, and opening an opened window (or closing a closed one) changes nothing. A failing
event (its segment deleted meanwhile, the store down) is retried `MAX_RETRIES` times with
exponential backoff, then its timers land in the dead-letter list, from where an admin replays
them (`replay`) once the cause is fixed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal, Role
from hotswap.core.clock import Clock
from hotswap.core.dueloop import DueLoop
from hotswap.core.environments import Environment
from hotswap.core.errors import Conflict, NotFound
from hotswap.events import model as m
from hotswap.events.model import CLOSE, DEAD, DONE, OPEN, PENDING, EventRow, TimerRow, WindowRow
from hotswap.events.repository import EventRepository
from hotswap.events.service import EventService, record_history
from hotswap.observability.prometheus import Metrics
from hotswap.storage.revisions import SnapshotChanges
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
MAX_RETRIES = 3
SCHEDULER = "scheduler"
ACTOR = Principal(SCHEDULER, Role.ADMIN, "-")


class EventScheduler(DueLoop):
    name = "event-scheduler"

    def __init__(
        self,
        events: EventService,
        snapshots: SnapshotChanges,
        audit: AuditLog,
        uow: UnitOfWorkFactory,
        clock: Clock,
        metrics: Metrics,
        *,
        poll_seconds: float = 1.0,
        retry_seconds: float = 1.0,
        batch: int = 100,
    ) -> None:
        super().__init__(clock, poll_seconds)
        self.events = events
        self.snapshots = snapshots
        self.audit = audit
        self.uow = uow
        self.metrics = metrics
        self.retry = timedelta(seconds=retry_seconds)
        self.batch = batch

    async def next_due(self) -> datetime | None:
        async with self.uow(read_only=True) as uow:
            return await EventRepository(uow.conn).next_due()

    async def run_due(self) -> int:
        """One pass: every event with a timer due now, the most overdue first. Returns how many
        events were handled (failures included)."""
        async with self.uow(read_only=True) as uow:
            due = await EventRepository(uow.conn).due_events(self.clock.now(), self.batch)
        for event_id in due:
            await self.fire(event_id)
        return len(due)

    async def fire(self, event_id: str) -> None:
        try:
            async with self.uow() as uow:
                await self._apply(uow, event_id)
                await uow.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, Conflict):
                log.warning("live event %s: a scheduled transition failed: %s", event_id, exc)
            else:
                log.exception("live event %s: a scheduled transition failed", event_id)
            await self._failed(event_id, f"{type(exc).__name__}: {exc}")

    async def _apply(self, uow: UnitOfWork, event_id: str) -> None:
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
                    status, windows, changed = await self._one(uow, repo, row, status, windows, timer, now)
                    await repo.update_timer(timer.id, {"state": DONE, "done_at": now, "attempts": timer.attempts + 1})
            except Conflict as exc:
                log.warning("live event %s: its scheduled %s failed: %s", event_id, timer.action, exc)
                await self._count_failure(uow, repo, timer, f"{type(exc).__name__}: {exc}", now)
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
            await self.events.segments_exist(uow, row)
            await repo.update_window(event_id, timer.region, {"opened_at": now})
            self._lag(timer, now)
            after = m.transition(status, m.EventAction.ACTIVATE) if status is m.EventStatus.SCHEDULED else status
            await self._note(uow, event_id, timer, status, after)
            return after, {**windows, timer.region: replace(window, opened_at=now)}, after is m.EventStatus.ACTIVE
        if timer.action == CLOSE and window.closed_at is None:
            await repo.update_window(event_id, timer.region, {"closed_at": now})
            windows = {**windows, timer.region: replace(window, closed_at=now)}
            changed = status is m.EventStatus.ACTIVE and window.opened_at is not None
            if all(w.closed_at is not None for w in windows.values()):
                after = m.transition(status, m.EventAction.EXPIRE)
                await self._note(uow, event_id, timer, status, after)
                return after, windows, changed
            await record_history(uow, event_id, SCHEDULER, "window", action="close", region=timer.region)
            return status, windows, changed
        return status, windows, False

    async def _count_failure(
        self, uow: UnitOfWork, repo: EventRepository, timer: TimerRow, error: str, now: datetime
    ) -> None:
        """One failed attempt of `timer`: retried after 1, 2, 4 x `retry`, then dead."""
        attempts = timer.attempts + 1
        dead = attempts > MAX_RETRIES
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
        if dead:
            values.update(state=DEAD, done_at=now)
            uow.after_commit(self.metrics.event_dead_letters.inc)
        else:
            values["next_at"] = now + self.retry * (2 ** (attempts - 1))
        await repo.update_timer(timer.id, values)
        await record_history(
            uow,
            timer.event_id,
            SCHEDULER,
            "failure",
            action=timer.action,
            region=timer.region,
            detail={"error": error[:2000], "attempt": attempts, "deadLetter": dead},
        )

    async def _note(
        self, uow: UnitOfWork, event_id: str, timer: TimerRow, before: m.EventStatus, after: m.EventStatus
    ) -> None:
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

    def _lag(self, timer: TimerRow, now: datetime) -> None:
        self.metrics.event_activation_lag.observe(max(0.0, (now - timer.due_at).total_seconds()))

    async def _failed(self, event_id: str, error: str) -> None:
        """The event's whole pass failed (the store, say): count it against each due timer."""
        try:
            async with self.uow() as uow:
                repo = EventRepository(uow.conn)
                now = uow.clock.now()
                for timer in await repo.due_timers(event_id, now):
                    await self._count_failure(uow, repo, timer, error, now)
                await uow.commit()
        except Exception:  # the store itself is failing: the timers stay due, the next pass tries again
            log.exception("live event %s: its failure could not be recorded", event_id)

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letters(self, uow: UnitOfWork, *, after_id: int | None, limit: int) -> list[TimerRow]:
        """Scheduled transitions that failed every retry, oldest first."""
        return await EventRepository(uow.conn).dead_timers(after_id=after_id, limit=limit)

    async def replay(self, uow: UnitOfWork, actor: Principal, timer_id: int) -> TimerRow:
        """Put a dead letter back on the schedule, due now."""
        repo = EventRepository(uow.conn)
        timer = await repo.timer(timer_id, for_update=True)
        if timer is None:
            raise NotFound(f"No dead letter {timer_id}.")
        if timer.state != DEAD:
            raise Conflict(f"Timer {timer_id} is {timer.state}, not a dead letter: there is nothing to replay.")
        now = uow.clock.now()
        await repo.update_timer(timer_id, {"state": PENDING, "attempts": 0, "next_at": now, "done_at": None})
        await record_history(uow, timer.event_id, actor.subject, "replay", action=timer.action, region=timer.region)
        await self.audit.record(
            uow,
            actor,
            "event.replay",
            target_type="live_event",
            target_id=timer.event_id,
            summary=f"replayed the dead-lettered {timer.action} of live event {timer.event_id!r}",
        )
        await self.events.timers_set(uow)
        replayed = await repo.timer(timer_id)
        assert replayed is not None
        return replayed
