"""What the events API and the snapshot read of stored events: reads only, as records that the
routes render (`events.api`) and the snapshot's `events` part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.core.environments import Environment
from hotswap.events import model as m
from hotswap.events.model import EventRow, WindowRow
from hotswap.events.planning import iso
from hotswap.events.repository import EventRepository
from hotswap.fleet.service import FleetService
from hotswap.rollouts.service import DeploymentService
from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    at: datetime
    actor: str
    kind: str
    action: str | None
    from_status: str | None
    to_status: str | None
    version: int | None
    region: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CalendarItem:
    event: EventRow
    windows: list[WindowRow]  # those that meet the calendar's span (and region)


class EventReads:
    def __init__(self, fleet: FleetService, deployments: DeploymentService) -> None:
        self.fleet = fleet
        self.deployments = deployments

    async def zones(self, uow: UnitOfWork) -> dict[str, str]:
        """Every region's time zone, by id: windows are shown on their region's clock."""
        return {r.id: r.time_zone for r in await self.fleet.regions(uow)}

    async def windows(self, uow: UnitOfWork, rows: Sequence[EventRow]) -> dict[str, list[WindowRow]]:
        return await EventRepository(uow.conn).windows([r.id for r in rows])

    async def history(self, uow: UnitOfWork, event_id: str, *, after: int | None, limit: int) -> list[HistoryRecord]:
        """Transitions, versions (with the full spec of each) and overrides, oldest first."""
        repo = EventRepository(uow.conn)
        rows = await repo.history(event_id, after=after, limit=limit)
        specs = await repo.versions(event_id) if any(r.version is not None for r in rows) else {}
        out = []
        for r in rows:
            detail = dict(r.detail or {})
            if r.kind in ("created", "version") and r.version in specs:
                detail["spec"] = specs[r.version]
            out.append(
                HistoryRecord(
                    at=r.at,
                    actor=r.actor,
                    kind=r.kind,
                    action=r.action,
                    from_status=r.from_status,
                    to_status=r.to_status,
                    version=r.version,
                    region=r.region,
                    detail=detail or None,
                )
            )
        return out

    async def calendar(
        self,
        uow: UnitOfWork,
        start: datetime,
        end: datetime,
        *,
        region: str | None,
        event_type: str | None,
        environment: Environment | None,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> tuple[list[CalendarItem], tuple[datetime, str] | None]:
        """Events whose windows meet `start`..`end` (in `region`, when given: those targeting it or
        everywhere). By start, then id, `limit` events read past `after`; with the position of the
        last one read when there may be more (some read may be left out by `region`, so a page
        can hold fewer than `limit`)."""
        repo = EventRepository(uow.conn)
        rows = await repo.between(
            start,
            end,
            environment=environment.value if environment else None,
            event_type=event_type,
            limit=limit + 1,
            after=after,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = (rows[-1].start_at, rows[-1].id) if more else None
        windows = await repo.windows([r.id for r in rows])
        out = []
        for row in rows:
            shown = [
                w
                for w in windows.get(row.id, [])
                if w.start_at < end and w.end_at > start and (region is None or w.region in (m.EVERYWHERE, region))
            ]
            if shown:
                out.append(CalendarItem(row, shown))
        return out, last

    async def snapshot_events(self, conn: AsyncConnection, environment: Environment) -> list[dict[str, Any]]:
        """The snapshot's `events` part (read in the snapshot's own transaction): each Active event
        with its open windows (see the targeting engine's events module for what each entry
        means), and its `exposure` as its deployments leave it."""
        out: dict[str, dict[str, Any]] = {}
        for r in await EventRepository(conn).serving(environment):
            entry = out.get(r.id)
            if entry is None:
                spec = r.spec
                entry = out[r.id] = {
                    "id": r.id,
                    "version": r.version,
                    "displayName": spec["displayName"],
                    "description": spec.get("description"),
                    "type": r.event_type,
                    "class": r.event_class,
                    "configuration": spec["configuration"],
                    "objectives": spec.get("objectives") or [],
                    "milestones": spec.get("milestones") or [],
                    "theme": spec.get("theme"),
                    "segment": spec.get("segment"),
                    "windows": [],
                    "exposure": None,
                    "variants": spec.get("variants") or [],
                    "seed": r.id,
                }
            entry["windows"].append({"region": r.region or None, "start": iso(r.start_at), "end": iso(r.end_at)})
        # Who sees each event while (and after) a deployment rolls it out; absent: never deployed.
        exposures = await self.deployments.subject_exposures(conn, environment, m.KIND, list(out))
        for event_id, exposure in exposures.items():
            out[event_id]["exposure"] = exposure
        return list(out.values())
