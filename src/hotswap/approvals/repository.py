from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.approvals.model import Approval, ApprovalStatus
from hotswap.approvals.tables import approvals


def _to_model(row: Any) -> Approval:
    data = dict(row._mapping)
    data["status"] = ApprovalStatus(data["status"])
    data["authors"] = tuple(data["authors"] or ())
    return Approval(**data)


class ApprovalRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, approval: Approval) -> None:
        await self.conn.execute(approvals.insert().values(**_values(approval)))

    async def get(self, approval_id: str, *, for_update: bool = False) -> Approval | None:
        query = sa.select(approvals).where(approvals.c.id == approval_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _to_model(row)

    async def get_for_subject(self, subject_type: str, subject_id: str) -> Approval | None:
        query = sa.select(approvals).where(
            approvals.c.subject_type == subject_type, approvals.c.subject_id == subject_id
        )
        row = (await self.conn.execute(query)).first()
        return None if row is None else _to_model(row)

    async def settle(self, approval: Approval) -> bool:
        """Compare-and-set from Pending: False when another request settled it first."""
        result = await self.conn.execute(
            approvals.update()
            .where(approvals.c.id == approval.id, approvals.c.status == ApprovalStatus.PENDING.value)
            .values(
                status=approval.status.value,
                decided_by=approval.decided_by,
                decided_at=approval.decided_at,
                comment=approval.comment,
            )
        )
        return bool(result.rowcount)

    async def list(
        self, *, status: ApprovalStatus | None, subject_type: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Approval]:
        query = sa.select(approvals).order_by(approvals.c.requested_at.desc(), approvals.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(approvals.c.status == status.value)
        if subject_type is not None:
            query = query.where(approvals.c.subject_type == subject_type)
        if after is not None:
            at_value, last_id = after
            query = query.where(
                sa.or_(
                    approvals.c.requested_at < at_value,
                    sa.and_(approvals.c.requested_at == at_value, approvals.c.id < last_id),
                )
            )
        return [_to_model(r) for r in (await self.conn.execute(query)).all()]


def _values(a: Approval) -> dict[str, Any]:
    return {
        "id": a.id,
        "subject_type": a.subject_type,
        "subject_id": a.subject_id,
        "environment": a.environment,
        "summary": a.summary,
        "status": a.status.value,
        "requested_by": a.requested_by,
        "requested_at": a.requested_at,
        "authors": list(a.authors),
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "comment": a.comment,
    }
