"""A live event's engagement: who took part, how many of the players active meanwhile that is,
who paid, and how much.

Participation comes from the metric samples game servers tag with the event's id (`eventId`,
see analysis.ingest): the analysis slice asks `known_events` (a port it declares) for the ids and
the windows in which their samples count, keeps the samples taken inside a window of their
server's region, and tells each batch's sums per (event, player) by `SamplesIngested`, which
`record_participation` adds in the batch's own transaction. `event_metrics` reads them back
against the players active during the event:

- Samples count inside the event's windows only (`counted_windows`): one per target region for a
  region-local event, each from its start up to its end. A window that never opened of an event
  that no longer runs (cancelled, or expired without going live) never ran: nothing counts in it.
- The span counted so far (`from`, `to`): from the earliest counted window's start, up to the
  latest one's end or now, whichever comes first. Before the event starts anywhere it is empty:
  `from` and `to` are null and every count is zero.
- Active players: those first seen before the event's end whose latest sample is at or after its
  start (only the first and latest sample are kept per player), and every participant.
- Conversion: participants with at least one purchase tagged with the event, over participants.
- The business target: a participation rate of 40 % of active players.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hotswap.analysis.ingest import EventWindow
from hotswap.analysis.service import AnalysisService
from hotswap.analysis.signals import SamplesIngested
from hotswap.events.model import PLANNED, EventRow, EventStatus, Totals, WindowRow
from hotswap.events.repository import EventRepository
from hotswap.players.signals import PlayerErased
from hotswap.storage.uow import UnitOfWork

PARTICIPATION_TARGET = 0.4  # "event participation rate: 40%+ of active players"


def counted_windows(status: EventStatus, windows: Sequence[WindowRow]) -> list[WindowRow]:
    """The windows in which samples tagged with the event count. While the event is planned
    (Scheduled, Active, Paused) every window counts from its start, whether or not the scheduler
    has opened it yet (it may lag); once the event no longer runs, only the windows that opened:
    one that never did never went live."""
    if status in PLANNED:
        return list(windows)
    return [w for w in windows if w.opened_at is not None]


def counted_span(windows: Sequence[WindowRow], now: datetime) -> tuple[datetime, datetime] | None:
    """The span counted so far: from the earliest window's start, up to the latest end or now,
    whichever comes first; None before any of `windows` has started."""
    started = [w for w in windows if w.start_at <= now]
    if not started:
        return None
    return min(w.start_at for w in started), min(max(w.end_at for w in windows), now)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def engagement(
    row: EventRow, windows: Sequence[WindowRow], now: datetime, found: Totals, active_players: int
) -> dict[str, Any]:
    """The metrics document (camelCase) from the stored totals. Pure."""
    counted = counted_windows(row.status, windows)
    span = counted_span(counted, now)
    if span is None:  # nothing of the event has happened yet: whatever is stored cannot be its own
        found, active_players = Totals(), 0
    rate = _ratio(found.participants, active_players)
    return {
        "eventId": row.id,
        "status": row.status.value,
        "startTime": row.start_at,
        "endTime": row.end_at,
        "windows": [
            {"region": w.region or None, "startTime": w.start_at, "endTime": w.end_at, "counted": w in counted}
            for w in windows
        ],
        "from": None if span is None else span[0],
        "to": None if span is None else span[1],
        "participants": found.participants,
        "activePlayers": active_players,
        "participationRate": rate,
        "payers": found.payers,
        "conversionRate": _ratio(found.payers, found.participants),
        "purchases": found.purchases,
        "revenue": found.revenue,
        "revenuePerParticipant": _ratio(found.revenue, found.participants),
        "averageSamplesPerParticipant": _ratio(found.samples, found.participants),
        "targets": {"participationRate": PARTICIPATION_TARGET},
        "meetsParticipationTarget": None if rate is None else rate >= PARTICIPATION_TARGET,
    }


class Engagement:
    """The engagement use cases; each runs in the caller's unit of work."""

    def __init__(self, analysis: AnalysisService) -> None:
        self.analysis = analysis

    async def event_metrics(self, uow: UnitOfWork, row: EventRow) -> dict[str, Any]:
        repo = EventRepository(uow.conn)
        now = uow.clock.now()
        windows = (await repo.windows([row.id])).get(row.id, [])
        counted = counted_windows(row.status, windows)
        span = counted_span(counted, now)
        if span is None:
            return engagement(row, windows, now, Totals(), 0)
        found = await repo.participation_totals(row.id)
        # Against the event's own end, not `to`: a player first seen right now is active too.
        end = max(w.end_at for w in counted)
        active = await self.analysis.active_players(uow, span[0], end, repo.participant_ids(row.id))
        return engagement(row, windows, now, found, active)

    async def record_participation(self, uow: UnitOfWork, signal: SamplesIngested) -> None:
        """Add a batch's participation, one upsert per (event, player), in the batch's transaction."""
        await EventRepository(uow.conn).add_participation(signal.participation)

    async def forget_participant(self, uow: UnitOfWork, signal: PlayerErased) -> int:
        """A player's erasure, here: what it did in each live event. Returns the rows deleted."""
        return await EventRepository(uow.conn).forget_participant(signal.player_id)


async def known_events(uow: UnitOfWork, ids: Sequence[str]) -> dict[str, list[EventWindow]]:
    """Which of `ids` are live events (whatever their status), each with the windows in which its
    samples count (`counted_windows`), in one query: the analysis slice's `KnownEvents` port."""
    found = await EventRepository(uow.conn).statuses_and_windows(ids)
    return {
        event_id: [EventWindow(w.region, w.start_at, w.end_at) for w in counted_windows(status, windows)]
        for event_id, (status, windows) in found.items()
    }
