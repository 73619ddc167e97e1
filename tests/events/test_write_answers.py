"""The answer to an event write tells the truth: it shows what the next read will, with no
scheduler pass in between. Times that have already ended are refused with a 422 that says what
to do, unless the request records a past event (`recordPast`): then it is stored Expired,
never served, and audited like any create. An edit into the past is recorded the same way: the
event ends in the edit, by its author."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.events.test_events_api import create, event, served
from tests.helpers import Auth, CountRows, Headers, fields, problem

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


@pytest.fixture
async def op(auth: Auth, clock: ManualClock) -> Headers:
    clock.set(NOW)
    return await auth("operator", "olivia", ttl=timedelta(days=60))


async def read(client: httpx.AsyncClient, headers: Headers, event_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/events/{event_id}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def history(client: httpx.AsyncClient, headers: Headers, event_id: str) -> list[tuple[Any, ...]]:
    entries = (await client.get(f"/api/v1/events/{event_id}/history", headers=headers)).json()
    return [(h["kind"], h["action"], h["fromStatus"], h["toStatus"], h["actor"]) for h in entries]


async def test_an_event_that_has_ended_is_refused_with_what_to_do(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    body = problem(
        await client.post("/api/v1/events", headers=op, json=event("last-year", NOW - timedelta(days=30))), 422
    )
    assert fields(body) == ["body.endTime"]
    message = body["errors"][0]["message"]
    assert "ended at 2026-11-10T12:00:00Z, before now (2026-12-07T12:00:00Z)" in message
    assert 'move endTime into the future, or send "recordPast": true' in message
    assert await count_rows("live_events") == 0
    assert await count_rows("event_timers") == 0
    # An end exactly now has ended too: the window would never be open.
    problem(await client.post("/api/v1/events", headers=op, json=event("just-now", NOW - timedelta(days=3))), 422)


async def test_a_past_event_recorded_on_purpose_is_expired_at_once_and_never_served(
    client: httpx.AsyncClient, op: Headers, container: Container, count_rows: CountRows
) -> None:
    past = event("last-year", NOW - timedelta(days=30)) | {"recordPast": True}
    r = await client.post("/api/v1/events", headers=op, json=past)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["status"], created["allowedActions"]) == ("Expired", ["archive"])
    assert created == await read(client, op, "last-year")
    [window] = created["windows"]
    assert (window["openedAt"], window["closedAt"]) == (None, "2026-12-07T12:00:00Z")
    # Nothing for the scheduler to do, nothing served.
    assert await count_rows("event_timers") == 0
    assert await container.event_scheduler.run_due() == 0
    assert await read(client, op, "last-year") == created
    assert (await served(client, op))["events"] == []
    assert await history(client, op, "last-year") == [("created", None, None, "Expired", "olivia")]
    audit = (await client.get("/api/v1/audit?targetType=live_event", headers=op)).json()["items"]
    assert [(a["action"], a["actor"]) for a in audit] == [("event.create", "olivia")]
    assert "recorded past live event 'last-year'" in audit[0]["summary"]
    # It can be archived, like any event that has ended, and no more.
    problem(await client.post("/api/v1/events/last-year/activate", headers=op), 409)
    assert (await client.post("/api/v1/events/last-year/archive", headers=op)).json()["status"] == "Archived"


async def test_a_past_event_is_not_judged_by_the_scheduling_rules(client: httpx.AsyncClient, op: Headers) -> None:
    # Two majors 48 h apart at most break the rules only while both can still run.
    await create(client, op, event("major-now", NOW - timedelta(days=1), days=3, eventClass="major"))
    past = event("major-before", NOW - timedelta(days=3), days=1.5, eventClass="major") | {"recordPast": True}
    assert (await create(client, op, past))["status"] == "Expired"
    r = await client.post("/api/v1/events/validate", headers=op, json=past)
    assert (r.status_code, r.json()["valid"], r.json()["conflicts"]) == (200, True, [])


async def test_record_past_on_an_event_that_has_not_ended_is_refused(
    client: httpx.AsyncClient, op: Headers, count_rows: CountRows
) -> None:
    running = event("running", NOW - timedelta(days=1)) | {"recordPast": True}
    body = problem(await client.post("/api/v1/events", headers=op, json=running), 422)
    assert fields(body) == ["body.recordPast"]
    assert "not past; leave out recordPast" in body["errors"][0]["message"]
    assert await count_rows("live_events") == 0


async def test_an_event_created_after_its_start_is_active_in_the_answer(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    created = await create(client, op, event("started", NOW - timedelta(days=1)))
    assert (created["status"], created["allowedActions"]) == ("Active", ["pause"])
    assert created["windows"][0]["openedAt"] == "2026-12-07T12:00:00Z"
    assert created == await read(client, op, "started")
    assert [e["id"] for e in (await served(client, op))["events"]] == ["started"]
    assert await container.event_scheduler.run_due() == 0  # nothing was left for it
    assert created == await read(client, op, "started")
    assert await history(client, op, "started") == [
        ("created", None, None, "Scheduled", "olivia"),
        ("transition", "activate", "Scheduled", "Active", "scheduler"),
    ]


async def test_a_template_length_that_has_ended_names_end_time(client: httpx.AsyncClient, op: Headers) -> None:
    template = {"templateId": "weekend", "type": "Gacha", "name": "Weekend", "durationSeconds": 2 * 86400}
    assert (await client.post("/api/v1/event-templates", headers=op, json=template)).status_code == 201
    body = {"eventId": "old-weekend", "templateId": "weekend", "startTime": "2026-11-01T00:00:00Z"}
    refused = problem(await client.post("/api/v1/events", headers=op, json=body), 422)
    assert fields(refused) == ["body.endTime"]
    assert "startTime plus the template's length" in refused["errors"][0]["message"]
    assert (await create(client, op, body | {"recordPast": True}))["status"] == "Expired"
    used = (await client.get("/api/v1/event-templates/weekend", headers=op)).json()
    assert used["usageCount"] == 1  # the refused create counted nothing


async def audited(client: httpx.AsyncClient, headers: Headers, event_id: str) -> list[tuple[str, str, str]]:
    """The event's audit records, oldest first."""
    r = await client.get(f"/api/v1/audit?targetType=live_event&targetId={event_id}", headers=headers)
    return [(a["action"], a["actor"], a["summary"]) for a in reversed(r.json()["items"])]


async def test_an_edit_into_the_past_needs_record_past(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op, event("live", NOW - timedelta(days=1), days=5))
    before = await read(client, op, "live")
    moved = {"endTime": "2026-12-07T00:00:00Z"}
    body = problem(await client.put("/api/v1/events/live", headers=op, json=moved), 422)
    assert fields(body) == ["body.endTime"]
    assert 'send "recordPast": true' in body["errors"][0]["message"]
    assert await read(client, op, "live") == before  # nothing written
    # recordPast on an edit whose times have not ended is refused the same way as on a create.
    await create(client, op, event("later", NOW + timedelta(days=1)))
    later = {"endTime": "2026-12-20T00:00:00Z", "recordPast": True}
    assert fields(problem(await client.put("/api/v1/events/later", headers=op, json=later), 422)) == ["body.recordPast"]


async def test_a_scheduled_event_edited_into_the_past_is_recorded_like_a_past_create(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    await create(client, op, event("soon", NOW + timedelta(days=1), days=2))
    past = {"startTime": "2026-11-01T00:00:00Z", "endTime": "2026-11-02T00:00:00Z", "recordPast": True}
    r = await client.put("/api/v1/events/soon", headers=op, json=past)
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["status"], edited["allowedActions"], edited["version"]) == ("Expired", ["archive"], 2)
    assert (edited["startTime"], edited["endTime"]) == ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    [window] = edited["windows"]
    assert (window["openedAt"], window["closedAt"]) == (None, "2026-12-07T12:00:00Z")  # as a past create's
    assert edited == await read(client, op, "soon")
    # Ended in the edit, by its author: no window skipped as missed, nothing left to the scheduler.
    entries = (await client.get("/api/v1/events/soon/history", headers=op)).json()
    assert [(h["kind"], h["action"], h["fromStatus"], h["toStatus"], h["actor"]) for h in entries] == [
        ("created", None, None, "Scheduled", "olivia"),
        ("version", None, None, None, "olivia"),
        ("transition", "expire", "Scheduled", "Expired", "olivia"),
    ]
    assert entries[-1]["detail"] == {"recordPast": True}
    assert await container.event_scheduler.run_due() == 0
    assert await read(client, op, "soon") == edited
    assert await audited(client, op, "soon") == [
        ("event.create", "olivia", "scheduled live event 'soon' in Production"),
        (
            "event.update",
            "olivia",
            "recorded past live event 'soon' (ended 2026-11-02T00:00:00Z): changed endTime, startTime; "
            "Scheduled -> Expired",
        ),
    ]


async def test_an_active_event_edited_into_the_past_ends_at_the_edit_and_leaves_the_snapshot(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await create(client, op, event("live", NOW - timedelta(days=1), days=5))
    before = await served(client, op)
    assert [e["id"] for e in before["events"]] == ["live"]
    clock.set(NOW + timedelta(hours=6))  # players have had it for six hours
    r = await client.put(
        "/api/v1/events/live", headers=op, json={"endTime": "2026-12-07T15:00:00Z", "recordPast": True}
    )
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["status"], edited["version"], edited["endTime"]) == ("Expired", 2, "2026-12-07T15:00:00Z")
    # Its times say when it is recorded as having ended; its window, that it was served until the
    # edit: it cannot be taken back from the players who had it after 15:00.
    [window] = edited["windows"]
    assert (window["openedAt"], window["closedAt"]) == ("2026-12-07T12:00:00Z", "2026-12-07T18:00:00Z")
    assert edited == await read(client, op, "live")
    after = await served(client, op)
    assert (after["events"], after["revision"]) == ([], before["revision"] + 1)
    assert await container.event_scheduler.run_due() == 0
    assert await read(client, op, "live") == edited
    assert await history(client, op, "live") == [
        ("created", None, None, "Scheduled", "olivia"),
        ("transition", "activate", "Scheduled", "Active", "scheduler"),
        ("version", None, None, None, "olivia"),
        ("transition", "expire", "Active", "Expired", "olivia"),
    ]
    # The scheduler opened it on schedule; the operator's edit, and nothing else, ended it.
    records = await audited(client, op, "live")
    assert [(action, actor) for action, actor, _ in records] == [
        ("event.create", "olivia"),
        ("event.schedule", "scheduler"),
        ("event.update", "olivia"),
    ]
    assert records[1][2] == "live event 'live': Scheduled -> Active on schedule"
    assert records[2][2] == (
        "recorded past live event 'live' (ended 2026-12-07T15:00:00Z): changed endTime; Active -> Expired "
        "(was live until now: no longer served)"
    )


async def test_a_paused_event_edited_into_the_past_is_recorded_too(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op, event("resting", NOW - timedelta(days=1), days=5))
    assert (await client.post("/api/v1/events/resting/pause", headers=op)).json()["status"] == "Paused"
    r = await client.put(
        "/api/v1/events/resting", headers=op, json={"endTime": "2026-12-07T00:00:00Z", "recordPast": True}
    )
    assert (r.status_code, r.json()["status"]) == (200, "Expired")
    assert (await history(client, op, "resting"))[-1] == ("transition", "expire", "Paused", "Expired", "olivia")


@pytest.mark.parametrize(
    "edit",
    [
        {"recordPast": True},
        {"displayName": "Later", "recordPast": True},  # the name it has
        {"regions": ["EU-WEST"], "recordPast": True},  # the region it has, by another name
    ],
)
async def test_record_past_on_an_edit_that_changes_nothing_is_judged_like_a_create(
    client: httpx.AsyncClient, op: Headers, edit: dict[str, Any]
) -> None:
    await create(client, op, event("later", NOW + timedelta(days=1), regions=["eu-west"]))
    before = await read(client, op, "later")
    body = problem(await client.put("/api/v1/events/later", headers=op, json=edit), 422)
    assert fields(body) == ["body.recordPast"]
    assert "not past; leave out recordPast" in body["errors"][0]["message"]
    assert await read(client, op, "later") == before
    assert await history(client, op, "later") == [("created", None, None, "Scheduled", "olivia")]


async def test_an_edit_that_changes_nothing_answers_what_the_next_read_says(
    client: httpx.AsyncClient, op: Headers, clock: ManualClock
) -> None:
    # The scheduler is behind: the event ended on its own schedule, and nobody has closed it.
    await create(client, op, event("lagging", NOW + timedelta(days=1), days=1))
    clock.set(NOW + timedelta(days=3))
    r = await client.put("/api/v1/events/lagging", headers=op, json={"recordPast": True})
    assert (r.status_code, r.json()["status"], r.json()["version"]) == (200, "Expired", 1)
    assert r.json() == await read(client, op, "lagging")
    # Its schedule ended it, not the edit: the history says so as the scheduler would.
    assert (await history(client, op, "lagging"))[-1] == ("transition", "expire", "Scheduled", "Expired", "scheduler")


async def test_two_edits_into_the_past_at_once_record_it_once(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    await create(client, op, event("live", NOW - timedelta(days=1), days=5))
    responses = await asyncio.gather(
        client.put("/api/v1/events/live", headers=op, json={"endTime": "2026-12-07T00:00:00Z", "recordPast": True}),
        client.put("/api/v1/events/live", headers=op, json={"endTime": "2026-12-07T06:00:00Z", "recordPast": True}),
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    [won] = [r.json() for r in responses if r.status_code == 200]
    refused = next(r for r in responses if r.status_code == 409)
    assert "Expired: it can no longer be edited" in problem(refused, 409)["detail"]
    assert (won["status"], won["version"]) == ("Expired", 2)
    assert won == await read(client, op, "live")
    expiries = [h for h in await history(client, op, "live") if h[1] == "expire"]
    assert expiries == [("transition", "expire", "Active", "Expired", "olivia")]
    assert await container.event_scheduler.run_due() == 0


async def test_an_edit_into_the_past_and_an_extension_at_once_end_recorded_past(
    client: httpx.AsyncClient, op: Headers, container: Container
) -> None:
    # In either order the edit into the past applies (after an extension it is still past); the
    # extension either comes first or finds the event Expired.
    await create(client, op, event("live", NOW - timedelta(days=1), days=5))
    past, extended = await asyncio.gather(
        client.put("/api/v1/events/live", headers=op, json={"endTime": "2026-12-07T00:00:00Z", "recordPast": True}),
        client.put("/api/v1/events/live", headers=op, json={"endTime": "2026-12-20T00:00:00Z"}),
    )
    assert past.status_code == 200, past.text
    assert extended.status_code in (200, 409), extended.text
    assert (past.json()["status"], past.json()["endTime"]) == ("Expired", "2026-12-07T00:00:00Z")
    assert past.json() == await read(client, op, "live")
    assert past.json()["version"] == (3 if extended.status_code == 200 else 2)
    assert (await served(client, op))["events"] == []
    assert await container.event_scheduler.run_due() == 0
    assert (await history(client, op, "live"))[-1] == ("transition", "expire", "Active", "Expired", "olivia")


async def test_an_edit_that_moves_the_start_into_the_past_opens_the_event_in_its_answer(
    client: httpx.AsyncClient, op: Headers
) -> None:
    await create(client, op, event("soon", NOW + timedelta(days=1)))
    r = await client.put("/api/v1/events/soon", headers=op, json={"startTime": "2026-12-01T12:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Active"
    assert r.json() == await read(client, op, "soon")
    assert [e["id"] for e in (await served(client, op))["events"]] == ["soon"]


async def test_the_answer_to_a_lifecycle_step_is_the_next_read(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op, event("steps", NOW + timedelta(days=1)))
    for action, status in (("activate", "Active"), ("pause", "Paused"), ("resume", "Active")):
        r = await client.post(f"/api/v1/events/steps/{action}", headers=op)
        assert r.json()["status"] == status
        assert r.json() == await read(client, op, "steps")
