"""Webhook subscriptions over HTTP, the outbox that queues deliveries inside a deployment's
transaction, and the pure rules (event names, URLs, signatures, backoff)."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hotswap.api import create_app
from hotswap.auth.model import Permission, Principal, Role
from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.webhooks import model as w
from tests.conftest import START
from tests.helpers import Auth, CountRows, Headers, fields, problem
from tests.webhooks.support import HOOK, INTERNAL_SPELLINGS, ROLLBACK, log_of, queue, start_deployment, subscribe


@pytest.fixture
async def admin(auth: Auth) -> Headers:
    return await auth("admin", "ada", ttl=timedelta(days=60))


async def audit_actions(client: httpx.AsyncClient, headers: Headers, target_id: str) -> list[str]:
    r = await client.get("/api/v1/audit", headers=headers, params={"targetId": target_id, "targetType": "webhook"})
    assert r.status_code == 200, r.text
    return [item["action"] for item in r.json()["items"]]


# -- subscriptions ---------------------------------------------------------------------------


async def test_create_returns_the_generated_secret_once(client: httpx.AsyncClient, admin: Headers) -> None:
    r = await client.post("/api/v1/webhooks", headers=admin, json=HOOK)
    assert r.status_code == 201, r.text
    created = r.json()
    assert re.fullmatch(r"[0-9a-f]{64}", created["secret"])  # 32 random bytes
    assert r.headers["location"] == f"/api/v1/webhooks/{created['id']}"
    read = {k: v for k, v in created.items() if k != "secret"}
    assert read == {
        "id": created["id"],
        "url": HOOK["url"],
        "events": ["deployment.rollback"],
        "enabled": True,
        "createdAt": "2026-06-01T12:00:00Z",
        "createdBy": "ada",
    }
    got = await client.get(f"/api/v1/webhooks/{created['id']}", headers=admin)
    assert got.status_code == 200
    assert got.json() == read
    listed = await client.get("/api/v1/webhooks", headers=admin)
    assert listed.json() == {"items": [read], "nextCursor": None}
    assert created["secret"] not in got.text + listed.text
    assert await audit_actions(client, admin, created["id"]) == ["webhook.create"]


async def test_a_given_secret_is_kept_and_events_are_deduplicated(client: httpx.AsyncClient, admin: Headers) -> None:
    secret = "s3cret-for-my-receiver"
    created = await subscribe(client, admin, secret=secret, events=["deployment.*", "*", "deployment.*"])
    assert created["secret"] == secret
    assert created["events"] == ["deployment.*", "*"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "body.url"),
        ({"url": "hooks.example.com/x"}, "body.url"),
        ({"url": "https://"}, "body.url"),
        ({"url": "https://ops:pw@hooks.example.com/x"}, "body.url"),
        ({"url": "https://hooks.example.com/a b"}, "body.url"),
        ({"url": "https://hooks.example.com:99999/x"}, "body.url"),
        ({"url": "https://hooks.example.com/" + "x" * 2000}, "body.url"),
        ({"url": ""}, "body.url"),
        ({"url": None}, "body.url"),
        ({"url": "http://169.254.169.254/latest/meta-data/iam/"}, "body.url"),
        ({"events": []}, "body.events"),
        ({"events": "deployment.rollback"}, "body.events"),
        ({"events": ["deployment.rollback", "deployment.explode"]}, "body.events.1"),
        ({"events": ["*"] * 51}, "body.events"),
        ({"secret": "too-short"}, "body.secret"),
        ({"secret": "x" * 201}, "body.secret"),
        ({"colour": "blue"}, "body.colour"),
    ],
)
async def test_invalid_create_is_422_naming_the_field(
    client: httpx.AsyncClient, admin: Headers, count_rows: CountRows, change: dict[str, Any], field: str
) -> None:
    p = problem(await client.post("/api/v1/webhooks", headers=admin, json={**HOOK, **change}), 422)
    assert field in fields(p), p
    assert await count_rows("webhooks") == 0


@pytest.mark.parametrize(
    "url",
    [
        *INTERNAL_SPELLINGS,
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://127.0.0.1:8080/hook",
        "http://0x7f.1/",
        "http://localhost/",
        "http://hooks.localhost/",
        "http://10.0.0.7/",
        "http://[::1]/",
        "http://1.2.3.256/",
    ],
)
async def test_an_internal_address_in_any_spelling_is_refused_at_registration(
    client: httpx.AsyncClient, admin: Headers, count_rows: CountRows, url: str
) -> None:
    audited = await count_rows("audit_records")  # issuing the admin's token is one
    p = problem(await client.post("/api/v1/webhooks", headers=admin, json={**HOOK, "url": url}), 422)
    assert fields(p) == ["body.url"], p
    assert await count_rows("webhooks") == 0
    assert await count_rows("audit_records") == audited


async def test_private_receivers_are_accepted_where_the_setting_allows_them(
    container: Container, clock: ManualClock, admin: Headers, count_rows: CountRows
) -> None:
    settings = container.settings.model_copy(update={"webhook_allow_private_networks": True})
    allowing = build_container(settings, clock=clock)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, container=allowing))
        async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as client:
            for url in ("http://127.0.0.1:8080/hook", "http://0x7f.1/", "http://localhost/", "http://[fd12::1]/"):
                assert (await subscribe(client, admin, url=url))["url"] == url
            for url in ("http://169.254.169.254/", "http://[::ffff:a9fe:a9fe]/", "http://0/"):
                p = problem(await client.post("/api/v1/webhooks", headers=admin, json={**HOOK, "url": url}), 422)
                assert fields(p) == ["body.url"], p
    finally:
        await allowing.aclose()
    assert await count_rows("webhooks") == 4


async def test_a_url_of_2000_characters_is_accepted(client: httpx.AsyncClient, admin: Headers) -> None:
    url = "https://hooks.example.com/" + "x" * (2000 - len("https://hooks.example.com/"))
    assert (await subscribe(client, admin, url=url))["url"] == url


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/webhooks/wh_missing"),
        ("DELETE", "/api/v1/webhooks/wh_missing"),
        ("GET", "/api/v1/webhooks/wh_missing/deliveries"),
        ("POST", "/api/v1/webhooks/wh_missing/test"),
    ],
)
async def test_an_unknown_webhook_is_404(client: httpx.AsyncClient, admin: Headers, method: str, path: str) -> None:
    problem(await client.request(method, path, headers=admin), 404)


@pytest.mark.parametrize("role", ["operator", "approver", "viewer", "server"])
async def test_only_admins_manage_webhooks(
    client: httpx.AsyncClient, admin: Headers, auth: Auth, count_rows: CountRows, role: str
) -> None:
    hook = await subscribe(client, admin)
    headers = await auth(role)
    problem(await client.post("/api/v1/webhooks", headers=headers, json=HOOK), 403)
    problem(await client.get("/api/v1/webhooks", headers=headers), 403)
    problem(await client.get(f"/api/v1/webhooks/{hook['id']}", headers=headers), 403)
    problem(await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers), 403)
    problem(await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=headers), 403)
    problem(await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=headers), 403)
    assert await count_rows("webhooks") == 1
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin)).json()["enabled"] is True


async def test_without_a_token_it_is_401(client: httpx.AsyncClient) -> None:
    problem(await client.get("/api/v1/webhooks"), 401)


def test_only_the_admin_role_holds_webhook_admin() -> None:
    holders = {r for r in Role if Principal("someone", r, "-").can(Permission.WEBHOOK_ADMIN)}
    assert holders == {Role.ADMIN}


async def test_delete_stops_sending_but_keeps_the_log(
    client: httpx.AsyncClient, admin: Headers, container: Container
) -> None:
    hook = await subscribe(client, admin, events=["*"])
    await queue(container, ROLLBACK)
    r = await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin)
    assert r.status_code == 204, r.text
    got = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=admin)).json()
    assert got["enabled"] is False
    assert (await client.get("/api/v1/webhooks", headers=admin)).json()["items"] == []
    everything = await client.get("/api/v1/webhooks", headers=admin, params={"includeDisabled": "true"})
    assert [h["id"] for h in everything.json()["items"]] == [hook["id"]]
    [delivery] = (await log_of(client, admin, hook["id"]))["items"]
    assert delivery["status"] == "failed"
    assert delivery["lastError"] == "the webhook was deleted"
    assert delivery["nextAttemptAt"] is None
    # Nothing more is queued for it, a test ping is refused, and deleting again changes nothing.
    await queue(container, ROLLBACK)
    assert len((await log_of(client, admin, hook["id"]))["items"]) == 1
    problem(await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin), 409)
    assert (await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=admin)).status_code == 204
    assert await audit_actions(client, admin, hook["id"]) == ["webhook.delete", "webhook.create"]


async def test_the_test_endpoint_queues_a_ping(client: httpx.AsyncClient, admin: Headers) -> None:
    hook = await subscribe(client, admin)  # a ping goes whatever events the webhook takes
    r = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin)
    assert r.status_code == 202, r.text
    ping = r.json()
    assert ping["event"] == "webhook.ping"
    assert ping["status"] == "pending"
    assert ping["attempts"] == 0
    assert ping["nextAttemptAt"] == "2026-06-01T12:00:00Z"
    assert ping["payload"] == {
        "event": "webhook.ping",
        "webhookId": hook["id"],
        "actor": "ada",
        "at": START.isoformat(),
    }
    assert (await log_of(client, admin, hook["id"]))["items"] == [ping]
    assert await audit_actions(client, admin, hook["id"]) == ["webhook.test", "webhook.create"]


async def test_webhooks_are_listed_page_by_page(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    ids = []
    for _ in range(5):
        ids.append((await subscribe(client, admin))["id"])
        clock.advance(timedelta(seconds=1))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/webhooks", headers=admin, params=params)).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids
    p = problem(await client.get("/api/v1/webhooks", headers=admin, params={"cursor": "garbage"}), 422)
    assert "query.cursor" in fields(p)


async def test_the_delivery_log_pages_newest_first_and_filters_by_status(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    hook = await subscribe(client, admin, events=["*"])
    for step in range(5):
        await queue(container, {**ROLLBACK, "event": "deployment.advance", "step": step})
        clock.advance(timedelta(seconds=1))
    first = await log_of(client, admin, hook["id"], limit=3)
    second = await log_of(client, admin, hook["id"], limit=3, cursor=first["nextCursor"])
    assert second["nextCursor"] is None
    steps = [d["payload"]["step"] for d in first["items"] + second["items"]]
    assert steps == [4, 3, 2, 1, 0]
    assert (await log_of(client, admin, hook["id"], status="pending"))["items"] != []
    assert (await log_of(client, admin, hook["id"], status="delivered"))["items"] == []
    p = problem(await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?status=lost", headers=admin), 422)
    assert "query.status" in fields(p)
    p = problem(await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=0", headers=admin), 422)
    assert "query.limit" in fields(p)


# -- the outbox ------------------------------------------------------------------------------


async def test_a_rolled_back_change_queues_nothing(
    client: httpx.AsyncClient, admin: Headers, container: Container, count_rows: CountRows
) -> None:
    await subscribe(client, admin, events=["*"])
    async with container.uow() as uow:
        await container.webhooks.queue(uow, ROLLBACK)
        await uow.rollback()
    async with container.uow() as uow:
        await container.webhooks.queue(uow, ROLLBACK)
        # leaving without a commit: the change failed after its listeners ran
    assert await count_rows("webhook_deliveries") == 0
    await queue(container, ROLLBACK)
    assert await count_rows("webhook_deliveries") == 1


async def test_deliveries_are_queued_for_matching_enabled_subscriptions_only(
    client: httpx.AsyncClient, admin: Headers, container: Container
) -> None:
    everything = await subscribe(client, admin, events=["*"])
    deployments = await subscribe(client, admin, events=["deployment.*"])
    rollbacks = await subscribe(client, admin, events=["deployment.rollback", "deployment.pause"])
    pauses = await subscribe(client, admin, events=["deployment.pause"])
    deleted = await subscribe(client, admin, events=["*"])
    assert (await client.delete(f"/api/v1/webhooks/{deleted['id']}", headers=admin)).status_code == 204
    await queue(container, ROLLBACK)
    counts = {
        h["id"]: len((await log_of(client, admin, h["id"]))["items"])
        for h in (everything, deployments, rollbacks, pauses, deleted)
    }
    assert counts == {everything["id"]: 1, deployments["id"]: 1, rollbacks["id"]: 1, pauses["id"]: 0, deleted["id"]: 0}
    [queued] = (await log_of(client, admin, rollbacks["id"]))["items"]
    assert queued["event"] == "deployment.rollback"
    assert queued["payload"] == ROLLBACK
    assert queued["status"] == "pending"
    assert queued["nextAttemptAt"] == "2026-06-01T12:00:00Z"


async def test_a_deployment_change_queues_a_delivery(client: httpx.AsyncClient, admin: Headers, op: Headers) -> None:
    hook = await subscribe(client, admin, events=["deployment.*"])
    deployment = await start_deployment(client, op)
    queued = (await log_of(client, admin, hook["id"]))["items"]
    assert queued, "the deployment's first step queued nothing"
    for delivery in queued:
        assert delivery["event"].startswith("deployment.")
        assert delivery["status"] == "pending"
        payload = delivery["payload"]
        assert payload["event"] == delivery["event"]
        assert payload["deploymentId"] == deployment["id"]
        assert (payload["config"], payload["version"], payload["environment"]) == ("weapon-balance", "2.0.0", "Staging")
        assert payload["strategy"] == "Direct"
    sequence = {d["event"]: d["payload"]["sequence"] for d in queued}
    assert sequence["deployment.create"] < sequence["deployment.advance"]  # queued in one second: `at` ties


# -- pure rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscribed", "event", "expected"),
    [
        (["*"], "deployment.rollback", True),
        (["*"], "webhook.ping", True),
        (["deployment.*"], "deployment.advance", True),
        (["deployment.*"], "webhook.ping", False),
        (["deployment.rollback"], "deployment.rollback", True),
        (["deployment.rollback"], "deployment.rollbacks", False),
        (["deployment.pause", "deployment.resume"], "deployment.resume", True),
        ([], "deployment.rollback", False),
    ],
)
def test_event_matching(subscribed: list[str], event: str, expected: bool) -> None:
    assert w.matches(subscribed, event) is expected


def test_every_deployment_action_is_a_known_event() -> None:
    assert {
        "deployment.rollback",
        "deployment.advance",
        "deployment.complete",
        "deployment.pause",
    } <= w.DEPLOYMENT_EVENTS
    assert w.check_event("deployment.promote") == "deployment.promote"
    with pytest.raises(ValueError, match="unknown event"):
        w.check_event("deployment.explode")


def test_the_signature_is_an_hmac_of_timestamp_dot_body() -> None:
    body = b'{"event":"deployment.rollback"}'
    expected = hmac.new(b"k" * 16, b"1780315200." + body, hashlib.sha256).hexdigest()
    assert w.sign("k" * 16, 1780315200, body) == f"sha256={expected}"
    signature = w.sign("k" * 16, 1780315200, body)
    assert w.verify("k" * 16, "1780315200", body, signature, now=1780315200 + 299)
    assert not w.verify("k" * 16, "1780315200", body, signature, now=1780315200 + 301)  # a replay, later
    assert not w.verify("k" * 16, "1780315200", body + b" ", signature, now=1780315200)
    assert not w.verify("other-secret-16b", "1780315200", body, signature, now=1780315200)
    assert not w.verify("k" * 16, "soon", body, signature, now=1780315200)


def test_backoff_doubles_from_ten_seconds_up_to_an_hour() -> None:
    nominal = [w.backoff(n, 0.5).total_seconds() for n in range(1, 11)]
    assert nominal == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert w.backoff(100, 0.5) == timedelta(hours=1)
    assert w.backoff(1, 0.0) == timedelta(seconds=8)  # -20%
    assert timedelta(seconds=11.9) < w.backoff(1, 0.9999) <= timedelta(seconds=12)  # +20%
    assert w.backoff(30, 0.9999) == timedelta(hours=1)  # jitter never passes the cap
