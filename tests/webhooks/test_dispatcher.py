"""The webhook dispatcher: signed POSTs, delivered on 2xx, retried with backoff on anything else,
failed after the last attempt, never sent twice at once. Time is the ManualClock's: no sleeping."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.core.signals import AFTER_COMMIT
from hotswap.settings import Settings
from hotswap.webhooks.dispatcher import LOST, WebhookDispatcher
from hotswap.webhooks.signals import DeliveriesQueued
from hotswap.webhooks.tables import webhooks
from tests.conftest import START
from tests.helpers import Auth, Headers
from tests.webhooks.support import HOOK, ROLLBACK, log_of, queue, start_deployment, subscribe

Reply = int | Exception


class Receiver:
    """A webhook receiver behind httpx.MockTransport: records each request, answers from a script."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: list[Reply] = []
        self.default: Reply = 204
        self.got = asyncio.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        self.got.set()
        reply = self.replies.pop(0) if self.replies else self.default
        if isinstance(reply, Exception):
            raise reply
        return httpx.Response(reply, text="" if reply < 300 else "receiver says no\n  try later")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


MakeDispatcher = Callable[..., WebhookDispatcher]


@pytest.fixture
async def admin(auth: Auth) -> Headers:
    return await auth("admin", "ada", ttl=timedelta(days=60))


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def make_dispatcher(
    container: Container, clock: ManualClock, receiver: Receiver
) -> AsyncIterator[MakeDispatcher]:
    """Dispatchers over the test store, posting to `receiver`, without jitter (nominal delays)."""
    made: list[WebhookDispatcher] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:

        def make(**options: Any) -> WebhookDispatcher:
            options = {"client": http, "jitter": lambda: 0.5, **options}
            dispatcher = WebhookDispatcher(container.uow, clock, **options)
            # As the composition root wires its own: queued deliveries wake it.
            container.signals.connect(DeliveriesQueued, lambda _: dispatcher.wake(), phase=AFTER_COMMIT)
            made.append(dispatcher)
            return dispatcher

        yield make
        for dispatcher in made:
            await dispatcher.stop()


@pytest.fixture
def dispatcher(make_dispatcher: MakeDispatcher) -> WebhookDispatcher:
    return make_dispatcher()


async def only_delivery(client: httpx.AsyncClient, admin: Headers, hook_id: str) -> dict[str, Any]:
    [delivery] = (await log_of(client, admin, hook_id))["items"]
    found: dict[str, Any] = delivery
    return found


# -- what a receiver gets --------------------------------------------------------------------


async def test_a_receiver_verifies_the_signature_with_its_secret(
    client: httpx.AsyncClient, admin: Headers, container: Container, dispatcher: WebhookDispatcher, receiver: Receiver
) -> None:
    hook = await subscribe(client, admin)
    secret = hook["secret"].encode()
    await queue(container, ROLLBACK)
    assert await dispatcher.run_due() == 1
    [request] = receiver.requests
    delivery = await only_delivery(client, admin, hook["id"])
    assert request.method == "POST"
    assert str(request.url) == HOOK["url"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-hotswap-event"] == "deployment.rollback"
    assert request.headers["x-hotswap-delivery"] == delivery["id"]
    timestamp = request.headers["x-hotswap-timestamp"]
    assert timestamp == str(int(START.timestamp()))
    # What the README tells a receiver to do, with nothing but the secret and the raw request:
    expected = hmac.new(secret, timestamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-hotswap-signature"], f"sha256={expected}")
    wrong = hmac.new(b"not-the-secret", timestamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["x-hotswap-signature"] != f"sha256={wrong}"
    assert json.loads(request.content) == {
        "id": delivery["id"],
        "event": "deployment.rollback",
        "webhookId": hook["id"],
        "createdAt": START.isoformat(),
        "data": {k: v for k, v in ROLLBACK.items() if k != "event"},
    }


async def test_a_2xx_marks_the_delivery_delivered(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    dispatcher: WebhookDispatcher,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    receiver.default = 200
    clock.advance(timedelta(seconds=3))
    assert await dispatcher.run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["lastStatusCode"] == 200
    assert delivery["lastError"] is None
    assert delivery["nextAttemptAt"] is None
    assert delivery["lastAttemptAt"] == delivery["deliveredAt"] == "2026-06-01T12:00:03Z"
    clock.advance(timedelta(hours=2))
    assert await dispatcher.run_due() == 0  # delivered is final
    assert len(receiver.requests) == 1


async def test_the_same_body_and_delivery_id_are_sent_on_every_retry(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    dispatcher: WebhookDispatcher,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    receiver.replies = [503]
    await dispatcher.run_due()
    clock.advance(timedelta(seconds=10))
    await dispatcher.run_due()
    first, second = receiver.requests
    assert first.content == second.content
    assert first.headers["x-hotswap-delivery"] == second.headers["x-hotswap-delivery"]
    assert int(second.headers["x-hotswap-timestamp"]) == int(first.headers["x-hotswap-timestamp"]) + 10
    assert first.headers["x-hotswap-signature"] != second.headers["x-hotswap-signature"]
    assert (await only_delivery(client, admin, hook["id"]))["status"] == "delivered"


# -- retries ---------------------------------------------------------------------------------


async def test_failures_are_retried_on_the_backoff_schedule_then_fail(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make_dispatcher: MakeDispatcher,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    dispatcher = make_dispatcher(max_attempts=8)
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    receiver.default = 500
    waits = []
    for attempt in range(1, 9):
        assert await dispatcher.run_due() == 1, attempt
        delivery = await only_delivery(client, admin, hook["id"])
        assert delivery["attempts"] == attempt
        assert delivery["lastStatusCode"] == 500
        assert delivery["lastError"] == "HTTP 500: receiver says no try later"
        if attempt == 8:
            break
        assert delivery["status"] == "pending"
        wait = (datetime.fromisoformat(delivery["nextAttemptAt"]) - clock.now()).total_seconds()
        waits.append(wait)
        clock.advance(timedelta(seconds=wait - 1))
        assert await dispatcher.run_due() == 0  # not due yet
        clock.advance(timedelta(seconds=1))
    assert waits == [10, 20, 40, 80, 160, 320, 640]
    assert delivery["status"] == "failed"
    assert delivery["nextAttemptAt"] is None
    assert delivery["deliveredAt"] is None
    clock.advance(timedelta(days=1))
    assert await dispatcher.run_due() == 0
    assert len(receiver.requests) == 8


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectError("connection refused"), "ConnectError: connection refused"),
        (httpx.ReadTimeout("read timed out"), "no response within 5 s"),
        (httpx.RemoteProtocolError("server hung up"), "RemoteProtocolError: server hung up"),
    ],
)
async def test_no_response_is_retried(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    dispatcher: WebhookDispatcher,
    receiver: Receiver,
    clock: ManualClock,
    failure: Exception,
    error: str,
) -> None:
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    receiver.replies = [failure]
    assert await dispatcher.run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert delivery["status"] == "pending"
    assert delivery["lastStatusCode"] is None
    assert delivery["lastError"] == error
    assert delivery["nextAttemptAt"] == "2026-06-01T12:00:10Z"
    clock.advance(timedelta(seconds=10))
    assert await dispatcher.run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("delivered", 2, None)


async def test_a_receiver_that_hangs_is_cut_off_at_the_timeout(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        dispatcher = WebhookDispatcher(container.uow, clock, client=http, timeout=0.05)
        assert await asyncio.wait_for(dispatcher.run_due(), timeout=5) == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["lastError"]) == ("pending", "no response within 0.05 s")


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    client: httpx.AsyncClient, admin: Headers, container: Container, dispatcher: WebhookDispatcher, receiver: Receiver
) -> None:
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    receiver.replies = [302]
    await dispatcher.run_due()
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["lastStatusCode"]) == ("pending", 302)
    assert len(receiver.requests) == 1


# -- claims ----------------------------------------------------------------------------------


async def test_two_dispatchers_never_send_one_delivery_twice(
    client: httpx.AsyncClient, admin: Headers, container: Container, make_dispatcher: MakeDispatcher, receiver: Receiver
) -> None:
    for _ in range(4):
        await subscribe(client, admin, events=["*"])
    for step in range(5):
        await queue(container, {**ROLLBACK, "step": step})
    first, second = make_dispatcher(), make_dispatcher()
    sent = await asyncio.gather(first.run_due(), second.run_due(), first.run_due())
    assert sum(sent) == 20
    ids = [r.headers["x-hotswap-delivery"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 20


async def test_a_lapsed_claim_is_sent_again_and_the_stale_outcome_dropped(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make_dispatcher: MakeDispatcher,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    crashed, other = make_dispatcher(), make_dispatcher()
    delivery_id = (await only_delivery(client, admin, hook["id"]))["id"]
    claimed = await crashed._claim(delivery_id, 0)  # it claims, then stalls (or dies) before recording
    assert claimed is not None
    assert await other.run_due() == 0  # claimed: not due for anyone else
    clock.advance(timedelta(seconds=60))  # the claim lapses
    assert await other.run_due() == 1
    await crashed._record(claimed, await crashed.send(claimed))  # too late: dropped
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)


async def test_a_claim_that_lapses_on_the_last_attempt_fails_the_delivery(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make_dispatcher: MakeDispatcher,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    receiver.default = 500
    dispatcher = make_dispatcher(max_attempts=2)
    assert await dispatcher.run_due() == 1
    clock.advance(timedelta(seconds=10))
    delivery_id = (await only_delivery(client, admin, hook["id"]))["id"]
    assert await dispatcher._claim(delivery_id, 1) is not None  # the last attempt; its sender dies
    clock.advance(timedelta(seconds=60))  # the claim lapses
    assert await make_dispatcher(max_attempts=2).run_due() == 0
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["nextAttemptAt"]) == ("failed", 2, None)
    assert delivery["lastError"] == LOST
    assert len(receiver.requests) == 1  # never a third send
    clock.advance(timedelta(days=1))
    assert await dispatcher.run_due() == 0


async def test_a_delivery_of_a_disabled_webhook_is_not_sent(
    client: httpx.AsyncClient, admin: Headers, container: Container, dispatcher: WebhookDispatcher, receiver: Receiver
) -> None:
    hook = await subscribe(client, admin)
    await queue(container, ROLLBACK)
    # Disabled by a transaction that raced the one queueing (the API's DELETE fails what is pending).
    async with container.engine.begin() as conn:
        await conn.execute(sa.update(webhooks).where(webhooks.c.id == hook["id"]).values(enabled=False))
    assert await dispatcher.run_due() == 0
    assert receiver.requests == []
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["lastError"]) == ("failed", "the webhook was deleted")


# -- the loop --------------------------------------------------------------------------------


async def test_the_running_dispatcher_sends_as_soon_as_a_commit_queues(
    client: httpx.AsyncClient,
    admin: Headers,
    make_dispatcher: MakeDispatcher,
    receiver: Receiver,
) -> None:
    hook = await subscribe(client, admin)
    dispatcher = make_dispatcher(poll_seconds=30)  # only the wake-up can make it look in time
    dispatcher.start()
    await asyncio.sleep(0)  # let its first (empty) pass start
    r = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin)
    assert r.status_code == 202, r.text
    await asyncio.wait_for(receiver.got.wait(), timeout=5)
    await dispatcher.stop()
    assert receiver.bodies()[0]["event"] == "webhook.ping"


async def test_the_container_runs_the_dispatcher_with_the_worker(settings: Settings, clock: ManualClock) -> None:
    container = build_container(settings.model_copy(update={"worker": True}), clock=clock)
    await container.start()
    try:
        assert container.dispatcher._task is not None
    finally:
        await container.aclose()
    assert container.dispatcher._task is None


async def test_a_deployment_change_reaches_the_receiver(
    client: httpx.AsyncClient,
    admin: Headers,
    op: Headers,
    container: Container,
    dispatcher: WebhookDispatcher,
    receiver: Receiver,
) -> None:
    hook = await subscribe(client, admin, events=["*"])
    deployment = await start_deployment(client, op)
    assert await dispatcher.run_due() >= 1
    events = {b["event"] for b in receiver.bodies()}
    assert events <= {f"deployment.{a}" for a in ("create", "advance", "complete")}, events
    assert {b["data"]["deploymentId"] for b in receiver.bodies()} == {deployment["id"]}
    assert {b["webhookId"] for b in receiver.bodies()} == {hook["id"]}
