"""The event calendar's pages over HTTP: by start then id, a cursor to read on, bad cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hotswap.core.clock import ManualClock
from hotswap.core.pagination import encode_cursor
from tests.helpers import Auth, Headers, fields, problem

WINDOW = {"from": "2027-03-01T00:00:00Z", "to": "2027-04-01T00:00:00Z"}


@pytest.fixture
async def op(auth: Auth, clock: ManualClock) -> Headers:
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    return await auth("operator", "olivia", ttl=timedelta(days=800))


async def add(client: httpx.AsyncClient, op: Headers, event_id: str, day: int, **extra: object) -> None:
    body = {
        "eventId": event_id,
        "displayName": event_id,
        "startTime": f"2027-03-{day:02d}T00:00:00Z",
        "endTime": f"2027-03-{day + 1:02d}T00:00:00Z",
        "eventClass": "mini",
        "configuration": {},
        **extra,
    }
    r = await client.post("/api/v1/events", headers=op, json=body)
    assert r.status_code == 201, r.text


async def test_the_calendar_reads_on_with_its_cursor(client: httpx.AsyncClient, op: Headers) -> None:
    # Two on the same day (ordered by id there), one later, one outside the asked span.
    for event_id, day in (("b-quiz", 10), ("a-raid", 10), ("c-hunt", 12), ("later", 28)):
        await add(client, op, event_id, day)
    await add(client, op, "elsewhere", 11, regions=["EU-WEST"])
    seen: list[str] = []
    params: dict[str, str | int] = {**WINDOW, "to": "2027-03-20T00:00:00Z", "limit": 2, "region": "NA-EAST"}
    pages = 0
    while True:
        r = await client.get("/api/v1/events/calendar", headers=op, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [e["eventId"] for e in body["events"]]
        pages += 1
        if body["nextCursor"] is None:
            break
        params["cursor"] = body["nextCursor"]
    # "elsewhere" is read (it fills a page) but left out: it is not in NA-EAST.
    assert seen == ["a-raid", "b-quiz", "c-hunt"]
    assert pages == 2
    everything = await client.get("/api/v1/events/calendar", headers=op, params=WINDOW)
    assert [e["eventId"] for e in everything.json()["events"]] == ["a-raid", "b-quiz", "elsewhere", "c-hunt", "later"]
    assert everything.json()["nextCursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        encode_cursor({"start": "2027-03-10T00:00:00", "id": "a"}),  # no offset
        encode_cursor({"start": "x", "id": "a"}),
        encode_cursor({"start": "0001-01-01T00:00:00+14:00", "id": "a"}),  # before year 1 in UTC
        encode_cursor({"start": "2027-03-10T00:00:00Z", "id": 7}),
    ],
)
async def test_a_cursor_it_did_not_issue_is_422(client: httpx.AsyncClient, op: Headers, cursor: str) -> None:
    r = await client.get("/api/v1/events/calendar", headers=op, params={**WINDOW, "cursor": cursor})
    assert "query.cursor" in fields(problem(r, 422))
