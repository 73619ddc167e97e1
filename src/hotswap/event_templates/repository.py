"""Queries for event templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.event_templates.model import EventClass, Template
from hotswap.event_templates.tables import event_templates


def _template(row: Any) -> Template:
    values = dict(row._mapping)
    return Template(**{**values, "event_class": EventClass(values["event_class"])})


class TemplateRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, values: dict[str, Any]) -> None:
        await self.conn.execute(event_templates.insert().values(**values))

    async def get(self, template_id: str, *, for_update: bool = False) -> Template | None:
        query = sa.select(event_templates).where(event_templates.c.id == template_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _template(row)

    async def update(self, template_id: str, values: dict[str, Any]) -> None:
        t = event_templates
        await self.conn.execute(t.update().where(t.c.id == template_id).values(**values, revision=t.c.revision + 1))

    async def count_use(self, template_id: str, at: datetime) -> bool:
        """One more use, in one statement: the row lock it takes (PostgreSQL; SQLite serializes
        writers) makes concurrent uses queue, and each adds to what the one before committed."""
        t = event_templates
        result = await self.conn.execute(
            t.update().where(t.c.id == template_id).values(usage_count=t.c.usage_count + 1, last_used_at=at)
        )
        return bool(result.rowcount)

    async def rows(self, *, event_type: str | None, after_id: str | None, limit: int) -> list[Template]:
        t = event_templates
        query = sa.select(t).order_by(t.c.id).limit(limit)
        if event_type is not None:
            query = query.where(t.c.event_type == event_type)
        if after_id is not None:
            query = query.where(t.c.id > after_id)
        return [_template(r) for r in (await self.conn.execute(query)).all()]
