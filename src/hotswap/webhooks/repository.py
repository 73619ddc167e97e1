"""Queries for webhook subscriptions and their deliveries (the outbox): what the service queues
and lists, and what the dispatcher claims, sends and records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.core.ids import new_id
from hotswap.webhooks.model import FAILED, PENDING, Delivery, Webhook
from hotswap.webhooks.tables import webhook_deliveries, webhooks


def _webhook(row: Any) -> Webhook:
    m = row._mapping
    return Webhook(m["id"], m["url"], list(m["events"]), bool(m["enabled"]), m["created_at"], m["created_by"])


def _delivery(row: Any) -> Delivery:
    return Delivery(**{c.name: row._mapping[c.name] for c in webhook_deliveries.columns})


class WebhookRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, webhook_id: str) -> Webhook | None:
        row = (await self.conn.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id))).first()
        return None if row is None else _webhook(row)

    async def add(self, values: dict[str, Any]) -> None:
        await self.conn.execute(sa.insert(webhooks).values(values))

    async def disable(self, webhook_id: str) -> bool:
        w = webhooks.c
        result = await self.conn.execute(
            sa.update(webhooks).where(w.id == webhook_id, w.enabled.is_(True)).values(enabled=False)
        )
        return result.rowcount == 1

    async def page(self, *, include_disabled: bool, after: tuple[datetime, str] | None, limit: int) -> list[Webhook]:
        w = webhooks.c
        query = sa.select(webhooks).order_by(w.created_at, w.id).limit(limit)
        if not include_disabled:
            query = query.where(w.enabled.is_(True))
        if after is not None:
            query = query.where(sa.or_(w.created_at > after[0], sa.and_(w.created_at == after[0], w.id > after[1])))
        return [_webhook(r) for r in await self.conn.execute(query)]

    async def enabled(self) -> list[Webhook]:
        return [_webhook(r) for r in await self.conn.execute(sa.select(webhooks).where(webhooks.c.enabled.is_(True)))]

    async def deliveries(
        self, webhook_id: str, *, status: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Delivery]:
        d = webhook_deliveries.c
        query = (
            sa.select(webhook_deliveries)
            .where(d.webhook_id == webhook_id)
            .order_by(d.created_at.desc(), d.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(d.status == status)
        if after is not None:
            query = query.where(sa.or_(d.created_at < after[0], sa.and_(d.created_at == after[0], d.id < after[1])))
        return [_delivery(r) for r in await self.conn.execute(query)]

    async def add_deliveries(
        self, hooks: Sequence[Webhook], event: str, payload: dict[str, Any], now: datetime
    ) -> list[Delivery]:
        """One pending delivery per subscription, due now."""
        added = [
            Delivery(new_id("whd"), hook.id, event, payload, PENDING, 0, now, None, None, None, now, None)
            for hook in hooks
        ]
        if added:
            rows = [{c.name: getattr(d, c.name) for c in webhook_deliveries.columns} for d in added]
            await self.conn.execute(sa.insert(webhook_deliveries), rows)
        return added

    async def give_up_pending(self, webhook_id: str, reason: str) -> None:
        d = webhook_deliveries.c
        await self.conn.execute(
            sa.update(webhook_deliveries)
            .where(d.webhook_id == webhook_id, d.status == PENDING)
            .values(status=FAILED, next_attempt_at=None, last_error=reason)
        )

    # -- the dispatcher's ----------------------------------------------------------------------

    async def due(self, now: datetime, limit: int) -> list[tuple[str, int]]:
        """(id, attempts) of pending deliveries due by `now`, the longest waiting first."""
        d = webhook_deliveries.c
        query = (
            sa.select(d.id, d.attempts)
            .where(d.status == PENDING, d.next_attempt_at <= now)
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
        )
        return [(r.id, r.attempts) for r in await self.conn.execute(query)]

    async def next_due(self) -> datetime | None:
        d = webhook_deliveries.c
        found: datetime | None = await self.conn.scalar(
            sa.select(sa.func.min(d.next_attempt_at)).where(d.status == PENDING)
        )
        return found

    async def claim(self, delivery_id: str, attempts: int, now: datetime, until: datetime) -> bool:
        d = webhook_deliveries.c
        result = await self.conn.execute(
            sa.update(webhook_deliveries)
            .where(d.id == delivery_id, d.status == PENDING, d.attempts == attempts, d.next_attempt_at <= now)
            .values(attempts=attempts + 1, next_attempt_at=until, last_attempt_at=now)
        )
        return result.rowcount == 1

    async def expire(self, delivery_id: str, attempts: int, now: datetime, error: str) -> bool:
        """Fail a delivery whose last claim (at `attempts`) lapsed without an outcome."""
        d = webhook_deliveries.c
        result = await self.conn.execute(
            sa.update(webhook_deliveries)
            .where(d.id == delivery_id, d.status == PENDING, d.attempts == attempts, d.next_attempt_at <= now)
            .values(status=FAILED, next_attempt_at=None, last_error=error)
        )
        return result.rowcount == 1

    async def target(self, delivery_id: str) -> tuple[Delivery, str, str, bool]:
        """The delivery with its subscription's url, secret and whether it is enabled."""
        w = webhooks.c
        query = (
            sa.select(webhook_deliveries, w.url, w.secret, w.enabled)
            .join(webhooks, w.id == webhook_deliveries.c.webhook_id)
            .where(webhook_deliveries.c.id == delivery_id)
        )
        row = (await self.conn.execute(query)).one()._mapping
        delivery = Delivery(**{c.name: row[c] for c in webhook_deliveries.columns})
        return delivery, row[w.url], row[w.secret], bool(row[w.enabled])

    async def finish(self, delivery_id: str, attempts: int, values: dict[str, Any]) -> bool:
        """Store an attempt's outcome, unless another dispatcher has claimed it since (lapsed claim)."""
        d = webhook_deliveries.c
        result = await self.conn.execute(
            sa.update(webhook_deliveries)
            .where(d.id == delivery_id, d.status == PENDING, d.attempts == attempts)
            .values(**values)
        )
        return result.rowcount == 1
