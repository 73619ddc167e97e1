"""Live events and the regions they are planned in, over HTTP: a region a planned event targets
is not deleted, and a region's new time zone re-plans its region-local events (windows, timers,
history), leaving UTC events and what has happened alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hotswap.container import Container
from hotswap.core.clock import ManualClock
from tests.helpers import Auth, Headers, problem

T0 = datetime(2027, 1, 1, tzinfo=UTC)
REGION = {"displayName": "South America East", "timeZone": "America/Sao_Paulo", "rolloutOrder": 6, "aliases": []}


@pytest.fixture(autouse=True)
def _start(clock: ManualClock) -> None:
    clock.set(T0)


@pytest.fixture
async def op(auth: Auth, _start: None) -> Headers:
    return await auth("operator", "olivia", ttl=timedelta(days=800))


async def add_region(client: httpx.AsyncClient, op: Headers) -> None:
    r = await client.post("/api/v1/regions", headers=op, json={"id": "SA-EAST", **REGION})
    assert r.status_code == 201, r.text


async def create(client: httpx.AsyncClient, op: Headers, event_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "eventId": event_id,
        "displayName": event_id.title(),
        "startTime": "2027-02-10T00:00:00",
        "endTime": "2027-02-12T00:00:00",
        "timeMode": "regionLocal",
        "regions": ["SA-EAST", "EU-EAST"],
        "configuration": {"n": 1},
        **extra,
    }
    r = await client.post("/api/v1/events", headers=op, json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def get(client: httpx.AsyncClient, op: Headers, event_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/events/{event_id}", headers=op)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def windows(event: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {w["region"]: (w["startTime"], w["endTime"]) for w in event["windows"]}


async def set_zone(client: httpx.AsyncClient, op: Headers, zone: str) -> httpx.Response:
    return await client.put("/api/v1/regions/SA-EAST", headers=op, json={**REGION, "timeZone": zone})


async def test_a_region_a_planned_event_targets_is_not_deleted(client: httpx.AsyncClient, op: Headers) -> None:
    await add_region(client, op)
    await create(client, op, "carnival")
    await create(client, op, "elsewhere", regions=["EU-EAST"])
    refused = problem(await client.delete("/api/v1/regions/SA-EAST", headers=op), 409)
    assert refused["events"] == ["carnival"]
    assert (await client.get("/api/v1/regions/SA-EAST", headers=op)).status_code == 200
    # Once the event no longer needs it (cancelled here), the region goes.
    assert (await client.post("/api/v1/events/carnival/cancel", headers=op)).status_code == 200
    assert (await client.delete("/api/v1/regions/SA-EAST", headers=op)).status_code == 204


async def test_a_new_time_zone_re_plans_the_regions_local_events(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await add_region(client, op)
    local = await create(client, op, "carnival")
    utc = await create(
        client,
        op,
        "flash-sale",
        timeMode="utc",
        startTime="2027-02-10T00:00:00Z",
        endTime="2027-02-11T00:00:00Z",
        regions=["SA-EAST"],
    )
    assert windows(local)["SA-EAST"] == ("2027-02-10T03:00:00Z", "2027-02-12T03:00:00Z")  # São Paulo, -3
    r = await set_zone(client, op, "America/Manaus")  # -4
    assert r.status_code == 200, r.text
    moved = await get(client, op, "carnival")
    assert windows(moved)["SA-EAST"] == ("2027-02-10T04:00:00Z", "2027-02-12T04:00:00Z")
    assert windows(moved)["EU-EAST"] == windows(local)["EU-EAST"]  # Berlin's clock did not change
    assert moved["version"] == local["version"]  # the same spec: no new version
    assert windows(await get(client, op, "flash-sale")) == windows(utc)  # instants stay instants
    history = (await client.get("/api/v1/events/carnival/history", headers=op)).json()
    [replan] = [h for h in history if h["kind"] == "replan"]
    assert replan["actor"] == "olivia"
    assert "America/Sao_Paulo to America/Manaus" in replan["detail"]["reason"]
    # The timers moved with the window: at the old start the region's window stays shut.
    clock.set(datetime(2027, 2, 10, 3, 30, tzinfo=UTC))
    await container.event_scheduler.run_due()
    opened = {w["region"] for w in (await get(client, op, "carnival"))["windows"] if w["openedAt"]}
    assert opened == {"EU-EAST"}  # Berlin's midnight was at 23:00 the day before
    clock.set(datetime(2027, 2, 10, 4, tzinfo=UTC))
    await container.event_scheduler.run_due()
    opened = {w["region"] for w in (await get(client, op, "carnival"))["windows"] if w["openedAt"]}
    assert opened == {"EU-EAST", "SA-EAST"}


async def test_an_open_window_keeps_its_start_and_one_moved_into_the_past_closes_at_once(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await add_region(client, op)
    await create(client, op, "carnival", regions=["SA-EAST"])
    clock.set(datetime(2027, 2, 10, 3, tzinfo=UTC))
    await container.event_scheduler.run_due()
    assert (await get(client, op, "carnival"))["status"] == "Active"
    assert (await set_zone(client, op, "America/Manaus")).status_code == 200
    live = await get(client, op, "carnival")
    assert windows(live)["SA-EAST"] == ("2027-02-10T03:00:00Z", "2027-02-12T04:00:00Z")  # opened at 03:00
    # Two days later, near the end, a zone far to the east ends the window in the past.
    clock.set(datetime(2027, 2, 12, 1, tzinfo=UTC))
    assert (await set_zone(client, op, "Asia/Tokyo")).status_code == 200
    assert windows(await get(client, op, "carnival"))["SA-EAST"][1] == "2027-02-11T15:00:00Z"
    await container.event_scheduler.run_due()  # its close is overdue: the scheduler runs it at once
    assert (await get(client, op, "carnival"))["status"] == "Expired"


async def test_a_deployment_waiting_for_the_event_follows_the_new_clock(client: httpx.AsyncClient, op: Headers) -> None:
    await add_region(client, op)
    await create(client, op, "carnival", regions=["SA-EAST"], environment="Staging")
    body = {"eventId": "carnival", "rolloutStrategy": "Canary", "targetPlayerPercentage": 10}
    r = await client.post("/api/v1/deployments", headers=op, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["steps"][0]["plannedAt"] == "2027-02-10T03:00:00Z"
    assert (await set_zone(client, op, "America/Manaus")).status_code == 200
    r = await client.get(f"/api/v1/deployments/{r.json()['id']}", headers=op)
    assert r.json()["steps"][0]["plannedAt"] == "2027-02-10T04:00:00Z"


async def test_an_edit_and_a_zone_change_at_once_both_land(client: httpx.AsyncClient, op: Headers) -> None:
    """The edit adds the region being changed: it holds the regions before its event row, so it
    plans on the zone committed when it commits, or the zone change finds it and re-plans it."""
    await add_region(client, op)
    await create(client, op, "carnival", regions=["EU-EAST"])
    edit = client.put("/api/v1/events/carnival", headers=op, json={"regions": ["EU-EAST", "SA-EAST"]})
    edited, zoned = await asyncio.gather(edit, set_zone(client, op, "America/Manaus"))
    assert (edited.status_code, zoned.status_code) == (200, 200), (edited.text, zoned.text)
    assert windows(await get(client, op, "carnival"))["SA-EAST"] == ("2027-02-10T04:00:00Z", "2027-02-12T04:00:00Z")


async def test_a_create_and_a_zone_change_at_once_plan_on_the_same_clock(
    client: httpx.AsyncClient, op: Headers
) -> None:
    """A create waits for a region write under way (or holds it off), so the event it stores is
    planned on the zone that is committed when it commits, or re-planned by the zone change."""
    await add_region(client, op)
    _, zoned = await asyncio.gather(
        create(client, op, "carnival", regions=["SA-EAST"]), set_zone(client, op, "America/Manaus")
    )
    assert zoned.status_code == 200, zoned.text
    assert windows(await get(client, op, "carnival"))["SA-EAST"] == ("2027-02-10T04:00:00Z", "2027-02-12T04:00:00Z")


async def test_a_zone_change_keeps_an_early_start_and_a_closed_window_closed(
    client: httpx.AsyncClient, op: Headers, container: Container, clock: ManualClock
) -> None:
    await add_region(client, op)
    await create(client, op, "carnival")
    clock.set(datetime(2027, 2, 1, tzinfo=UTC))
    assert (await client.post("/api/v1/events/carnival/activate", headers=op)).status_code == 200
    clock.set(datetime(2027, 2, 12, 0, 30, tzinfo=UTC))  # Berlin's window has closed (23:00), not São Paulo's
    await container.event_scheduler.run_due()
    before = await get(client, op, "carnival")
    assert [w["region"] for w in before["windows"] if w["closedAt"]] == ["EU-EAST"]
    eu = {"displayName": "Europe East", "timeZone": "America/New_York", "rolloutOrder": 4, "aliases": []}
    assert (await client.put("/api/v1/regions/EU-EAST", headers=op, json=eu)).status_code == 200
    after = await get(client, op, "carnival")
    assert after["startTime"] == "2027-02-01T00:00:00Z"  # the early activation, not the planned start
    # On New York's clock Berlin's window would end at 05:00: it stays closed, as it was.
    assert windows(after)["EU-EAST"] == windows(before)["EU-EAST"]
    assert [w["region"] for w in after["windows"] if w["closedAt"]] == ["EU-EAST"]


async def test_a_zone_change_that_an_event_cannot_be_planned_on_is_409_naming_it(
    client: httpx.AsyncClient, op: Headers
) -> None:
    await add_region(client, op)
    await create(
        client, op, "flash", regions=["SA-EAST"], startTime="2027-03-14T02:30:00", endTime="2027-03-14T03:00:00"
    )
    refused = problem(await set_zone(client, op, "America/New_York"), 409)  # 02:30 to 03:00 is skipped there
    assert refused["events"] == ["flash"]
    r = await client.get("/api/v1/regions/SA-EAST", headers=op)
    assert r.json()["timeZone"] == "America/Sao_Paulo"
