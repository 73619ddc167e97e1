"""A live event's engagement: who took part, how many of the players active meanwhile that is,
who paid, and how much.

Participation comes from the metric samples game servers tag with the event's id (`eventId`,
see analysis.ingest): the analysis slice checks the ids with `known_events` (a port it declares)
and tells each batch's sums per (event, player) by `SamplesIngested`, which `record_participation`
adds in the batch's own transaction. `event_metrics` reads them back against the players active
during the event:

- The event's span is its `start_at`..`end_at` (over every region's window), its end capped at
  now; before the event starts the span is empty.
- Active players: those first seen before the event's end whose latest sample is at or after its
  start (only the first and latest sample are kept per player), and every participant, even one
  whose tagged samples fell outside the span.
- Conversion: participants with at least one purchase tagged with the event, over participants.
- Seed 000's business target: a participation rate of 40 % of active players.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hotswap.analysis.service import AnalysisService
from hotswap.analysis.signals import SamplesIngested
from hotswap.events.model import EventRow, Totals
from hotswap.events.repository import EventRepository
from hotswap.players.signals import PlayerErased
from hotswap.storage.uow import UnitOfWork

PARTICIPATION_TARGET = 0.4  # seed 000: "Event participation rate: 40%+ of active players"


def span(row: EventRow, now: datetime) -> tuple[datetime, datetime]:
    """The event's span so far: its start, and its end capped at now (never before the start)."""
    return row.start_at, max(row.start_at, min(row.end_at, now))


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def engagement(row: EventRow, now: datetime, found: Totals, active_players: int) -> dict[str, Any]:
    """The metrics document (camelCase) from the stored totals. Pure."""
    start, end = span(row, now)
    rate = _ratio(found.participants, active_players)
    return {
        "eventId": row.id,
        "status": row.status.value,
        "from": start,
        "to": end,
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
        found = await repo.participation_totals(row.id)
        # Against the event's own end, not `to`: a player first seen right now is active too.
        active = await self.analysis.active_players(uow, row.start_at, row.end_at, repo.participant_ids(row.id))
        return engagement(row, uow.clock.now(), found, active)

    async def record_participation(self, uow: UnitOfWork, signal: SamplesIngested) -> None:
        """Add a batch's participation, one upsert per (event, player), in the batch's transaction."""
        await EventRepository(uow.conn).add_participation(signal.participation)

    async def forget_participant(self, uow: UnitOfWork, signal: PlayerErased) -> int:
        """A player's erasure, here: what it did in each live event. Returns the rows deleted."""
        return await EventRepository(uow.conn).forget_participant(signal.player_id)


async def known_events(uow: UnitOfWork, ids: Sequence[str]) -> frozenset[str]:
    """Which of `ids` are live events (whatever their status), in one query: the analysis slice's
    `KnownEvents` port, for samples tagged with an event."""
    return await EventRepository(uow.conn).existing(ids)
