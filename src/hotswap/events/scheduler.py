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
from datetime import datetime, timedelta
from typing import Any

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.clock import Clock
from hotswap.core.dueloop import DueLoop
from hotswap.core.errors import Conflict, NotFound
from hotswap.events.history import record_history
from hotswap.events.model import DEAD, PENDING, TimerRow
from hotswap.events.repository import EventRepository
from hotswap.events.service import EventService
from hotswap.events.timers import SCHEDULER
from hotswap.observability.prometheus import Metrics
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
MAX_RETRIES = 3


class EventScheduler(DueLoop):
    name = "event-scheduler"

    def __init__(
        self,
        events: EventService,
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
        await self.events.due.apply(uow, event_id, failed=self._count_failure, opened=self._lag)

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
