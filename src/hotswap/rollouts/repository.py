"""Deployment rows and their decision log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.rollouts.tables import OPEN_STATUSES, deployment_log, deployments


@dataclass(frozen=True, slots=True)
class Row:
    """A deployment as stored (plan and spec as JSON; `codec` turns them into the model's)."""

    id: str
    environment: str
    subject_kind: str
    subject: str
    profile_id: str | None
    version_id: str | None
    version: str | None
    baseline_version_id: str | None
    strategy: str
    unit_kind: str
    seed: str
    spec: dict[str, Any]
    plan: dict[str, Any]
    status: str
    step: int
    step_started_at: datetime | None
    step_times: list[str | None]
    due_at: datetime | None
    approval_id: str | None
    reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    finished_at: datetime | None
    revision: int
    fence: int
    holds_exposure: bool = False
    failures: int = 0


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    from_step: int | None
    to_step: int | None
    reason: str | None
    snapshot_revision: int | None


_COLUMNS = [c.name for c in deployments.columns]


class DeploymentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

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
