"""Outgoing webhooks on deployment changes: subscriptions, the outbox, the delivery log.

A subscription names a URL and the events it wants (`deployment.rollback`, `deployment.*` or
`*`). Every stored deployment change is heard inside its own transaction (`DeploymentChanged`,
see `WebhookService.deployment_changed`), which inserts one `webhook_deliveries` row per matching
enabled subscription: a change that rolls back queues nothing, and one that commits cannot lose
its deliveries (an outbox). The `WebhookDispatcher` (`dispatcher`) sends them afterwards, outside
any API transaction, and retries with exponential backoff.

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
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson

from hotswap.events.model import KIND as EVENT
from hotswap.rollouts.model import Action
from hotswap.rollouts.signals import DeploymentChanged
from hotswap.webhooks.addresses import Kind, Refused, check_host

PING = "webhook.ping"
# What deployment changes are called (`DeploymentChanged.action`): a person's actions and the worker's.
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
        {"config": None, "eventId": changed.subject} if changed.subject_kind == EVENT else {"config": changed.subject}
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


def check_url(url: str, *, allow_private: bool) -> str:
    """An absolute http(s) URL with a host, without credentials (they would show in every read
    and audit record; the signature is how a receiver knows the sender), whose host is not an
    address a webhook may not reach in any spelling (see `addresses`; private and loopback ones
    only with `allow_private`). A name is not resolved here: the dispatcher checks what it
    resolves to when it connects."""
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
    try:
        check_host(parts.hostname, allow_private=allow_private)
    except Refused as exc:
        if exc.kind is Kind.INVALID:
            raise Refused(f"must name a host or a valid address: {exc}", exc.kind) from None
        raise Refused(f"must not point at {exc}", exc.kind) from None
    return url


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


def body_of(delivery: Delivery) -> bytes:
    """The JSON a receiver gets; the same bytes on every attempt (sorted keys)."""
    data = {k: v for k, v in delivery.payload.items() if k != "event"}
    envelope = {
        "id": delivery.id,
        "event": delivery.event,
        "webhookId": delivery.webhook_id,
        "createdAt": delivery.created_at.isoformat(),
        "data": data,
    }
    return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
