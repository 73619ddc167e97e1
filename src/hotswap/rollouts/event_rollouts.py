"""What a deployment of a live event adds to a config's: it names its subject differently, and a
rollback takes the event off the air through the events slice (an Active event is paused, with
its history entry and audit record, in the deployment's own transaction). Who sees the event
meanwhile is the snapshot's business: see `exposure.load_event_exposures`."""

from __future__ import annotations

from typing import Any

from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, NotFound
from hotswap.events.model import EventAction, EventStatus
from hotswap.events.service import EventService
from hotswap.rollouts.model import SubjectKind
from hotswap.rollouts.repository import Row
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
