"""GET /api/v1/events/{id}/metrics over HTTP: participation, conversion and revenue from the
samples game servers tag with `eventId` (POST /api/v1/metrics), with the injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotswap.analysis import ingest
from hotswap.container import Container
from hotswap.core.clock import ManualClock
from hotswap.events.engagement import counted_span, counted_windows
from hotswap.events.model import EVENT_ID_PATTERN, EventStatus, WindowRow
from hotswap.events.tables import event_participants
from tests.analysis.support import metrics_of, running
from tests.helpers import Auth, Headers, fields, problem
from tests.rollouts.support import register_servers


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
async def event(client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock) -> dict[str, Any]:
    """Live event e1 from an hour ahead for three days, and a registered game server na-1."""
    await register_servers(client, server, {"na-1": "NA-WEST"})
    return await create_event(client, op, clock)


async def create_event(client: httpx.AsyncClient, op: Headers, clock: ManualClock) -> dict[str, Any]:
    start = clock.now() + timedelta(hours=1)
    body = {
        "eventId": "e1",
        "displayName": "E1",
        "startTime": _z(start),
        "endTime": _z(start + timedelta(days=3)),
        "configuration": {},
    }
    r = await client.post("/api/v1/events", headers=op, json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def tagged(player: str, metric: str = "session_start", event_id: Any = "e1", **extra: Any) -> dict[str, Any]:
    found = {"serverId": "na-1", "playerId": player, "metric": metric} | extra
    return found if event_id is None else found | {"eventId": event_id}


async def send(client: httpx.AsyncClient, server: Headers, samples: list[dict[str, Any]]) -> httpx.Response:
    return await client.post("/api/v1/metrics", headers=server, json={"samples": samples})


async def sent(client: httpx.AsyncClient, server: Headers, samples: list[dict[str, Any]]) -> None:
    r = await send(client, server, samples)
    assert r.status_code == 200, r.text


async def metrics(client: httpx.AsyncClient, headers: Headers, event_id: str = "e1") -> dict[str, Any]:
    r = await client.get(f"/api/v1/events/{event_id}/metrics", headers=headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_participants_purchases_and_revenue_add_up_across_batches(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock, event: dict[str, Any]
) -> None:
    clock.advance(timedelta(hours=2))
    await sent(
        client,
        server,
        [
            tagged("p1"),
            tagged("p1", "purchase", value=4.99),
            tagged("p2"),
            tagged("p4", event_id=None),  # active, not taking part
        ],
    )
    clock.advance(timedelta(minutes=30))
    await sent(
        client,
        server,
        [
            tagged("p1", "purchase", value=2.5, count=2),  # two purchases of 2.50
            tagged("p2", "engagement_score", value=0.8),
            tagged("p3", "quest_completed", count=4),
            tagged("p5", event_id=None),
        ],
    )
    found = await metrics(client, op)
    start = datetime.fromisoformat(event["startTime"])
    assert found == {
        "eventId": "e1",
        "status": found["status"],
        "startTime": event["startTime"],
        "endTime": event["endTime"],
        "windows": [{"region": None, "startTime": event["startTime"], "endTime": event["endTime"], "counted": True}],
        "from": _z(start),
        "to": _z(clock.now()),  # capped at now while the event runs
        "participants": 3,
        "activePlayers": 5,
        "participationRate": 0.6,
        "payers": 1,
        "conversionRate": pytest.approx(1 / 3),
        "purchases": 3,
        "revenue": pytest.approx(9.99),
        "revenuePerParticipant": pytest.approx(3.33),
        "averageSamplesPerParticipant": pytest.approx(10 / 3),  # p1: 1+1+2, p2: 1+1, p3: 4
        "targets": {"participationRate": 0.4},
        "meetsParticipationTarget": True,
    }
    assert found["status"] in ("Scheduled", "Active")


async def test_one_batch_makes_one_row_per_event_and_player(
    client: httpx.AsyncClient, server: Headers, clock: ManualClock, event: dict[str, Any], container: Container
) -> None:
    clock.advance(timedelta(hours=2))
    early, late = clock.now() - timedelta(minutes=20), clock.now() - timedelta(minutes=5)
    await sent(
        client,
        server,
        [
            tagged("p1", at=_z(late)),
            tagged("p1", "purchase", value=3.0, at=_z(early)),
            tagged("p1", "purchase", value=1.0),
        ],
    )
    async with container.uow(read_only=True) as uow:
        rows = (await uow.conn.execute(sa.select(event_participants))).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.event_id, row.player_id, row.samples, row.purchases, row.revenue) == ("e1", "p1", 3, 2, 4.0)
    assert (row.first_at, row.last_at) == (early, clock.now())


def test_a_batch_is_folded_per_event_and_player() -> None:
    at = datetime.fromisoformat("2026-06-01T12:00:00+00:00")

    def s(player: str, metric: str, event_id: str | None, value: float | None = None, count: int = 1) -> ingest.Sample:
        return ingest.Sample("gs", None, None, metric, at, player, value, count, event_id)

    folded = ingest.fold(
        [
            s("p1", "purchase", "e1", 2.0, 3),
            s("p1", "session_start", "e1"),
            s("p1", "session_start", "e2"),
            s("p2", "session_start", None),
        ]
    )
    assert sorted(folded.participants) == [("e1", "p1"), ("e2", "p1")]
    p = folded.participants[("e1", "p1")]
    assert (p.samples, p.purchases, p.revenue) == (4, 3, 6.0)


async def test_participation_rate_is_among_players_active_during_the_event(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock, event: dict[str, Any]
) -> None:
    await sent(client, server, [tagged("gone", event_id=None)])  # seen only before the event
    empty = await metrics(client, op)
    assert empty["from"] is empty["to"] is None  # nothing of the event has passed yet
    assert (empty["startTime"], empty["endTime"]) == (event["startTime"], event["endTime"])
    assert (empty["participants"], empty["activePlayers"]) == (0, 0)
    assert (empty["participationRate"], empty["conversionRate"], empty["meetsParticipationTarget"]) == (None,) * 3
    assert (empty["revenuePerParticipant"], empty["averageSamplesPerParticipant"]) == (None, None)

    clock.advance(timedelta(hours=2))
    await sent(client, server, [tagged("p1"), *(tagged(f"a{i}", event_id=None) for i in range(3))])
    found = await metrics(client, op)
    assert (found["participants"], found["activePlayers"]) == (1, 4)
    assert (found["participationRate"], found["meetsParticipationTarget"]) == (0.25, False)
    assert (found["payers"], found["conversionRate"], found["revenue"]) == (0, 0.0, 0.0)

    clock.advance(timedelta(days=4))  # the event is over: the span stops at its end
    await sent(client, server, [tagged("later", event_id=None)])
    over = await metrics(client, op)
    assert (over["from"], over["to"]) == (event["startTime"], event["endTime"])
    assert (over["participants"], over["activePlayers"]) == (1, 4)


async def test_a_sample_for_an_unknown_event_is_refused_and_the_others_kept(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock, event: dict[str, Any]
) -> None:
    clock.advance(timedelta(hours=2))
    batch = [
        tagged("p1", "purchase", value=5.0),  # 0: good
        tagged("p2", event_id="nope"),  # 1: no such event
        tagged("p3", event_id="Not An Id"),  # 2: malformed
        {"serverId": "na-1", "metric": "session_start", "eventId": "e1"},  # 3: no player
        tagged("p4", event_id=None),  # 4: good: activity only
        tagged("p5", event_id=7),  # 5: not a string
    ]
    body = problem(await send(client, server, batch), 422)
    assert fields(body) == [
        "body.samples[1].eventId",
        "body.samples[2].eventId",
        "body.samples[3].playerId",
        "body.samples[5].eventId",
    ]
    assert body["errors"][0]["message"] == "no live event 'nope'"
    assert body["errors"][2]["message"].startswith("required with eventId")
    assert (body["accepted"], body["acceptedIndexes"]) == (2, [0, 4])
    found = await metrics(client, op)
    assert (found["participants"], found["activePlayers"], found["payers"], found["revenue"]) == (1, 2, 1, 5.0)


async def test_an_event_sample_may_also_belong_to_a_deployment(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock
) -> None:
    dep = (await running(client, op, server))["id"]  # registers na-1 too
    await create_event(client, op, clock)
    clock.advance(timedelta(hours=2))
    await sent(client, server, [tagged("p1", deploymentId=dep, arm="canary", count=3)])
    assert (await metrics(client, op))["participants"] == 1
    assert (await metrics_of(client, op, dep))["arms"]["canary"]["sessions"] == 3


async def test_batches_at_once_count_every_participant_once_and_every_purchase(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock, event: dict[str, Any]
) -> None:
    clock.advance(timedelta(hours=2))
    batch = [tagged(f"p{i}", "purchase", value=1.5) for i in range(40)]
    answers = await asyncio.gather(*(send(client, server, batch) for _ in range(4)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    found = await metrics(client, op)
    assert (found["participants"], found["payers"], found["purchases"]) == (40, 40, 160)
    assert found["revenue"] == pytest.approx(240.0)
    assert found["averageSamplesPerParticipant"] == 4.0


async def test_an_unknown_event_is_404(client: httpx.AsyncClient, op: Headers) -> None:
    problem(await client.get("/api/v1/events/nope/metrics", headers=op), 404)


async def test_viewers_read_the_metrics_and_game_servers_do_not(
    client: httpx.AsyncClient, server: Headers, auth: Auth, event: dict[str, Any]
) -> None:
    viewer = await auth("viewer", "vic")
    assert (await metrics(client, viewer))["eventId"] == "e1"
    problem(await client.get("/api/v1/events/e1/metrics", headers=server), 403)
    problem(await client.get("/api/v1/events/e1/metrics"), 401)


def test_ingestion_checks_event_ids_as_the_events_api_does() -> None:
    assert ingest.EVENT_ID.pattern == EVENT_ID_PATTERN


# -- only samples inside the event's window count -------------------------------------------------


async def test_a_purchase_before_the_event_starts_counts_for_nothing(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock
) -> None:
    await register_servers(client, server, {"na-1": "NA-WEST"})
    body = {
        "eventId": "summer-fest-2027",
        "displayName": "Summer Fest",
        "startTime": "2027-07-01T00:00:00Z",
        "endTime": "2027-07-15T00:00:00Z",
        "configuration": {},
    }
    r = await client.post("/api/v1/events", headers=op, json=body)
    assert r.status_code == 201, r.text
    r = await send(client, server, [tagged("p-1", "purchase", "summer-fest-2027", value=4.99)])
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": 0, "outsideEventWindow": 1}  # stored, not counted
    found = await metrics(client, op, "summer-fest-2027")
    assert (found["participants"], found["activePlayers"], found["payers"], found["purchases"]) == (0, 0, 0, 0)
    assert (found["revenue"], found["participationRate"], found["meetsParticipationTarget"]) == (0.0, None, None)
    assert found["from"] is found["to"] is None
    assert (found["startTime"], found["endTime"]) == ("2027-07-01T00:00:00Z", "2027-07-15T00:00:00Z")
    assert found["windows"] == [
        {"region": None, "startTime": "2027-07-01T00:00:00Z", "endTime": "2027-07-15T00:00:00Z", "counted": True}
    ]


async def test_a_sample_taken_after_the_event_ended_does_not_count_and_a_late_one_from_inside_does(
    client: httpx.AsyncClient,
    op: Headers,
    server: Headers,
    clock: ManualClock,
    event: dict[str, Any],
    container: Container,
) -> None:
    end = datetime.fromisoformat(event["endTime"])
    clock.set(end - timedelta(hours=1))
    await container.event_scheduler.run_due()  # the window opens (late: nobody ran the scheduler)
    inside = clock.now()
    clock.set(end + timedelta(minutes=30))
    await container.event_scheduler.run_due()  # and closes: the event has expired
    r = await send(
        client,
        server,
        [
            tagged("after", "purchase", value=10.0),  # now: half an hour after the end
            tagged("at-end", at=event["endTime"]),  # the end itself is outside
            tagged("late", "purchase", value=2.0, at=_z(inside)),  # taken inside, delivered late
        ],
    )
    assert r.json()["outsideEventWindow"] == 2
    found = await metrics(client, op)
    assert found["status"] == "Expired"
    assert (found["participants"], found["payers"], found["revenue"]) == (1, 1, 2.0)
    assert (found["from"], found["to"]) == (event["startTime"], event["endTime"])


async def test_a_region_local_event_counts_each_region_from_its_own_start(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock
) -> None:
    await register_servers(client, server, {"eu-1": "EU-EAST", "na-1": "NA-EAST", "sg-1": "APAC"})
    clock.set(datetime.fromisoformat("2026-07-01T00:00:00+00:00"))
    body = {
        "eventId": "midsummer",
        "displayName": "Midsummer",
        "timeMode": "regionLocal",
        "startTime": "2026-07-04T00:00:00",
        "endTime": "2026-07-11T00:00:00",
        "regions": ["eu-east", "us-east"],
        "configuration": {},
    }
    r = await client.post("/api/v1/events", headers=op, json=body)
    assert r.status_code == 201, r.text
    # Midnight in Berlin (22:00Z, CEST) has passed, midnight in New York (04:00Z, EDT) has not.
    clock.set(datetime.fromisoformat("2026-07-04T01:00:00+00:00"))
    batch = [
        {"serverId": "eu-1", "playerId": "berlin", "eventId": "midsummer", "metric": "session_start"},
        {"serverId": "na-1", "playerId": "boston", "eventId": "midsummer", "metric": "session_start"},
        {"serverId": "sg-1", "playerId": "singapore", "eventId": "midsummer", "metric": "session_start"},
    ]
    r = await send(client, server, batch)
    assert r.json()["outsideEventWindow"] == 2  # New York's window has not opened; Singapore has none
    found = await metrics(client, op, "midsummer")
    assert (found["participants"], found["from"], found["to"]) == (1, "2026-07-03T22:00:00Z", "2026-07-04T01:00:00Z")
    assert {w["region"]: w["startTime"] for w in found["windows"]} == {
        "EU-EAST": "2026-07-03T22:00:00Z",
        "NA-EAST": "2026-07-04T04:00:00Z",
    }

    clock.set(datetime.fromisoformat("2026-07-04T05:00:00+00:00"))
    assert (await send(client, server, batch)).json()["outsideEventWindow"] == 1  # Singapore still has none
    found = await metrics(client, op, "midsummer")
    assert (found["participants"], found["averageSamplesPerParticipant"]) == (2, 1.5)


async def test_a_cancelled_event_never_ran_so_nothing_counts_in_its_window(
    client: httpx.AsyncClient, op: Headers, server: Headers, clock: ManualClock, event: dict[str, Any]
) -> None:
    clock.advance(timedelta(hours=2))  # inside the planned window; the scheduler has not opened it
    await sent(client, server, [tagged("p1")])
    assert (await metrics(client, op))["participants"] == 1
    r = await client.post("/api/v1/events/e1/cancel", headers=op)
    assert r.status_code == 200, r.text
    r = await send(client, server, [tagged("p2", "purchase", value=3.0)])
    assert r.json()["outsideEventWindow"] == 1
    found = await metrics(client, op)
    assert (found["from"], found["to"], found["participants"], found["revenue"]) == (None, None, 0, 0.0)
    assert [w["counted"] for w in found["windows"]] == [False]


def _window(region: str, start: str, end: str, opened: str | None = None) -> WindowRow:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(f"{text}+00:00")

    return WindowRow("e", region, at(start), at(end), None if opened is None else at(opened), None)


def test_samples_count_in_an_event_that_no_longer_runs_only_in_the_windows_that_opened() -> None:
    opened = _window("EU-EAST", "2026-10-23T22:00:00", "2026-10-30T23:00:00", opened="2026-10-23T22:00:00")
    never = _window("NA-EAST", "2026-10-24T04:00:00", "2026-10-31T04:00:00")
    for status in (EventStatus.SCHEDULED, EventStatus.ACTIVE, EventStatus.PAUSED):
        assert counted_windows(status, [opened, never]) == [opened, never]
    for status in (EventStatus.EXPIRED, EventStatus.ARCHIVED):
        assert counted_windows(status, [opened, never]) == [opened]
    assert counted_windows(EventStatus.CANCELLED, [never]) == []


def test_the_span_counted_so_far_starts_with_the_first_window_and_stops_at_now_or_the_end() -> None:
    eu = _window("EU-EAST", "2026-10-23T22:00:00", "2026-10-30T23:00:00")
    na = _window("NA-EAST", "2026-10-24T04:00:00", "2026-10-31T04:00:00")

    def at(text: str) -> datetime:
        return datetime.fromisoformat(f"{text}+00:00")

    assert counted_span([eu, na], at("2026-10-23T21:59:59")) is None
    assert counted_span([], at("2026-10-24T00:00:00")) is None
    assert counted_span([eu, na], at("2026-10-24T01:00:00")) == (eu.start_at, at("2026-10-24T01:00:00"))
    assert counted_span([eu, na], at("2026-11-01T00:00:00")) == (eu.start_at, na.end_at)


def test_a_sample_is_inside_a_window_of_its_region_or_of_every_region() -> None:
    start, end = datetime(2026, 10, 24, 4, tzinfo=UTC), datetime(2026, 10, 31, 4, tzinfo=UTC)
    regional = [ingest.EventWindow("NA-EAST", start, end)]
    assert ingest.in_window(regional, "NA-EAST", start)
    assert not ingest.in_window(regional, "NA-EAST", start - timedelta(microseconds=1))
    assert not ingest.in_window(regional, "NA-EAST", end)  # the end is outside
    assert not ingest.in_window(regional, "EU-EAST", start + timedelta(hours=1))
    assert ingest.in_window([ingest.EventWindow(ingest.EVERYWHERE, start, end)], "EU-EAST", start)
    assert not ingest.in_window([], "NA-EAST", start)
