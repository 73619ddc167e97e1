"""Outgoing webhooks on deployment changes: subscriptions, the outbox, the delivery log.

A subscription names a URL and the events it wants (`deployment.rollback`, `deployment.*` or
`*`). Every stored deployment change calls `WebhookService.queue` inside its own transaction
(`DeploymentService.on_change`), which inserts one `webhook_deliveries` row per matching enabled
subscription: a change that rolls back queues nothing, and one that commits cannot lose its
deliveries. The `WebhookDispatcher` (`webhook_dispatcher`) sends them afterwards, outside any
API transaction, and retries with exponential backoff.

What a receiver gets: a POST with a JSON body

    {"id": "<delivery id>", "event": "deployment.rollback", "webhookId": "...",
     "createdAt": "...", "data": {"deploymentId": ..., "config": ..., "status": ..., ...}}

and the headers `X-HotSwap-Event`, `X-HotSwap-Delivery` (the delivery id: the same on every
retry, so a receiver can drop a duplicate), `X-HotSwap-Timestamp` (unix seconds of this attempt)
and `X-HotSwap-Signature: sha256=<hex>`, the HMAC-SHA256, keyed with the subscription's secret,
of `f"{timestamp}.{body}"` (the raw body bytes as received). To verify, a receiver:

    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body,
                                    hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, signature_header) and abs(time.time() - int(timestamp)) <= 300

(`verify` below does exactly that.) The timestamp check stops a captured request from being
replayed later; the comparison in constant time stops the signature from being guessed byte by byte.
Delivery is at least once and unordered: a receiver that needs order sorts a deployment's events
by `data.sequence`, which grows with every change of that deployment (it is the row's revision,
so it may skip numbers, never repeat or go back); `data.at` can tie within a second.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, NotFound
from hotswap.core.ids import new_id
from hotswap.core.pagination import Page, check_limit, cursor_instant, cursor_str, encode_cursor
from hotswap.rollouts.model import Action
from hotswap.rollouts.signals import DeploymentChanged
from hotswap.rollouts.tables import webhook_deliveries, webhooks
from hotswap.storage.uow import UnitOfWork

# -- pure rules: names, signatures, backoff ---------------------------------------------------

PING = "webhook.ping"
# What `DeploymentService._store` names its events: a person's actions and the worker's.
DEPLOYMENT_EVENTS = frozenset({f"deployment.{a.value}" for a in Action} | {"deployment.advance", "deployment.create"})
WILDCARDS = frozenset({"*", "deployment.*"})
MAX_URL = 2000
MAX_EVENTS = 50
SECRET_BYTES = 32
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept between the timestamp and its clock

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=1)
JITTER = 0.2  # a delay is the nominal one +-20%, so receivers that failed together are not retried together


def deployment_event(changed: DeploymentChanged) -> dict[str, Any]:
    """A deployment change as receivers get it (`data`): the subject as `config` (a config's
    name), or `config` null and `eventId` for a live event."""
    subject: dict[str, Any] = (
        {"config": None, "eventId": changed.subject} if changed.subject_kind == "event" else {"config": changed.subject}
    )
    return {
        "event": f"deployment.{changed.action}",
        "deploymentId": changed.deployment_id,
        "sequence": changed.sequence,
        **subject,
        "version": changed.version,
        "environment": changed.environment,
        "strategy": changed.strategy,
        "status": changed.status,
        "step": changed.step,
        "reason": changed.reason,
        "actor": changed.actor,
        "at": changed.at.isoformat(),
        "snapshotRevision": changed.snapshot_revision,
    }


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, without credentials (they would show in every read
    and audit record; the signature is how a receiver knows the sender)."""
    if len(url) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    if any(c.isspace() for c in url):
        raise ValueError("must not contain whitespace")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise ValueError(f"is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; receivers verify the signature instead")
    _refuse_metadata_hosts(parts.hostname)
    return url


METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"})


def _refuse_metadata_hosts(host: str) -> None:
    """Link-local, unspecified and multicast addresses are refused: cloud metadata services (and
    their credentials) answer on link-local ones, so a webhook there would hand them to whoever
    reads the delivery log. Loopback and private addresses stay allowed: a self-hosted receiver
    often lives there. A name is checked as written, not resolved (a DNS name that resolves to a
    link-local address is not caught here)."""
    name = host.lower().rstrip(".")
    if name in METADATA_HOSTS:
        raise ValueError("must not point at a cloud metadata service")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        raise ValueError(f"must not point at a link-local, unspecified or multicast address ({address})")


def check_event(name: str) -> str:
    if name in WILDCARDS or name in DEPLOYMENT_EVENTS:
        return name
    known = ", ".join(sorted(DEPLOYMENT_EVENTS))
    raise ValueError(f"unknown event {name!r}; use '*', 'deployment.*' or one of {known}")


def matches(subscribed: Sequence[str], event: str) -> bool:
    return any(s == "*" or s == event or (s.endswith(".*") and event.startswith(s[:-1])) for s in subscribed)


def new_secret() -> str:
    return secrets.token_hex(SECRET_BYTES)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-HotSwap-Signature` value: HMAC-SHA256 of `f"{timestamp}.{body}"`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float) -> bool:
    """What a receiver does with the headers (a reference; this server never calls it)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now - sent) <= SIGNATURE_TOLERANCE and hmac.compare_digest(sign(secret, sent, body), signature)


def backoff(attempts: int, rand: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 10 s, 20 s, 40 s... at most an hour,
    scaled by 1 +- JITTER (`rand` in [0, 1); 0.5 is the nominal delay)."""
    nominal = BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20))
    return min(BACKOFF_CAP, min(BACKOFF_CAP, nominal) * (1 + JITTER * (2 * rand - 1)))


# -- what is stored ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription as read back: never with its secret."""

    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    webhook_id: str
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery one dispatcher may send now: `attempts` (this attempt's number) fences its outcome."""

    delivery: Delivery
    url: str
    secret: str


def _webhook(row: Any) -> Webhook:
    m = row._mapping
    return Webhook(m["id"], m["url"], list(m["events"]), bool(m["enabled"]), m["created_at"], m["created_by"])


def _delivery(row: Any) -> Delivery:
    return Delivery(**{c.name: row._mapping[c.name] for c in webhook_deliveries.columns})


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    return None if cursor is None else (cursor_instant(cursor, "at"), cursor_str(cursor, "id"))


def _page(items: list[Any], limit: int) -> Page[Any]:
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if items else None
    cursor = encode_cursor({"at": last.created_at.isoformat(), "id": last.id}) if more and last else None
    return Page(items, cursor)


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


class WebhookService:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self._wakers: list[Callable[[], None]] = []

    def on_queued(self, waker: Callable[[], None]) -> None:
        """Called after a commit that queued deliveries (the dispatcher wakes up)."""
        self._wakers.append(waker)

    # -- subscriptions --------------------------------------------------------------------------

    async def create(
        self, uow: UnitOfWork, actor: Principal, *, url: str, events: Sequence[str], secret: str | None
    ) -> tuple[Webhook, str]:
        """Returns the subscription and its secret: the only time the secret leaves the server."""
        secret = secret or new_secret()
        hook = Webhook(new_id("wh"), check_url(url), list(dict.fromkeys(events)), True, uow.clock.now(), actor.subject)
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
        self._wake_after_commit(uow)
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
            self._wake_after_commit(uow)

    def _wake_after_commit(self, uow: UnitOfWork) -> None:
        for wake in self._wakers:
            uow.after_commit(wake)
