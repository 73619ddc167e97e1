"""A live event's engagement: who took part, how many of the players active meanwhile that is,
who paid, and how much.

Participation comes from the metric samples game servers tag with the event's id (`eventId`,
see analysis.ingest): the analysis slice checks the ids with `known_events` and adds each batch's
sums per (event, player) with `record_participation`, in the batch's own transaction.
`event_metrics` reads them back against the players active during the event:

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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hotswap.analysis.signals import SamplesIngested
from hotswap.events.model import EventRow
from hotswap.events.tables import event_participants, live_events
from hotswap.players.signals import PlayerErased
from hotswap.storage.uow import UnitOfWork

if TYPE_CHECKING:  # the analysis slice imports this module to record participation
    from hotswap.analysis.service import AnalysisService

PARTICIPATION_TARGET = 0.4  # seed 000: "Event participation rate: 40%+ of active players"
CHUNK = 500  # rows per statement


async def known_events(uow: UnitOfWork, ids: Sequence[str]) -> frozenset[str]:
    """Which of `ids` are live events (whatever their status), in one query."""
    if not ids:
        return frozenset()
    rows = await uow.conn.execute(sa.select(live_events.c.id).where(live_events.c.id.in_(ids)))
    return frozenset(r.id for r in rows)


async def forget_participant(uow: UnitOfWork, signal: PlayerErased) -> int:
    """A player's erasure, here: what it did in each live event. Returns the rows deleted."""
    p = event_participants.c
    result = await uow.conn.execute(event_participants.delete().where(p.player_id == signal.player_id))
    return int(result.rowcount)


async def record_participation(uow: UnitOfWork, signal: SamplesIngested) -> None:
    """Add a batch's participation, one upsert per (event, player). The update adds to the stored
    row (never read-then-write), in key order, so batches at once neither lose counts nor deadlock."""
    added = signal.participation
    rows = [
        {
            "event_id": event_id,
            "player_id": player_id,
            "first_at": p.first,
            "last_at": p.last,
            "samples": p.samples,
            "purchases": p.purchases,
            "revenue": p.revenue,
        }
        for (event_id, player_id), p in sorted(added.items())
    ]
    if not rows:
        return
    conn = uow.conn
    stmt = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(event_participants)
    c, x = event_participants.c, stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["event_id", "player_id"],
        set_={
            "first_at": sa.case((x.first_at < c.first_at, x.first_at), else_=c.first_at),
            "last_at": sa.case((x.last_at > c.last_at, x.last_at), else_=c.last_at),
            "samples": c.samples + x.samples,
            "purchases": c.purchases + x.purchases,
            "revenue": c.revenue + x.revenue,
        },
    )
    for start in range(0, len(rows), CHUNK):
        await conn.execute(stmt, rows[start : start + CHUNK])


@dataclass(frozen=True, slots=True)
class Totals:
    participants: int = 0
    payers: int = 0
    purchases: int = 0
    revenue: float = 0.0
    samples: int = 0


async def totals(uow: UnitOfWork, event_id: str) -> Totals:
    c = event_participants.c
    query = sa.select(
        sa.func.count(),
        sa.func.sum(sa.case((c.purchases > 0, 1), else_=0)),
        sa.func.sum(c.purchases),
        sa.func.sum(c.revenue),
        sa.func.sum(c.samples),
    ).where(c.event_id == event_id)
    n, payers, purchases, revenue, samples = (await uow.conn.execute(query)).one()
    return Totals(int(n), int(payers or 0), int(purchases or 0), float(revenue or 0.0), int(samples or 0))


def participant_ids(event_id: str) -> sa.Select[Any]:
    return sa.select(event_participants.c.player_id).where(event_participants.c.event_id == event_id)


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


async def event_metrics(uow: UnitOfWork, row: EventRow, analysis: AnalysisService) -> dict[str, Any]:
    found = await totals(uow, row.id)
    # Against the event's own end, not `to`: a player first seen right now is active too.
    active = await analysis.active_players(uow, row.start_at, row.end_at, participant_ids(row.id))
    return engagement(row, uow.clock.now(), found, active)
