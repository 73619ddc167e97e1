"""Deployment rows and their decision log."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.core.environments import Environment
from hotswap.rollouts.exposure import EXPOSING, Ended, Exposing
from hotswap.rollouts.model import LogEntry, Row
from hotswap.rollouts.tables import OPEN_STATUSES, deployment_log, deployments

_COLUMNS = [c.name for c in deployments.columns]


def advisory_key(deployment_id: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.blake2b(f"hotswap:deployment:{deployment_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DeploymentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def try_lock(self, deployment_id: str) -> bool:
        """PostgreSQL: take the deployment's transaction-scoped advisory lock, if no one holds it
        (the commit or rollback releases it, so a crashed worker never strands it)."""
        return bool(await self.conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(advisory_key(deployment_id)))))

    async def add(self, row: Row) -> None:
        await self.conn.execute(sa.insert(deployments).values({name: getattr(row, name) for name in _COLUMNS}))

    async def get(self, deployment_id: str, *, for_update: bool = False) -> Row | None:
        query = sa.select(deployments).where(deployments.c.id == deployment_id)
        if for_update:
            query = query.with_for_update()
        found = (await self.conn.execute(query)).one_or_none()
        return Row(**found._mapping) if found is not None else None

    async def open_for(self, environment: str, subject_kind: str, subject: str) -> Row | None:
        d = deployments.c
        found = (
            await self.conn.execute(
                sa.select(deployments).where(
                    d.environment == environment,
                    d.subject_kind == subject_kind,
                    d.subject == subject,
                    d.status.in_(OPEN_STATUSES),
                )
            )
        ).first()
        return Row(**found._mapping) if found is not None else None

    async def save(self, row: Row, changes: dict[str, Any], *, fence: int = 0) -> bool:
        """Write `changes` if the row is still at `row.revision` (and no newer lease wrote it)."""
        d = deployments.c
        query = (
            sa.update(deployments)
            .where(d.id == row.id, d.revision == row.revision)
            .values(**changes, revision=row.revision + 1)
        )
        if fence:
            query = query.where(d.fence <= fence).values(fence=fence)
        result = await self.conn.execute(query)
        return result.rowcount == 1

    async def release_held(self, environment: str, subject_kind: str, subject: str) -> None:
        """Earlier limited deployments of this subject stop holding their exposure."""
        d = deployments.c
        await self.conn.execute(
            sa.update(deployments)
            .where(
                d.environment == environment,
                d.subject_kind == subject_kind,
                d.subject == subject,
                d.holds_exposure.is_(True),
            )
            .values(holds_exposure=False)
        )

    async def due(self, now: datetime, limit: int) -> list[str]:
        d = deployments.c
        rows = await self.conn.execute(
            sa.select(d.id)
            .where(d.due_at.is_not(None), d.due_at <= now, d.status.in_(OPEN_STATUSES))
            .order_by(d.due_at, d.id)
            .limit(limit)
        )
        return [r.id for r in rows]

    async def next_due(self) -> datetime | None:
        d = deployments.c
        value = await self.conn.scalar(sa.select(sa.func.min(d.due_at)).where(d.status.in_(OPEN_STATUSES)))
        return value if isinstance(value, datetime) else None

    async def page(
        self, *, status: str | None, subject: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Row]:
        d = deployments.c
        query = sa.select(deployments).order_by(d.created_at.desc(), d.id.desc()).limit(limit)
        if status is not None:
            query = query.where(d.status == status)
        if subject is not None:
            query = query.where(d.subject == subject)
        if after is not None:
            at, last_id = after
            query = query.where(sa.or_(d.created_at < at, sa.and_(d.created_at == at, d.id < last_id)))
        return [Row(**r._mapping) for r in await self.conn.execute(query)]

    async def log(self, deployment_id: str, entry: LogEntry) -> None:
        await self.conn.execute(
            sa.insert(deployment_log).values(
                deployment_id=deployment_id,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                from_status=entry.from_status,
                to_status=entry.to_status,
                from_step=entry.from_step,
                to_step=entry.to_step,
                reason=entry.reason,
                snapshot_revision=entry.snapshot_revision,
            )
        )

    async def last_entry(self, deployment_id: str) -> LogEntry | None:
        found = await self.entries(deployment_id, last=True)
        return found[0] if found else None

    async def entries(self, deployment_id: str, *, last: bool = False) -> list[LogEntry]:
        g = deployment_log.c
        rows = await self.conn.execute(
            sa.select(
                g.at,
                g.actor,
                g.action,
                g.from_status,
                g.to_status,
                g.from_step,
                g.to_step,
                g.reason,
                g.snapshot_revision,
            )
            .where(g.deployment_id == deployment_id)
            .order_by(g.id.desc() if last else g.id)
            .limit(1 if last else None)
        )
        return [LogEntry(**r._mapping) for r in rows]

    # -- what the snapshot serves (read in the snapshot's own transaction) --------------------

    async def exposing(self, environment: Environment, subject_kind: str) -> list[Exposing]:
        """Open deployments at a step, and limited successes holding their exposure, oldest first
        (where a subject has two, a limited success and a newer one, the newer comes last)."""
        d = deployments.c
        rows = await self.conn.execute(
            sa.select(d.id, d.subject, d.seed, d.unit_kind, d.plan, d.step, d.version_id)
            .where(
                d.environment == environment.value,
                d.subject_kind == subject_kind,
                sa.or_(sa.and_(d.status.in_(EXPOSING), d.step >= 0), d.holds_exposure.is_(True)),
            )
            .order_by(d.created_at, d.id)
        )
        return [
            Exposing(r.id, r.subject, r.seed, r.unit_kind, r.version_id, r.plan["steps"][r.step]["exposure"], r.step)
            for r in rows
        ]

    async def of_subjects(self, environment: Environment, subject_kind: str, subjects: list[str] | None) -> list[Ended]:
        """Every deployment of these subjects (of the kind: all when None), for `subject_exposures`."""
        d = deployments.c
        query = sa.select(
            d.id, d.subject, d.status, d.step, d.plan, d.spec, d.holds_exposure, d.created_at, d.finished_at
        ).where(d.environment == environment.value, d.subject_kind == subject_kind)
        if subjects is not None:
            query = query.where(d.subject.in_(sorted(subjects)))
        return [Ended(**r._mapping) for r in await self.conn.execute(query)]

    # -- asked by other slices ----------------------------------------------------------------

    async def created_at(self, ids: list[str]) -> dict[str, datetime]:
        """When each of these deployments was created (the unknown ones are absent)."""
        d = deployments.c
        if not ids:
            return {}
        rows = await self.conn.execute(sa.select(d.id, d.created_at).where(d.id.in_(ids)))
        return {r.id: r.created_at for r in rows}

    async def make_due(self, ids: list[str], now: datetime, slack: timedelta) -> int:
        """Make those of `ids` that expose units (Running or Paused at a step) and are not due
        within `slack` due now; returns how many."""
        d = deployments.c
        result = await self.conn.execute(
            sa.update(deployments)
            .where(d.id.in_(ids), d.status.in_(EXPOSING), d.step >= 0, d.due_at > now + slack)
            .values(due_at=now)
        )
        return int(result.rowcount)
