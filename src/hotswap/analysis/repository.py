"""Writes and reads of the metric aggregates. Writes are upserts that add (never read-then-write,
except a sketch under its row's lock), in a fixed order of tables and keys, so two batches at
once on PostgreSQL neither lose counts nor deadlock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.analysis.ingest import Folded
from hotswap.analysis.sketch import QuantileSketch
from hotswap.analysis.tables import analysis_verdicts, deployment_units, metric_aggregates, player_activity

CHUNK = 500  # ids per IN (...) and rows per statement

# A query of player ids another slice keeps (an event's participants), counted with the players
# seen here in one statement: it is built by that slice's repository and runs in this transaction.
PlayerIds: TypeAlias = sa.Select[Any]


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _later(new: Any, old: Any) -> Any:
    return sa.case((new > old, new), else_=old)


def _earlier(new: Any, old: Any) -> Any:
    return sa.case((new < old, new), else_=old)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


@dataclass(frozen=True, slots=True)
class Sums:
    count: int
    total: float
    total_sq: float
    log_count: int
    log_total: float
    log_total_sq: float
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class UnitSums:
    units: int
    complained: int
    last_seen_at: datetime | None


class MetricsRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- writes -----------------------------------------------------------------------------

    async def store(self, folded: Folded, started: dict[str, datetime]) -> None:
        """Add a folded batch. `started`: each deployment's start, to tell players who were
        active before it (the churn cohort) from newcomers."""
        known = await self._first_seen(sorted(folded.players))
        await self._activity(folded)
        await self._units(folded, known, started)
        await self._aggregates(folded)

    async def forget_player(self, player_id: str) -> int:
        """Erase what is kept under a player's id: its activity and its units under every
        deployment (a game server's units share the table, maybe under the same id: they stay).
        The sums in `metric_aggregates` name no one and stay. Returns the rows deleted. In the
        order `store` writes, so an erasure and a batch at once do not deadlock."""
        a, u = player_activity.c, deployment_units.c
        activity = await self.conn.execute(player_activity.delete().where(a.player_id == player_id))
        units = await self.conn.execute(deployment_units.delete().where(u.kind == "player", u.unit_id == player_id))
        return int(activity.rowcount) + int(units.rowcount)

    async def _first_seen(self, players: Sequence[str]) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        a = player_activity.c
        for chunk in _chunks(players):
            rows = await self.conn.execute(sa.select(a.player_id, a.first_seen_at).where(a.player_id.in_(chunk)))
            found.update({r.player_id: r.first_seen_at for r in rows})
        return found

    async def _activity(self, folded: Folded) -> None:
        rows = [{"player_id": p, "first_seen_at": at, "last_seen_at": at} for p, at in sorted(folded.players.items())]
        if not rows:
            return
        stmt = _insert(self.conn, player_activity)
        stmt = stmt.on_conflict_do_update(
            index_elements=["player_id"],
            set_={"last_seen_at": _later(stmt.excluded.last_seen_at, player_activity.c.last_seen_at)},
        )
        for chunk in _chunks(rows):
            await self.conn.execute(stmt, list(chunk))

    async def _units(self, folded: Folded, known: dict[str, datetime], started: dict[str, datetime]) -> None:
        rows = []
        for (deployment_id, kind, unit_id), seen in sorted(folded.units.items()):
            first = known.get(unit_id) if kind == "player" else None
            rows.append(
                {
                    "deployment_id": deployment_id,
                    "kind": kind,
                    "unit_id": unit_id,
                    "arm": seen.arm,
                    "first_seen_at": seen.first,
                    "last_seen_at": seen.last,
                    "complained": seen.complained,
                    "existing": first is not None and first < started[deployment_id],
                }
            )
        if not rows:
            return
        u = deployment_units.c
        stmt = _insert(self.conn, deployment_units)
        stmt = stmt.on_conflict_do_update(
            index_elements=["deployment_id", "kind", "unit_id"],
            set_={
                "last_seen_at": _later(stmt.excluded.last_seen_at, u.last_seen_at),
                "first_seen_at": _earlier(stmt.excluded.first_seen_at, u.first_seen_at),
                "complained": sa.or_(u.complained, stmt.excluded.complained),
            },
        )
        for chunk in _chunks(rows):
            await self.conn.execute(stmt, list(chunk))

    async def _aggregates(self, folded: Folded) -> None:
        keys = sorted(folded.deltas)
        rows = []
        for key in keys:
            d = folded.deltas[key]
            deployment_id, arm, metric, window, source = key
            rows.append(
                {
                    "deployment_id": deployment_id,
                    "arm": arm,
                    "metric": metric,
                    "window_start": window,
                    "source": source,
                    "count": d.count,
                    "total": d.total,
                    "total_sq": d.total_sq,
                    "log_count": d.log_count,
                    "log_total": d.log_total,
                    "log_total_sq": d.log_total_sq,
                    "last_at": d.last_at,
                }
            )
        if not rows:
            return
        g = metric_aggregates.c
        stmt = _insert(self.conn, metric_aggregates)
        x = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["deployment_id", "arm", "metric", "window_start", "source"],
            set_={
                "count": g.count + x.count,
                "total": g.total + x.total,
                "total_sq": g.total_sq + x.total_sq,
                "log_count": g.log_count + x.log_count,
                "log_total": g.log_total + x.log_total,
                "log_total_sq": g.log_total_sq + x.log_total_sq,
                "last_at": _later(x.last_at, g.last_at),
            },
        )
        for chunk in _chunks(rows):
            await self.conn.execute(stmt, list(chunk))
        for key in keys:  # the sketches: merged in Python under the row's lock, in key order
            sketch = folded.deltas[key].sketch
            if sketch is not None:
                await self._merge_sketch(key, sketch)

    async def _merge_sketch(self, key: tuple[str, str, str, datetime, str], sketch: QuantileSketch) -> None:
        g = metric_aggregates.c
        where = sa.and_(
            g.deployment_id == key[0], g.arm == key[1], g.metric == key[2], g.window_start == key[3], g.source == key[4]
        )
        stored = await self.conn.scalar(sa.select(g.sketch).where(where).with_for_update())
        if stored is not None:
            sketch.merge(QuantileSketch.from_json(stored))
        await self.conn.execute(sa.update(metric_aggregates).where(where).values(sketch=sketch.to_json()))

    async def add_verdict(
        self, deployment_id: str, step: int, at: datetime, outcome: str, explanation: str, detail: dict[str, Any]
    ) -> None:
        await self.conn.execute(
            sa.insert(analysis_verdicts).values(
                deployment_id=deployment_id, step=step, at=at, outcome=outcome, explanation=explanation, detail=detail
            )
        )

    # -- reads ------------------------------------------------------------------------------

    async def sums(self, deployment_id: str) -> dict[tuple[str, str], Sums]:
        """(arm, metric) -> the sums over every window (not the per-server rows)."""
        g = metric_aggregates.c
        query = (
            sa.select(
                g.arm,
                g.metric,
                sa.func.sum(g.count),
                sa.func.sum(g.total),
                sa.func.sum(g.total_sq),
                sa.func.sum(g.log_count),
                sa.func.sum(g.log_total),
                sa.func.sum(g.log_total_sq),
                sa.func.max(g.last_at),
            )
            .where(g.deployment_id == deployment_id, g.source == "")
            .group_by(g.arm, g.metric)
        )
        out = {}
        for arm, metric, *values in await self.conn.execute(query):
            count, total, total_sq, log_count, log_total, log_total_sq, last = values
            out[(arm, metric)] = Sums(
                int(count), float(total), float(total_sq), int(log_count), float(log_total), float(log_total_sq),
                _utc(last),
            )  # fmt: skip
        return out

    async def per_server(self, deployment_id: str) -> dict[tuple[str, str], tuple[list[float], datetime | None]]:
        """(arm, metric) -> each server's mean over the deployment, and the latest sample."""
        g = metric_aggregates.c
        query = (
            sa.select(g.arm, g.metric, g.source, sa.func.sum(g.total), sa.func.sum(g.count), sa.func.max(g.last_at))
            .where(g.deployment_id == deployment_id, g.source != "")
            .group_by(g.arm, g.metric, g.source)
            .order_by(g.arm, g.metric, g.source)
        )
        out: dict[tuple[str, str], tuple[list[float], datetime | None]] = {}
        for arm, metric, _source, total, count, last in await self.conn.execute(query):
            values, latest = out.get((arm, metric), ([], None))
            values.append(float(total) / int(count))
            last = _utc(last)
            out[(arm, metric)] = (values, last if latest is None or (last and last > latest) else latest)
        return out

    async def sketches(self, deployment_id: str) -> dict[tuple[str, str], QuantileSketch]:
        g = metric_aggregates.c
        query = sa.select(g.arm, g.metric, g.sketch).where(g.deployment_id == deployment_id, g.sketch.is_not(None))
        out: dict[tuple[str, str], QuantileSketch] = {}
        for arm, metric, doc in await self.conn.execute(query):
            sketch = QuantileSketch.from_json(doc)
            if (arm, metric) in out:
                out[(arm, metric)].merge(sketch)
            else:
                out[(arm, metric)] = sketch
        return out

    async def units(self, deployment_id: str, kind: str, *, since: datetime | None = None) -> dict[str, UnitSums]:
        """Per arm: units seen (first seen at or after `since`, if given), how many complained."""
        u = deployment_units.c
        query = (
            sa.select(
                u.arm, sa.func.count(), sa.func.sum(sa.case((u.complained, 1), else_=0)), sa.func.max(u.last_seen_at)
            )
            .where(u.deployment_id == deployment_id, u.kind == kind)
            .group_by(u.arm)
        )
        if since is not None:
            query = query.where(u.first_seen_at >= since)
        return {arm: UnitSums(int(n), int(c or 0), _utc(last)) for arm, n, c, last in await self.conn.execute(query)}

    async def churn(self, deployment_id: str, cutoff: datetime) -> dict[str, tuple[int, int]]:
        """Per arm: (churned, eligible). Eligible: players active before the deployment who first
        played under it by `cutoff` (a churn horizon ago); churned: of those, not seen anywhere since."""
        u, a = deployment_units.c, player_activity.c
        query = (
            sa.select(u.arm, sa.func.sum(sa.case((a.last_seen_at <= cutoff, 1), else_=0)), sa.func.count())
            .select_from(deployment_units.join(player_activity, a.player_id == u.unit_id))
            .where(
                u.deployment_id == deployment_id, u.kind == "player", u.existing.is_(True), u.first_seen_at <= cutoff
            )
            .group_by(u.arm)
        )
        return {arm: (int(churned or 0), int(n)) for arm, churned, n in await self.conn.execute(query)}

    async def active_players(self, start: datetime, end: datetime, also: PlayerIds | None = None) -> int:
        """Players seen in [start, end): first seen before its end and last seen at or after its
        start (only the first and the last sample are kept: a player seen before and after counts).
        `also`: a query of further player ids to count among them, each once."""
        a = player_activity.c
        seen = sa.select(a.player_id).where(a.last_seen_at >= start, a.first_seen_at < end)
        players = seen if also is None else sa.union(seen, also)
        return int(await self.conn.scalar(sa.select(sa.func.count()).select_from(players.subquery())) or 0)

    async def verdicts(self, deployment_id: str, limit: int) -> list[Any]:
        v = analysis_verdicts.c
        query = sa.select(analysis_verdicts).where(v.deployment_id == deployment_id).order_by(v.id.desc()).limit(limit)
        return list(await self.conn.execute(query))

    async def last_verdict(self, deployment_id: str) -> Any:
        found = await self.verdicts(deployment_id, 1)
        return found[0] if found else None


def _utc(value: Any) -> datetime | None:
    """`max()` of a timestamp, as an aware UTC datetime whatever the driver hands back."""
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
