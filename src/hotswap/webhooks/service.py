"""Webhook subscriptions, their delivery log, and the outbox deployment changes are queued to
(see `model` for what a receiver gets). Each use case runs in the caller's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, FieldError, InvalidInput, NotFound
from hotswap.core.ids import new_id
from hotswap.core.pagination import Page, check_limit, cursor_instant, cursor_str, encode_cursor
from hotswap.core.signals import Signals
from hotswap.rollouts.signals import DeploymentChanged
from hotswap.storage.uow import UnitOfWork
from hotswap.webhooks.model import PING, Delivery, Webhook, check_url, deployment_event, matches, new_secret
from hotswap.webhooks.repository import WebhookRepository
from hotswap.webhooks.signals import DeliveriesQueued


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    return None if cursor is None else (cursor_instant(cursor, "at"), cursor_str(cursor, "id"))


def _page(items: list[Any], limit: int) -> Page[Any]:
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if items else None
    cursor = encode_cursor({"at": last.created_at.isoformat(), "id": last.id}) if more and last else None
    return Page(items, cursor)


class WebhookService:
    def __init__(self, audit: AuditLog, signals: Signals[UnitOfWork], *, allow_private_networks: bool = False) -> None:
        self.audit = audit
        self.signals = signals
        # Receivers on private and loopback addresses are refused unless the operator allows them.
        self.allow_private_networks = allow_private_networks

    # -- subscriptions --------------------------------------------------------------------------

    async def create(
        self, uow: UnitOfWork, actor: Principal, *, url: str, events: Sequence[str], secret: str | None
    ) -> tuple[Webhook, str]:
        """Returns the subscription and its secret: the only time the secret leaves the server."""
        secret = secret or new_secret()
        try:
            check_url(url, allow_private=self.allow_private_networks)
        except ValueError as exc:
            raise InvalidInput(f"The webhook URL {exc}.", errors=[FieldError("body.url", str(exc))]) from None
        hook = Webhook(new_id("wh"), url, list(dict.fromkeys(events)), True, uow.clock.now(), actor.subject)
        values = {
            "id": hook.id,
            "url": hook.url,
            "secret": secret,
            "events": hook.events,
            "enabled": True,
            "created_at": hook.created_at,
            "created_by": hook.created_by,
        }
        await WebhookRepository(uow.conn).add(values)
        await self.audit.record(
            uow,
            actor,
            "webhook.create",
            target_type="webhook",
            target_id=hook.id,
            summary=f"webhook to {hook.url} for {', '.join(hook.events)}",
            details={"url": hook.url, "events": hook.events},
        )
        return hook, secret

    async def get(self, uow: UnitOfWork, webhook_id: str) -> Webhook:
        hook = await WebhookRepository(uow.conn).get(webhook_id)
        if hook is None:
            raise NotFound(f"No webhook with id {webhook_id!r}.")
        return hook

    async def page(self, uow: UnitOfWork, *, include_disabled: bool, cursor: str | None, limit: int) -> Page[Webhook]:
        check_limit(limit)
        repo = WebhookRepository(uow.conn)
        found = await repo.page(include_disabled=include_disabled, after=_after(cursor), limit=limit + 1)
        return _page(found, limit)

    async def disable(self, uow: UnitOfWork, actor: Principal, webhook_id: str) -> Webhook:
        """Stops it for good: nothing more is queued, what is pending fails. Its log stays.
        Disabling a disabled webhook changes nothing (a retried DELETE is harmless)."""
        hook = await self.get(uow, webhook_id)
        if not hook.enabled:
            return hook
        repo = WebhookRepository(uow.conn)
        if await repo.disable(webhook_id):  # False: a concurrent DELETE did it first
            await repo.give_up_pending(webhook_id, "the webhook was deleted")
            await self.audit.record(
                uow,
                actor,
                "webhook.delete",
                target_type="webhook",
                target_id=webhook_id,
                summary=f"webhook to {hook.url}",
            )
        return Webhook(hook.id, hook.url, hook.events, False, hook.created_at, hook.created_by)

    async def deliveries(
        self, uow: UnitOfWork, webhook_id: str, *, status: str | None, cursor: str | None, limit: int
    ) -> Page[Delivery]:
        """Newest first."""
        check_limit(limit)
        await self.get(uow, webhook_id)
        found = await WebhookRepository(uow.conn).deliveries(
            webhook_id, status=status, after=_after(cursor), limit=limit + 1
        )
        return _page(found, limit)

    async def ping(self, uow: UnitOfWork, actor: Principal, webhook_id: str) -> Delivery:
        """Queue a `webhook.ping` to this subscription alone, whatever events it takes."""
        hook = await self.get(uow, webhook_id)
        if not hook.enabled:
            raise Conflict(f"Webhook {webhook_id} is deleted; it sends nothing.")
        now = uow.clock.now()
        payload = {"event": PING, "webhookId": hook.id, "actor": actor.subject, "at": now.isoformat()}
        [delivery] = await WebhookRepository(uow.conn).add_deliveries([hook], PING, payload, now)
        await self.audit.record(
            uow, actor, "webhook.test", target_type="webhook", target_id=hook.id, summary=f"ping to {hook.url}"
        )
        await self.signals.send(uow, DeliveriesQueued())
        return delivery

    # -- the outbox ---------------------------------------------------------------------------

    async def deployment_changed(self, uow: UnitOfWork, signal: DeploymentChanged) -> None:
        """A deployment changed: its deliveries are queued inside the transaction of the change."""
        await self.queue(uow, deployment_event(signal))

    async def queue(self, uow: UnitOfWork, event: dict[str, Any]) -> None:
        """Queue `event` (its `event` names it) for every enabled subscription that wants it."""
        name = str(event["event"])
        repo = WebhookRepository(uow.conn)
        hooks = [h for h in await repo.enabled() if matches(h.events, name)]
        if await repo.add_deliveries(hooks, name, dict(event), uow.clock.now()):
            await self.signals.send(uow, DeliveriesQueued())
