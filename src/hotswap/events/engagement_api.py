"""GET /api/v1/events/{id}/metrics: a live event's engagement (participation, conversion and
revenue). Thin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from hotswap.auth.model import Permission, Principal
from hotswap.events.engagement import Engagement
from hotswap.events.service import EventService
from hotswap.web.deps import UowDep, require, service
from hotswap.web.schemas import CamelModel

router = APIRouter(prefix="/api/v1", tags=["events"])

EngagementDep = Annotated[Engagement, Depends(service(Engagement))]
Events = Annotated[EventService, Depends(service(EventService))]

Reader = Annotated[Principal, Depends(require(Permission.METRICS_READ))]


class EventTargets(CamelModel):
    participation_rate: float = Field(description="The target share of active players taking part: 40 %.")


class EventWindowRead(CamelModel):
    region: str | None = Field(description="The region the window holds in; null: every region.")
    start_time: datetime
    end_time: datetime
    counted: bool = Field(
        description="Whether samples taken inside this window count. False for a window that never opened "
        "of an event that no longer runs (cancelled, or expired without going live)."
    )


class EventMetricsRead(CamelModel):
    event_id: str
    status: str
    start_time: datetime = Field(description="The event's start (the earliest of its windows).")
    end_time: datetime = Field(description="The event's end (the latest of its windows).")
    windows: list[EventWindowRead] = Field(
        description="Where and when the event runs: a sample tagged with it counts only when taken inside "
        "the window of its server's region (one per target region for a region-local event)."
    )
    start: datetime | None = Field(
        alias="from",
        description="Where the span counted so far begins: the start of the earliest window that has started. "
        "Null before the event starts anywhere (then every count is zero).",
    )
    end: datetime | None = Field(
        alias="to", description="Where the span counted so far ends: the event's end, or now while it runs."
    )
    participants: int = Field(
        description="Players with at least one sample tagged with the event, taken inside its window."
    )
    active_players: int = Field(description="Players seen between from and the event's end, participants included.")
    participation_rate: float | None = Field(description="participants / activePlayers; null without active players.")
    payers: int = Field(description="Participants with at least one purchase tagged with the event.")
    conversion_rate: float | None = Field(description="payers / participants; null without participants.")
    purchases: int
    revenue: float = Field(description="The sum of the event's purchase values.")
    revenue_per_participant: float | None
    average_samples_per_participant: float | None
    targets: EventTargets
    meets_participation_target: bool | None = Field(description="Null while the rate is unknown.")


@router.get("/events/{event_id}/metrics", response_model=EventMetricsRead)
async def get_event_metrics(
    event_id: str, _: Reader, uow: UowDep, events: Events, engagement: EngagementDep
) -> EventMetricsRead:
    """Who took part in the event, out of the players active meanwhile, who paid and how much,
    from the metric samples game servers tag with `eventId` (`POST /api/v1/metrics`) inside the
    event's window in their server's region. Before the event starts: zeros, `from` and `to` null."""
    row = await events.get(uow, event_id)
    return EventMetricsRead.model_validate(await engagement.event_metrics(uow, row))
