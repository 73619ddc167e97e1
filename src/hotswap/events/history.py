"""An event's history: every transition, version, window, failure, replay and override, with
who and when, as `GET /api/v1/events/{id}/history` shows it."""

from __future__ import annotations

from typing import Any

from hotswap.events import model as m
from hotswap.events.repository import EventRepository
from hotswap.storage.uow import UnitOfWork


async def record_history(
    uow: UnitOfWork,
    event_id: str,
    actor: str,
    kind: str,
    *,
    action: str | None = None,
    from_status: m.EventStatus | None = None,
    to_status: m.EventStatus | None = None,
    version: int | None = None,
    region: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await EventRepository(uow.conn).record(
        {
            "event_id": event_id,
            "at": uow.clock.now(),
            "actor": actor,
            "kind": kind,
            "action": action,
            "from_status": from_status.value if from_status else None,
            "to_status": to_status.value if to_status else None,
            "version": version,
            "region": region or None,
            "detail": detail,
        }
    )
