"""The event scheduler with the injected clock: retries, dead letters and their replay, a
restart after a stop that loses nothing, idempotent transitions, missed windows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.events.scheduler import EventScheduler
from hotswap.segments.tables import segments
from tests.events.test_events_api import at, create, event, served
from tests.helpers import Auth, Headers, fields, problem

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
async def admin(auth: Auth, clock: ManualClock) -> Headers:
    clock.set(T0)
    return await auth("admin", "ada", ttl=timedelta(days=400))


def fresh_scheduler(container: Container) -> EventScheduler:
    """Another worker process (or this one after a restart): nothing but the store in common."""
    return EventScheduler(container.events, container.audit, container.uow, container.clock, container.metrics)


async def drop_segment(container: Container, segment_id: str) -> None:
    async with container.engine.begin() as conn:
        await conn.execute(segments.delete().where(segments.c.id == segment_id))


async def status(client: httpx.AsyncClient, headers: Headers, event_id: str) -> str:
    value: str = (await client.get(f"/api/v1/events/{event_id}", headers=headers)).json()["status"]
    return value


async def test_a_failing_activation_is_retried_then_dead_lettered_then_replayed(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    segment = {"id": "whales", "name": "Whales", "condition": {"totalSpend": {"$gte": 500}}}
    assert (await client.post("/api/v1/segments", headers=admin, json=segment)).status_code == 201
    start = T0 + timedelta(hours=1)
    await create(client, admin, event("whale-week", start, segment="whales"))
    # The API refuses to delete a segment a planned event targets; the store is changed under
    # it instead (a hand-made fix gone wrong): the activation cannot happen.
    problem(await client.delete("/api/v1/segments/whales", headers=admin), 409)
    await drop_segment(container, "whales")
    await at(container, clock, start)
    assert await status(client, admin, "whale-week") == "Scheduled"
    # Retries after 1 s, 2 s and 4 s (exponential), and not before.
    for wait in (1, 2, 4):
        assert await container.event_scheduler.next_due() == clock.now() + timedelta(seconds=wait)
        await at(container, clock, clock.now() + timedelta(seconds=wait) - timedelta(milliseconds=1))
        assert await container.event_scheduler.run_due() == 0
        await at(container, clock, clock.now() + timedelta(milliseconds=1))
    # Three retries failed: a dead letter, and nothing left to run for it.
    letters = (await client.get("/api/v1/admin/dead-letters", headers=admin)).json()["items"]
    assert [(d["eventId"], d["action"], d["attempts"], d["state"]) for d in letters] == [
        ("whale-week", "open", 4, "dead")
    ]
    assert "whales" in letters[0]["lastError"]
    assert await container.event_scheduler.next_due() == start + timedelta(days=3)  # only the close waits
    assert container.metrics.event_dead_letters._value.get() == 1
    failures = [
        h
        for h in (await client.get("/api/v1/events/whale-week/history", headers=admin)).json()
        if h["kind"] == "failure"
    ]
    assert [f["detail"]["attempt"] for f in failures] == [1, 2, 3, 4]
    # Fixed and replayed: it goes live at once.
    assert (await client.post("/api/v1/segments", headers=admin, json=segment)).status_code == 201
    r = await client.post(f"/api/v1/admin/dead-letters/{letters[0]['id']}/replay", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending"
    await container.event_scheduler.run_due()
    assert await status(client, admin, "whale-week") == "Active"
    assert [e["id"] for e in (await served(client, admin))["events"]] == ["whale-week"]
    assert (await client.get("/api/v1/admin/dead-letters", headers=admin)).json()["items"] == []
    problem(await client.post(f"/api/v1/admin/dead-letters/{letters[0]['id']}/replay", headers=admin), 409)
    problem(await client.post("/api/v1/admin/dead-letters/99999/replay", headers=admin), 404)


async def test_a_stopped_worker_loses_nothing_and_catches_up_in_order(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    # Three events whose starts and ends fall while no worker runs.
    for i in range(3):
        await create(client, admin, event(f"e{i}", T0 + timedelta(hours=i + 1), days=0.5, eventType=f"T{i}"))
    clock.set(T0 + timedelta(hours=14))  # e0 and e1 have started and ended, e2 has started
    restarted = fresh_scheduler(container)
    assert await restarted.run_due() == 3
    assert [await status(client, admin, f"e{i}") for i in range(3)] == ["Expired", "Expired", "Active"]
    # Overdue starts that ended meanwhile never went live; the one still running did.
    history = (await client.get("/api/v1/events/e0/history", headers=admin)).json()
    assert [(h["kind"], h["action"]) for h in history] == [
        ("created", None),
        ("window", "skip"),
        ("transition", "expire"),
    ]
    history = (await client.get("/api/v1/events/e2/history", headers=admin)).json()
    assert [(h["kind"], h["action"]) for h in history] == [("created", None), ("transition", "activate")]
    assert await restarted.run_due() == 0
    assert await restarted.next_due() == T0 + timedelta(hours=15)


async def test_two_workers_at_once_run_each_transition_once(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    await create(client, admin, event("once", T0 + timedelta(hours=1)))
    clock.set(T0 + timedelta(hours=1))
    await asyncio.gather(fresh_scheduler(container).run_due(), fresh_scheduler(container).run_due())
    history = (await client.get("/api/v1/events/once/history", headers=admin)).json()
    assert [h["action"] for h in history if h["kind"] == "transition"] == ["activate"]


async def test_an_operator_activation_before_the_start_starts_now(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    await create(client, admin, event("early", T0 + timedelta(days=1)))
    r = await client.post("/api/v1/events/early/activate", headers=admin)
    assert r.json()["startTime"] == "2026-12-01T00:00:00Z"
    [live] = (await served(client, admin))["events"]
    assert live["windows"][0]["start"] == "2026-12-01T00:00:00Z"
    # The scheduled start later finds it open: nothing happens twice.
    await at(container, clock, T0 + timedelta(days=1))
    history = (await client.get("/api/v1/events/early/history", headers=admin)).json()
    assert [h["action"] for h in history if h["kind"] == "transition"] == ["activate"]


async def test_an_activation_whose_segment_is_gone_is_refused(
    client: httpx.AsyncClient, admin: Headers, container: Container
) -> None:
    segment = {"id": "whales", "name": "Whales", "condition": {"totalSpend": {"$gte": 500}}}
    await client.post("/api/v1/segments", headers=admin, json=segment)
    await create(client, admin, event("whale-week", T0 + timedelta(hours=1), segment="whales"))
    body = problem(await client.delete("/api/v1/segments/whales", headers=admin), 409)
    assert body["events"] == ["whale-week"]
    await drop_segment(container, "whales")
    assert "whales" in problem(await client.post("/api/v1/events/whale-week/activate", headers=admin), 409)["detail"]


async def test_cancelling_drops_the_timers_and_rescheduling_replaces_them(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    await create(client, admin, event("gone", T0 + timedelta(hours=1)))
    await create(client, admin, event("moved", T0 + timedelta(hours=2)))
    await client.post("/api/v1/events/gone/cancel", headers=admin)
    r = await client.put("/api/v1/events/moved", headers=admin, json={"startTime": "2026-12-01T05:00:00Z"})
    assert r.status_code == 200, r.text
    assert await container.event_scheduler.next_due() == T0 + timedelta(hours=5)
    await at(container, clock, T0 + timedelta(hours=4))
    assert await status(client, admin, "moved") == "Scheduled"
    await at(container, clock, T0 + timedelta(hours=5))
    assert await status(client, admin, "moved") == "Active"
    assert await status(client, admin, "gone") == "Cancelled"


async def test_one_failing_timer_does_not_hold_back_the_others_of_its_event(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    # Two regions: APAC opens first; its close and NA-WEST's open fall while no worker runs, and
    # NA-WEST's open fails. APAC must still close on time.
    segment = {"id": "whales", "name": "Whales", "condition": {"totalSpend": {"$gte": 500}}}
    await client.post("/api/v1/segments", headers=admin, json=segment)
    body = {
        **event("two-zones", T0),
        "timeMode": "regionLocal",
        "startTime": "2026-12-02T00:00:00",
        "endTime": "2026-12-02T12:00:00",
        "regions": ["apac", "na-west"],
        "segment": "whales",
    }
    await create(client, admin, body)
    await at(container, clock, datetime(2026, 12, 1, 16, tzinfo=UTC))  # Singapore midnight
    await drop_segment(container, "whales")
    await at(container, clock, datetime(2026, 12, 2, 8, tzinfo=UTC))  # APAC's close, LA's midnight
    windows = {w["region"]: w for w in (await client.get("/api/v1/events/two-zones", headers=admin)).json()["windows"]}
    assert windows["APAC"]["closedAt"] == "2026-12-02T08:00:00Z"
    assert windows["NA-WEST"]["openedAt"] is None
    assert await container.event_scheduler.next_due() == datetime(2026, 12, 2, 8, 0, 1, tzinfo=UTC)


async def test_edits_keep_what_has_happened(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    # Activated early by hand, then hot swapped: the early start stays.
    await create(client, admin, event("early", T0 + timedelta(days=2)))
    await client.post("/api/v1/events/early/activate", headers=admin)
    r = await client.put("/api/v1/events/early", headers=admin, json={"configuration": {"n": 2}})
    assert r.json()["startTime"] == "2026-12-01T00:00:00Z"
    [live] = (await served(client, admin))["events"]
    assert (live["windows"][0]["start"], live["configuration"]) == ("2026-12-01T00:00:00Z", {"n": 2})
    # Extended after it closed in one region: that region opens again.
    await create(
        client,
        admin,
        {**event("world", T0 + timedelta(hours=1), days=1, eventType="B"), "regions": ["apac", "eu-west"]},
    )
    r = await client.put(
        "/api/v1/events/world",
        headers=admin,
        json={
            "regions": ["apac", "eu-west"],
            "timeMode": "regionLocal",
            "startTime": "2026-12-01T10:00:00",
            "endTime": "2026-12-02T10:00:00",
        },
    )
    assert r.status_code == 200, r.text
    await at(container, clock, datetime(2026, 12, 1, 3, tzinfo=UTC))  # APAC (+8) has opened
    await at(container, clock, datetime(2026, 12, 2, 3, tzinfo=UTC))  # APAC has closed, London is open
    assert (await client.get("/api/v1/events/world", headers=admin)).json()["status"] == "Active"
    # The same regions by other names, in another order: nothing changes.
    same = await client.put("/api/v1/events/world", headers=admin, json={"regions": ["EU-WEST", "asia"]})
    assert same.json()["version"] == 2
    r = await client.put("/api/v1/events/world", headers=admin, json={"endTime": "2026-12-03T10:00:00"})
    windows = {w["region"]: w for w in r.json()["windows"]}
    assert (windows["APAC"]["openedAt"], windows["APAC"]["closedAt"]) == ("2026-12-01T03:00:00Z", None)
    assert any(e["id"] == "world" and len(e["windows"]) == 2 for e in (await served(client, admin))["events"])
    # The one open region edited away while the other has closed: the event would be over, so
    # the edit says it records the past.
    await at(container, clock, datetime(2026, 12, 3, 3, tzinfo=UTC))  # APAC closed again; London open
    apac = {"regions": ["apac"]}
    assert fields(problem(await client.put("/api/v1/events/world", headers=admin, json=apac), 422)) == ["body.endTime"]
    r = await client.put("/api/v1/events/world", headers=admin, json=apac | {"recordPast": True})
    assert r.json()["status"] == "Expired"
    assert all(e["id"] != "world" for e in (await served(client, admin))["events"])


async def test_an_early_activation_is_judged_by_the_rules(client: httpx.AsyncClient, admin: Headers) -> None:
    later = T0 + timedelta(days=10)
    for i in range(4):
        await create(client, admin, event(f"now-{i}", T0, days=5, eventType=f"T{i}"))
    await create(client, admin, event("later", later, eventType="T9"))
    body = problem(await client.post("/api/v1/events/later/activate", headers=admin), 409)
    assert body["conflicts"][0]["rule"] == "concurrent"
