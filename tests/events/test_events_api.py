"""Live events over HTTP: the documented requests, the lifecycle, the scheduling rules, hot swaps,
region-local times, the calendar and the history. The scheduler is driven by the injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.helpers import Auth, Headers, fields, problem

SUMMER_FESTIVAL = {
    "name": "summer-fest-2025",
    "displayName": "Summer Festival 2025",
    "eventType": "SeasonalPromotion",
    "startTime": "2025-06-21T00:00:00Z",
    "endTime": "2025-07-21T23:59:59Z",
    "configuration": {"rewards": {"dailyLoginBonus": 100, "questMultiplier": 2.0}},
}
TEST_EVENT = {
    "eventId": "test-event",
    "displayName": "Test Event",
    "startTime": "2025-12-01T00:00:00Z",
    "endTime": "2025-12-31T23:59:59Z",
    "configuration": {"rewards": {"dailyLoginBonus": 100}},
}
T0 = datetime(2025, 6, 1, tzinfo=UTC)
DEEP: Any = 1
for _ in range(33):
    DEEP = [DEEP]


@pytest.fixture(autouse=True)
def _before_the_seeds(clock: ManualClock) -> None:
    clock.set(T0)  # the events below lie ahead, as a team would create them


@pytest.fixture
async def op(auth: Auth, _before_the_seeds: None) -> Headers:
    return await auth("operator", "olivia", ttl=timedelta(days=800))  # the tests move the clock by months


async def create(client: httpx.AsyncClient, headers: Headers, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/v1/events", headers=headers, json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def event(event_id: str, start: datetime, days: float = 3, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "displayName": event_id.title(),
        "startTime": start.isoformat(),
        "endTime": (start + timedelta(days=days)).isoformat(),
        "configuration": {"n": 1},
        **extra,
    }


async def at(container: Container, clock: ManualClock, instant: datetime) -> None:
    """Move the clock to `instant` and let the scheduler do what is due."""
    clock.set(instant)
    await container.event_scheduler.run_due()


async def served(client: httpx.AsyncClient, headers: Headers, env: str = "Production") -> dict[str, Any]:
    r = await client.get(f"/api/v1/snapshot?environment={env}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_seed_requests_work_as_written(client: httpx.AsyncClient, op: Headers) -> None:
    summer = await create(client, op, SUMMER_FESTIVAL)
    assert summer["eventId"] == summer["name"] == "summer-fest-2025"
    assert summer["status"] == "Scheduled"
    assert summer["eventType"] == "SeasonalPromotion"
    assert summer["environment"] == "Production"
    assert summer["startTime"] == "2025-06-21T00:00:00Z"
    assert summer["configuration"]["rewards"]["questMultiplier"] == 2.0
    assert summer["windows"] == [
        {
            "region": None,
            "timeZone": None,
            "startTime": "2025-06-21T00:00:00Z",
            "endTime": "2025-07-21T23:59:59Z",
            "localStartTime": None,
            "localEndTime": None,
            "openedAt": None,
            "closedAt": None,
        }
    ]
    test = await create(client, op, TEST_EVENT)
    assert test["eventId"] == "test-event"
    assert test["eventType"] == "General"
    # The operations runbook: an operator activates by hand, and fixes a start time.
    r = await client.post("/api/v1/events/test-event/activate", headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Active"
    r = await client.put("/api/v1/events/summer-fest-2025", headers=op, json={"startTime": "2025-06-22T12:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["startTime"] == "2025-06-22T12:00:00Z"
    assert r.json()["version"] == 2
    assert r.json()["displayName"] == "Summer Festival 2025"  # what was not sent stays


async def test_the_scheduler_activates_and_expires_on_time(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await create(client, op, SUMMER_FESTIVAL)
    start = datetime(2025, 6, 21, tzinfo=UTC)
    assert await container.event_scheduler.next_due() == start
    await at(container, clock, start - timedelta(milliseconds=1))
    assert (await client.get("/api/v1/events/summer-fest-2025", headers=op)).json()["status"] == "Scheduled"
    assert (await served(client, op))["events"] == []
    await at(container, clock, start)
    got = (await client.get("/api/v1/events/summer-fest-2025", headers=op)).json()
    assert got["status"] == "Active"
    assert got["windows"][0]["openedAt"] == "2025-06-21T00:00:00Z"
    [live] = (await served(client, op))["events"]
    assert live["id"] == "summer-fest-2025"
    assert live["configuration"] == SUMMER_FESTIVAL["configuration"]
    assert live["windows"] == [{"region": None, "start": "2025-06-21T00:00:00Z", "end": "2025-07-21T23:59:59Z"}]
    await at(container, clock, datetime(2025, 7, 21, 23, 59, 59, tzinfo=UTC))
    assert (await client.get("/api/v1/events/summer-fest-2025", headers=op)).json()["status"] == "Expired"
    assert (await served(client, op))["events"] == []
    assert await container.event_scheduler.next_due() is None
    history = (await client.get("/api/v1/events/summer-fest-2025/history", headers=op)).json()
    steps = [(h["kind"], h["action"], h["fromStatus"], h["toStatus"], h["actor"]) for h in history]
    assert steps == [
        ("created", None, None, "Scheduled", "olivia"),
        ("transition", "activate", "Scheduled", "Active", "scheduler"),
        ("transition", "expire", "Active", "Expired", "scheduler"),
    ]
    assert history[0]["detail"]["spec"]["configuration"] == SUMMER_FESTIVAL["configuration"]
    r = await client.post("/api/v1/events/summer-fest-2025/archive", headers=op)
    assert r.json()["status"] == "Archived"


async def test_illegal_transitions_are_409_saying_what_is_allowed(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op, TEST_EVENT)
    body = problem(await client.post("/api/v1/events/test-event/pause", headers=op), 409)
    assert body["eventStatus"] == "Scheduled"
    assert sorted(body["allowedActions"]) == ["activate", "cancel", "expire"]
    assert (await client.post("/api/v1/events/test-event/cancel", headers=op)).json()["status"] == "Cancelled"
    problem(await client.post("/api/v1/events/test-event/activate", headers=op), 409)
    problem(await client.put("/api/v1/events/test-event", headers=op, json={"displayName": "x"}), 409)
    assert (await client.post("/api/v1/events/test-event/archive", headers=op)).json()["status"] == "Archived"
    problem(await client.post("/api/v1/events/nope/activate", headers=op), 404)


async def test_editing_a_live_event_is_a_hot_swap(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await create(client, op, SUMMER_FESTIVAL)
    await at(container, clock, datetime(2025, 6, 22, tzinfo=UTC))
    before = await served(client, op)
    new = {"rewards": {"dailyLoginBonus": 150, "questMultiplier": 3.0}}
    r = await client.put("/api/v1/events/summer-fest-2025", headers=op, json={"configuration": new})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    after = await served(client, op)
    assert after["revision"] == before["revision"] + 1
    assert after["events"][0]["configuration"] == new
    assert after["events"][0]["version"] == 2
    # Sending what is stored changes nothing: no version, no revision.
    again = await client.put("/api/v1/events/summer-fest-2025", headers=op, json={"configuration": new})
    assert again.json()["version"] == 2
    assert again.json()["revision"] == r.json()["revision"]
    assert (await served(client, op))["revision"] == after["revision"]
    # Paused: off the snapshot, and still ends on time.
    await client.post("/api/v1/events/summer-fest-2025/pause", headers=op)
    assert (await served(client, op))["events"] == []
    await client.post("/api/v1/events/summer-fest-2025/resume", headers=op)
    assert [e["id"] for e in (await served(client, op))["events"]] == ["summer-fest-2025"]
    await client.post("/api/v1/events/summer-fest-2025/pause", headers=op)
    await at(container, clock, datetime(2025, 8, 1, tzinfo=UTC))
    assert (await client.get("/api/v1/events/summer-fest-2025", headers=op)).json()["status"] == "Expired"


async def test_if_match_guards_an_edit(client: httpx.AsyncClient, op: Headers) -> None:
    created = await create(client, op, TEST_EVENT)
    headers = {**op, "If-Match": f'"{created["revision"]}"'}
    assert (
        await client.put("/api/v1/events/test-event", headers=headers, json={"displayName": "A"})
    ).status_code == 200
    problem(await client.put("/api/v1/events/test-event", headers=headers, json={"displayName": "B"}), 412)


async def test_the_scheduling_rules(client: httpx.AsyncClient, op: Headers, auth: Auth) -> None:
    start = datetime(2025, 7, 1, tzinfo=UTC)
    for i, kind in enumerate(["Gacha", "Gacha", "Seasonal", "Competitive"]):
        await create(client, op, event(f"e{i}", start + timedelta(hours=i), eventType=kind))
    # A fifth at once: refused, naming the four.
    body = problem(await client.post("/api/v1/events", headers=op, json=event("e5", start, eventType="Crossover")), 409)
    assert body["conflicts"] == [
        {"rule": "concurrent", "message": body["conflicts"][0]["message"], "eventIds": ["e0", "e1", "e2", "e3"]}
    ]
    # A third Gacha while the two run: the limit per type as well.
    body = problem(await client.post("/api/v1/events", headers=op, json=event("g3", start, eventType="Gacha")), 409)
    assert [c["rule"] for c in body["conflicts"]] == ["concurrent", "concurrent-type"]
    assert body["conflicts"][1]["eventIds"] == ["e0", "e1"]
    # Mini events and daily activities are exempt.
    await create(client, op, event("daily-1", start, eventClass="daily", eventType="Gacha"))
    # Disjoint regions never meet: all four run everywhere, so a regional one still conflicts.
    problem(await client.post("/api/v1/events", headers=op, json=event("r5", start, regions=["eu-west"])), 409)
    # An admin may override, saying why; an operator may not.
    override = {"override": {"reason": "launch weekend, agreed with live ops"}}
    problem(await client.post("/api/v1/events", headers=op, json={**event("e5", start), **override}), 403)
    admin = await auth("admin", ttl=timedelta(days=800))
    await create(client, admin, {**event("e5", start), **override})
    history = (await client.get("/api/v1/events/e5/history", headers=op)).json()
    [overridden] = [h for h in history if h["kind"] == "override"]
    assert overridden["detail"]["reason"] == "launch weekend, agreed with live ops"
    assert overridden["detail"]["conflicts"][0]["rule"] == "concurrent"
    audit = (await client.get("/api/v1/audit?action=event.override", headers=admin)).json()
    assert [a["targetId"] for a in audit["items"]] == ["e5"]


async def test_major_events_need_48_hours_between(client: httpx.AsyncClient, op: Headers) -> None:
    start = datetime(2025, 7, 1, tzinfo=UTC)
    await create(client, op, event("major-1", start, days=2, eventClass="major"))
    too_soon = event("major-2", start + timedelta(days=3), days=2, eventClass="major")
    body = problem(await client.post("/api/v1/events", headers=op, json=too_soon), 409)
    assert body["conflicts"][0]["rule"] == "major-gap"
    assert body["conflicts"][0]["eventIds"] == ["major-1"]
    await create(client, op, event("major-2", start + timedelta(days=4), days=2, eventClass="major"))
    # Moving it closer again is judged too.
    r = await client.put("/api/v1/events/major-2", headers=op, json={"startTime": "2025-07-03T12:00:00Z"})
    assert problem(r, 409)["conflicts"][0]["rule"] == "major-gap"


async def test_validate_checks_a_draft_without_saving(client: httpx.AsyncClient, op: Headers, count_rows: Any) -> None:
    start = datetime(2025, 7, 1, tzinfo=UTC)
    await create(client, op, event("major-1", start, days=2, eventClass="major"))
    r = await client.post("/api/v1/events/validate", headers=op, json=event("m2", start, eventClass="major"))
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is False
    assert r.json()["conflicts"][0]["eventIds"] == ["major-1"]
    ok = await client.post("/api/v1/events/validate", headers=op, json=event("m2", start + timedelta(days=9)))
    assert ok.json()["valid"] is True
    assert await count_rows("live_events") == 1


async def test_two_creates_at_once_cannot_both_take_the_last_place(client: httpx.AsyncClient, op: Headers) -> None:
    start = datetime(2025, 7, 1, tzinfo=UTC)
    for i, kind in enumerate(["A", "B", "C"]):
        await create(client, op, event(f"e{i}", start, eventType=kind))
    results = await asyncio.gather(
        client.post("/api/v1/events", headers=op, json=event("x", start, eventType="D")),
        client.post("/api/v1/events", headers=op, json=event("y", start, eventType="E")),
    )
    assert sorted(r.status_code for r in results) == [201, 409]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**TEST_EVENT, "eventId": None}, "body"),
        ({**TEST_EVENT, "startTime": "2025-12-01T00:00:00"}, "body.startTime"),
        ({**TEST_EVENT, "endTime": "2025-11-01T00:00:00Z"}, "body.endTime"),
        ({**TEST_EVENT, "regions": ["mars"]}, "body.regions.0"),
        ({**TEST_EVENT, "segment": "no-such-segment"}, "body.segment"),
        ({**TEST_EVENT, "templateId": "no-such-template"}, "body.templateId"),
        ({**TEST_EVENT, "eventClass": "huge"}, "body.eventClass"),
        (
            {
                **TEST_EVENT,
                "timeMode": "regionLocal",
                "startTime": "2025-12-01T00:00:00",
                "endTime": "2025-12-02T00:00:00",
            },
            "body.timeMode",
        ),
        ({**TEST_EVENT, "eventId": "Not A Slug"}, "body.eventId"),
        ({**TEST_EVENT, "environment": "Moon"}, "body.environment"),
        ({**TEST_EVENT, "startTime": "0001-01-01T00:00:00Z"}, "body.startTime"),
        ({**TEST_EVENT, "variants": [{"name": "A", "weight": 1}, {"name": "A", "weight": 2}]}, "body"),
        ({**TEST_EVENT, "configuration": {"x": DEEP}}, "body.configuration.x" + ".0" * 32),
        (
            {
                **TEST_EVENT,
                "milestones": [
                    {"index": 0, "progressThreshold": 0.5},
                    {"index": 1, "progressThreshold": 0.25},
                ],
            },
            "body.milestones.1.progressThreshold",
        ),
    ],
)
async def test_bad_events_are_422_naming_the_field(
    client: httpx.AsyncClient, op: Headers, count_rows: Any, body: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    got = problem(await client.post("/api/v1/events", headers=op, json=body), 422)
    assert field in fields(got)
    assert await count_rows("live_events") == 0


async def test_region_local_times_follow_each_clock_across_dst(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    # Local midnight 24 Oct to local midnight 31 Oct 2026: Berlin leaves summer time on 25 Oct,
    # New York on 1 Nov.
    clock.set(datetime(2026, 10, 1, tzinfo=UTC))
    body = {
        **event("halloween", datetime(2026, 10, 24)),
        "timeMode": "regionLocal",
        "startTime": "2026-10-24T00:00:00",
        "endTime": "2026-10-31T00:00:00",
        "regions": ["eu-east", "us-east"],
    }
    created = await create(client, op, body)
    windows = {w["region"]: w for w in created["windows"]}
    assert windows["EU-EAST"]["startTime"] == "2026-10-23T22:00:00Z"  # CEST, +2
    assert windows["EU-EAST"]["endTime"] == "2026-10-30T23:00:00Z"  # CET, +1
    assert windows["NA-EAST"]["startTime"] == "2026-10-24T04:00:00Z"  # EDT, -4
    assert windows["NA-EAST"]["endTime"] == "2026-10-31T04:00:00Z"  # still EDT
    assert windows["EU-EAST"]["localStartTime"] == "2026-10-24T00:00:00"
    assert windows["EU-EAST"]["localEndTime"] == "2026-10-31T00:00:00"
    assert created["startTime"] == "2026-10-23T22:00:00Z"
    assert created["endTime"] == "2026-10-31T04:00:00Z"
    # Berlin's midnight comes first: only its window opens.
    await at(container, clock, datetime(2026, 10, 23, 22, tzinfo=UTC))
    [live] = (await served(client, op))["events"]
    assert live["windows"] == [{"region": "EU-EAST", "start": "2026-10-23T22:00:00Z", "end": "2026-10-30T23:00:00Z"}]
    await at(container, clock, datetime(2026, 10, 24, 4, tzinfo=UTC))
    [live] = (await served(client, op))["events"]
    assert [w["region"] for w in live["windows"]] == ["EU-EAST", "NA-EAST"]
    await at(container, clock, datetime(2026, 10, 30, 23, tzinfo=UTC))
    [live] = (await served(client, op))["events"]
    assert [w["region"] for w in live["windows"]] == ["NA-EAST"]
    assert (await client.get("/api/v1/events/halloween", headers=op)).json()["status"] == "Active"
    await at(container, clock, datetime(2026, 10, 31, 4, tzinfo=UTC))
    assert (await client.get("/api/v1/events/halloween", headers=op)).json()["status"] == "Expired"
    # The calendar shows each region's local times, filtered by region and type.
    r = await client.get(
        "/api/v1/events/calendar",
        headers=op,
        params={"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "region": "eu-east"},
    )
    assert r.status_code == 200, r.text
    [entry] = r.json()["events"]
    assert r.json()["timeZone"] == "Europe/Berlin"
    assert [(w["region"], w["localStartTime"], w["localEndTime"]) for w in entry["windows"]] == [
        ("EU-EAST", "2026-10-24T00:00:00", "2026-10-31T00:00:00")
    ]
    none = await client.get(
        "/api/v1/events/calendar",
        headers=op,
        params={"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "type": "Gacha"},
    )
    assert none.json()["events"] == []


async def test_a_global_event_in_the_calendar_shows_the_asked_regions_clock(
    client: httpx.AsyncClient, op: Headers
) -> None:
    await create(client, op, SUMMER_FESTIVAL)
    r = await client.get(
        "/api/v1/events/calendar",
        headers=op,
        params={"from": "2025-06-01T00:00:00Z", "to": "2025-08-01T00:00:00Z", "region": "APAC"},
    )
    [window] = r.json()["events"][0]["windows"]
    assert window["localStartTime"] == "2025-06-21T08:00:00"  # Singapore, +8
    bad = await client.get(
        "/api/v1/events/calendar", headers=op, params={"from": "2025-06-02T00:00:00Z", "to": "2025-06-01T00:00:00Z"}
    )
    assert "query.to" in fields(problem(bad, 422))
    extreme = {"from": "0001-01-01T00:00:00+05:00", "to": "0001-01-02T00:00:00+05:00"}
    assert "query.from" in fields(problem(await client.get("/api/v1/events/calendar", headers=op, params=extreme), 422))
    huge = await client.get("/api/v1/events/summer-fest-2025/history?after=9223372036854775807", headers=op)
    assert "query.after" in fields(problem(huge, 422))


async def test_an_event_from_a_template_counts_its_use(client: httpx.AsyncClient, op: Headers) -> None:
    template = {
        "templateId": "weekend-gacha",
        "type": "Gacha",
        "name": "Weekend Gacha",
        "configuration": {"pulls": {"cost": 100, "pity": 90}},
        "durationSeconds": 2 * 86400,
    }
    r = await client.post("/api/v1/event-templates", headers=op, json=template)
    assert r.status_code == 201, r.text
    body = {
        "eventId": "gacha-week-27",
        "templateId": "weekend-gacha",
        "startTime": "2025-07-05T00:00:00Z",
        "configuration": {"pulls": {"cost": 80}},
    }
    created = await create(client, op, body)
    assert created["templateId"] == "weekend-gacha"
    assert created["eventType"] == "Gacha"
    assert created["displayName"] == "Weekend Gacha"
    assert created["endTime"] == "2025-07-07T00:00:00Z"
    assert created["configuration"] == {"pulls": {"cost": 80, "pity": 90}}
    used = (await client.get("/api/v1/event-templates/weekend-gacha", headers=op)).json()
    assert used["usageCount"] == 1
    assert used["lastUsedAt"] == "2025-06-01T00:00:00Z"


@pytest.mark.parametrize("path", ["/api/v1/events/a%20b", "/api/v1/events/" + "x" * 300, "/api/v1/events/UPPER"])
async def test_what_cannot_be_an_event_id_is_not_found(client: httpx.AsyncClient, op: Headers, path: str) -> None:
    problem(await client.get(path, headers=op), 404)
    problem(await client.post(path + "/activate", headers=op), 404)


async def test_the_history_keeps_each_version(client: httpx.AsyncClient, op: Headers) -> None:
    await create(client, op, TEST_EVENT)
    await client.put("/api/v1/events/test-event", headers=op, json={"configuration": {"rewards": {"x": 1}}})
    history = (await client.get("/api/v1/events/test-event/history", headers=op)).json()
    [edit] = [h for h in history if h["kind"] == "version"]
    assert edit["version"] == 2
    assert edit["detail"]["changed"] == ["configuration"]
    assert edit["detail"]["spec"]["configuration"] == {"rewards": {"x": 1}}


async def test_roles(client: httpx.AsyncClient, auth: Auth) -> None:
    viewer = await auth("viewer")
    problem(await client.post("/api/v1/events", headers=viewer, json=TEST_EVENT), 403)
    assert (await client.get("/api/v1/events", headers=viewer)).status_code == 200
    op = await auth("operator")
    problem(await client.get("/api/v1/admin/dead-letters", headers=op), 403)
