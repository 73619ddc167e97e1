"""The webhook dispatcher: sends queued deliveries, records each outcome, retries with backoff.

Each delivery goes through three steps, none of them inside an API transaction:

1. claim, in a transaction of its own: one conditional UPDATE counts the attempt and moves
   `next_attempt_at` forward by `claim_for` (longer than a send can take). It matches only while
   the delivery is pending, due, and at the attempt count the dispatcher read, so of two
   dispatchers (threads, processes or replicas) exactly one wins; the other moves on.
2. POST the body with the signature headers (see `model`), with a time limit and no redirects,
   through `egress`: the host is resolved once and every address it resolves to is checked
   (`addresses`) before the connection is made to one of them.
3. record the outcome, in a transaction of its own, fenced by that attempt count: a 2xx makes it
   delivered; anything else (a status, a timeout, a refused connection) schedules the next
   attempt after `backoff`, or fails it after `max_attempts`. A target the address policy refuses
   fails the delivery at once, without retries: the URL, or what its name resolves to, is an
   address webhooks may not reach, and retrying would only knock there again. The metric
   `hotswap_webhook_deliveries_refused` counts these; once the name is fixed, a test ping checks it.

A dispatcher that dies between 1 and 3 leaves the claim to lapse: the delivery is due again at
`next_attempt_at`, and that attempt is counted (the receiver may well have had it: delivery is at
least once, and `X-HotSwap-Delivery` lets a receiver drop a duplicate). A claim that lapses on the
last attempt fails the delivery instead: no delivery is sent more than `max_attempts` times.

`run_due` is one pass, driven by the injectable clock in tests; `run` loops like the rollout
worker: it sleeps until the earliest `next_attempt_at`, at most `poll_seconds`, or until a
commit in this process queued something (`DeliveriesQueued`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from hotswap import __version__
from hotswap.core.clock import Clock
from hotswap.core.dueloop import DueLoop
from hotswap.observability.prometheus import Metrics
from hotswap.storage.uow import UnitOfWorkFactory
from hotswap.webhooks.addresses import Kind, Refused
from hotswap.webhooks.egress import GuardedBackend, guarded_transport, system_resolver
from hotswap.webhooks.model import DELIVERED, FAILED, Claimed, backoff, body_of, check_url, sign
from hotswap.webhooks.repository import WebhookRepository

log = logging.getLogger(__name__)

MAX_ERROR = 500  # characters of an error (or of a refusing receiver's body) kept in the log
LOST = "the last attempt's outcome was never recorded (its dispatcher stopped while sending)"


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None  # None: no response (timeout, connection error, refused target)
    error: str | None
    refused: bool = False  # the address policy refused the target: final, not retried

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDispatcher(DueLoop):
    name = "webhook-dispatcher"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        client: httpx.AsyncClient | None = None,
        egress: GuardedBackend | None = None,
        metrics: Metrics | None = None,
        timeout: float = 5.0,
        max_attempts: int = 8,
        claim_for: timedelta = timedelta(seconds=60),
        poll_seconds: float = 1.0,
        batch: int = 100,
        concurrency: int = 8,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if claim_for.total_seconds() <= timeout:
            raise ValueError("a claim must outlast a send (claim_for > timeout)")
        super().__init__(clock, poll_seconds)
        self.uow = uow
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.claim_for = claim_for
        self.batch = batch
        self.concurrency = concurrency
        self.jitter = jitter
        # Where connections are made; without one, the system resolver and no private networks.
        # An injected `client` (tests' mock transports) sends without it; the URL is still checked.
        self.egress = egress or GuardedBackend(system_resolver, allow_private=False)
        self.metrics = metrics
        self._client = client
        self._owns_client = client is None  # an injected client is its owner's to close

    # -- one pass ---------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Send each delivery due now (at most `concurrency` at once). Returns how many were sent."""
        async with self.uow(read_only=True) as uow:
            due = await WebhookRepository(uow.conn).due(uow.clock.now(), self.batch)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(delivery_id: str, attempts: int) -> bool:
            async with gate:
                return await self.deliver(delivery_id, attempts)

        results = await asyncio.gather(*(one(i, a) for i, a in due), return_exceptions=True)
        for (delivery_id, _), result in zip(due, results, strict=True):
            if isinstance(result, BaseException):  # the store failed: the claim lapses, a later pass retries
                log.error("webhook delivery %s failed", delivery_id, exc_info=result)
        return sum(1 for r in results if r is True)

    async def deliver(self, delivery_id: str, attempts: int) -> bool:
        """Claim, send, record one delivery seen at `attempts`. False: someone else has it."""
        claimed = await self._claim(delivery_id, attempts)
        if claimed is None:
            return False
        outcome = await self.send(claimed)
        await self._record(claimed, outcome)
        return True

    async def _claim(self, delivery_id: str, attempts: int) -> Claimed | None:
        async with self.uow() as uow:
            repo = WebhookRepository(uow.conn)
            now = uow.clock.now()
            if attempts >= self.max_attempts:  # the last attempt's claim lapsed: no more tries
                if await repo.expire(delivery_id, attempts, now, LOST):
                    await uow.commit()
                return None
            if not await repo.claim(delivery_id, attempts, now, now + self.claim_for):
                return None
            delivery, url, secret, enabled = await repo.target(delivery_id)
            if not enabled:  # deleted while this was being queued: it sends nothing
                values = {"status": FAILED, "next_attempt_at": None, "last_error": "the webhook was deleted"}
                await repo.finish(delivery_id, delivery.attempts, values)
                await uow.commit()
                return None
            await uow.commit()
        return Claimed(delivery, url, secret)

    async def send(self, claimed: Claimed) -> Outcome:
        delivery = claimed.delivery
        body = body_of(delivery)
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"HotSwap-Webhooks/{__version__}",
            "X-HotSwap-Event": delivery.event,
            "X-HotSwap-Delivery": delivery.id,
            "X-HotSwap-Timestamp": str(timestamp),
            "X-HotSwap-Signature": sign(claimed.secret, timestamp, body),
        }
        try:
            # Stored before the address rules tightened, or under another setting: checked again.
            check_url(claimed.url, allow_private=self.egress.allow_private)
        except ValueError as exc:
            return self._refused(exc.kind if isinstance(exc, Refused) else Kind.INVALID, f"the URL {exc}")
        try:
            # httpx's timeouts bound each phase; this bounds the whole exchange.
            async with asyncio.timeout(self.timeout):
                async with self._http().stream("POST", claimed.url, content=body, headers=headers) as response:
                    if response.is_success:
                        return Outcome(response.status_code, None)
                    return Outcome(response.status_code, await _refusal(response))
        except Refused as exc:  # what the host resolved to (`egress`)
            return self._refused(exc.kind, str(exc))
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(None, f"no response within {self.timeout:g} s")
        except Exception as exc:  # connection refused, bad TLS, a URL httpx refuses...: all retried
            return Outcome(None, (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:MAX_ERROR])

    def _refused(self, kind: Kind, reason: str) -> Outcome:
        if self.metrics is not None:
            self.metrics.webhook_refusals.labels(kind.value).inc()
        return Outcome(None, f"refused: {reason}"[:MAX_ERROR], refused=True)

    async def _record(self, claimed: Claimed, outcome: Outcome) -> None:
        delivery = claimed.delivery
        async with self.uow() as uow:
            now = uow.clock.now()
            values: dict[str, Any] = {"last_status_code": outcome.status_code, "last_error": outcome.error}
            if outcome.ok:
                values |= {"status": DELIVERED, "delivered_at": now, "next_attempt_at": None}
            elif outcome.refused or delivery.attempts >= self.max_attempts:
                values |= {"status": FAILED, "next_attempt_at": None}
                log.warning(
                    "webhook delivery %s to %s failed after %d attempts: %s",
                    delivery.id,
                    claimed.url,
                    delivery.attempts,
                    outcome.error,
                )
            else:
                values["next_attempt_at"] = now + backoff(delivery.attempts, self.jitter())
            if not await WebhookRepository(uow.conn).finish(delivery.id, delivery.attempts, values):
                log.info("webhook delivery %s was claimed again meanwhile; outcome dropped", delivery.id)
                return
            await uow.commit()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=guarded_transport(self.egress), timeout=self.timeout, follow_redirects=False
            )
        return self._client

    # -- the loop ---------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        async with self.uow(read_only=True) as uow:
            return await WebhookRepository(uow.conn).next_due()

    async def stop(self) -> None:
        await super().stop()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


async def _refusal(response: httpx.Response) -> str:
    """`HTTP 503: <the start of the body>`: what the receiver said, for the delivery log."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= MAX_ERROR:
            break  # the rest is never read: leaving the stream closes the connection
    text = " ".join(head[:MAX_ERROR].decode("utf-8", "replace").split())
    return (f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}")[:MAX_ERROR]
