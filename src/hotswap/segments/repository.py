"""Queries for segments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.segments.model import Segment
from hotswap.segments.tables import segments


def _segment(row: Any) -> Segment:
    return Segment(**dict(row._mapping))


class SegmentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, values: dict[str, Any]) -> None:
        await self.conn.execute(segments.insert().values(**values))

    async def get(self, segment_id: str, *, for_update: bool = False) -> Segment | None:
        query = sa.select(segments).where(segments.c.id == segment_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _segment(row)

    async def update(self, segment_id: str, values: dict[str, Any]) -> None:
        await self.conn.execute(
            segments.update().where(segments.c.id == segment_id).values(**values, revision=segments.c.revision + 1)
        )

    async def delete(self, segment_id: str) -> None:
        await self.conn.execute(segments.delete().where(segments.c.id == segment_id))

    async def rows(self, *, after_id: str | None, limit: int | None) -> list[Segment]:
        query = sa.select(segments).order_by(segments.c.id)
        if limit is not None:
            query = query.limit(limit)
        if after_id is not None:
            query = query.where(segments.c.id > after_id)
        return [_segment(r) for r in (await self.conn.execute(query)).all()]

    async def lock_existing(self, segment_ids: Iterable[str]) -> set[str]:
        """Which of these segments exist, share-locked until the transaction ends, so none can be
        deleted before a rule that names it commits (SQLite: writers are serialized already)."""
        wanted = sorted(set(segment_ids))
        if not wanted:
            return set()
        query = sa.select(segments.c.id).where(segments.c.id.in_(wanted))
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        return set((await self.conn.execute(query)).scalars().all())
