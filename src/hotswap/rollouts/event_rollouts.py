"""What a deployment of a live event adds to a config's: it names its subject differently, and a
rollback takes the event off the air through the events slice (an Active event is paused, with
its history entry and audit record, in the deployment's own transaction). Who sees the event
meanwhile is the snapshot's business: see `exposure.load_event_exposures`. A deployment waiting
for its event's start follows the start when it moves (`follow_start`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, NotFound
from hotswap.events.model import EventAction, EventRow, EventStatus
from hotswap.events.service import EventService
from hotswap.rollouts import codec
from hotswap.rollouts.model import Status, SubjectKind
from hotswap.rollouts.repository import DeploymentRepository, LogEntry, Row
from hotswap.storage.uow import UnitOfWork


def is_event(row: Row) -> bool:
    return row.subject_kind == SubjectKind.EVENT.value


def subject_text(row: Row) -> str:
    """How messages name what a deployment rolls out."""
    return f"live event {row.subject!r}" if is_event(row) else repr(row.subject)


def subject_fields(row: Row) -> dict[str, Any]:
    """A webhook payload's subject: `config` (a config's name), or `eventId` for a live event."""
    return {"config": None, "eventId": row.subject} if is_event(row) else {"config": row.subject}


async def pause_event(uow: UnitOfWork, events: EventService | None, row: Row, actor: Principal) -> None:
    """After `row` ended without success (rolled back, failed, cancelled) having exposed players:
    pause its live event if it is Active. The deployment no longer decides who sees the event,
    so the pause is what takes it off the air, in the event's own status and history."""
    if events is None or not is_event(row):
        return
    try:
        event = await events.get(uow, row.subject)
        if event.status is EventStatus.ACTIVE:
            await events.act(uow, actor, row.subject, EventAction.PAUSE)
    except (NotFound, Conflict):
        # Gone, or no longer Active by the time it is locked: there is nothing to pause, and the
        # rollback stands. (Both are raised before the events slice writes anything.)
        return


async def follow_start(uow: UnitOfWork, event: EventRow, start: datetime, actor: Principal) -> bool:
    """`event` (as it was before this change) now starts at `start`: moved by an edit, or to now by
    an operator's early activation. Its open deployment, if it has not exposed anyone yet, waits
    for the new start instead of the old one (a wait of the strategy's own, later than the old
    start, stays). True when the deployment is due now (the worker should look at once).

    Inside the event's transaction, so the deployment never waits for a start the event no
    longer has; a deployment the worker changed meanwhile makes the event's change a 409."""
    repo = DeploymentRepository(uow.conn)
    row = await repo.open_for(event.environment, SubjectKind.EVENT.value, event.id)
    if row is None or row.step >= 0:
        return False
    plan = codec.plan_from_json(row.plan)
    first = plan.steps[0]
    own = first.not_before is not None and first.not_before > event.start_at  # the strategy's wait
    not_before = max(first.not_before, start) if own and first.not_before is not None else start
    if not_before == first.not_before:
        return False
    moved = replace(plan, steps=(replace(first, not_before=not_before), *plan.steps[1:]))
    now = uow.clock.now()
    waiting = Status(row.status) is not Status.PENDING_APPROVAL
    changes: dict[str, Any] = {"plan": codec.plan_to_json(moved), "updated_at": now}
    if waiting:
        changes["due_at"] = now  # the worker decides the new wait
    if not await repo.save(row, changes):
        raise Conflict(f"Deployment {row.id} of live event {event.id!r} changed meanwhile; try again.")
    reason = f"the event's start moved to {start.isoformat()}: the first step waits for it"
    entry = LogEntry(now, actor.subject, "reschedule", row.status, row.status, row.step, row.step, reason, None)
    await repo.log(row.id, entry)
    return waiting
