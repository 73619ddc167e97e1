from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.audit.model import AuditFilter, AuditRecord
from hotswap.audit.tables import audit_records


class AuditRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, row: dict[str, Any]) -> None:
        await self.conn.execute(audit_records.insert().values(**row))

    async def list(self, flt: AuditFilter, *, before_id: int | None, limit: int) -> list[AuditRecord]:
        t = audit_records
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        conditions = [
            t.c.actor == flt.actor if flt.actor is not None else None,
            t.c.action == flt.action if flt.action is not None else None,
            t.c.target_type == flt.target_type if flt.target_type is not None else None,
            t.c.target_id == flt.target_id if flt.target_id is not None else None,
            t.c.at >= flt.since if flt.since is not None else None,
            t.c.at < flt.until if flt.until is not None else None,
            t.c.id < before_id if before_id is not None else None,
        ]
        query = query.where(*[c for c in conditions if c is not None])
        rows = (await self.conn.execute(query)).mappings().all()
        return [AuditRecord(**dict(row)) for row in rows]
