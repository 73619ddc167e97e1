"""The snapshot stream over HTTP: first frame, deltas, resume, heartbeats, slow clients, shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import orjson
import pytest

from hotswap.container import Container
from hotswap.core.environments import Environment
from hotswap.delivery.stream import Publication, delta_frame, snapshot_frame
from hotswap.targeting.delta import apply_delta
from hotswap.targeting.snapshot import CompiledSnapshot
from tests.delivery.test_api import release, snapshot
from tests.helpers import Headers, fields, problem, wait_until
from tests.streaming import StreamingASGITransport

STREAM = "/api/v1/stream?environment=Staging"
STAGING = Environment.STAGING


@dataclass
class Event:
    kind: str
    id: int | None
    data: dict[str, Any]


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    kind, ident, data = "message", None, b""
    async for line in response.aiter_lines():
        if not line:
            yield Event(kind, ident, orjson.loads(data))
            kind, ident, data = "message", None, b""
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("data: "):
            data = line[6:].encode()


async def next_event(stream: AsyncIterator[Event]) -> Event:
    with anyio.fail_after(10):
        return await anext(stream)


@pytest.fixture
async def streaming(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = StreamingASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as c:
        yield c
    await transport.aclose()


async def test_a_client_gets_the_snapshot_then_each_change_as_a_delta(
    client: httpx.AsyncClient, streaming: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"price": 10})
    held = await snapshot(client, server)
    async with streaming.stream("GET", STREAM, headers=server) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        stream = events(response)
        first = await next_event(stream)
        assert (first.kind, first.id, first.data) == ("snapshot", held["revision"], held)
        await release(client, op, "shop", {"price": 12}, version="1.0.1", create=False)
        change = await next_event(stream)
        now = await snapshot(client, server)
        assert (change.kind, change.id) == ("delta", now["revision"])
        assert change.data["base"] == held["revision"]
        assert set(change.data["set"]["configs"]) == {"shop"}
        assert apply_delta(held, change.data) == now


async def test_a_client_resumes_from_its_last_event_id_without_missing_a_revision(
    client: httpx.AsyncClient, streaming: httpx.AsyncClient, container: Container, op: Headers, server: Headers
) -> None:
    container.streams.heartbeat_seconds = 3600  # a heartbeat must not be what arrives
    await release(client, op, "shop", {"price": 10})
    seen = await snapshot(client, server)
    await release(client, op, "pvp", {"maps": 3})  # while the client is away
    now = await snapshot(client, server)
    headers = {**server, "Last-Event-ID": str(seen["revision"])}
    async with streaming.stream("GET", STREAM, headers=headers) as response:
        catch_up = await next_event(events(response))
    assert (catch_up.kind, catch_up.id) == ("delta", now["revision"])
    assert apply_delta(seen, catch_up.data) == now


async def test_a_current_client_is_sent_nothing_but_a_heartbeat_until_the_next_change(
    client: httpx.AsyncClient, streaming: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    current = await snapshot(client, server)
    headers = {**server, "Last-Event-ID": str(current["revision"])}
    async with streaming.stream("GET", STREAM, headers=headers) as response:
        stream = events(response)
        hello = await next_event(stream)
        assert (hello.kind, hello.id, hello.data) == ("heartbeat", None, {"revision": current["revision"]})
        await release(client, op, "shop", {"price": 10})
        change = await next_event(stream)
    assert change.kind == "delta"
    assert apply_delta(current, change.data) == await snapshot(client, server)


@pytest.mark.parametrize("last", ["0", "999999999", "not-a-revision", "-3"])
async def test_an_unknown_last_event_id_gets_the_full_snapshot(
    client: httpx.AsyncClient, streaming: httpx.AsyncClient, server: Headers, last: str
) -> None:
    current = await snapshot(client, server)
    async with streaming.stream("GET", STREAM, headers={**server, "Last-Event-ID": last}) as response:
        first = await next_event(events(response))
    assert (first.kind, first.data) == ("snapshot", current)


async def test_heartbeats_come_when_nothing_else_is_sent(
    streaming: httpx.AsyncClient, container: Container, server: Headers
) -> None:
    container.streams.heartbeat_seconds = 0.01
    async with streaming.stream("GET", STREAM, headers=server) as response:
        stream = events(response)
        first = await next_event(stream)
        beats = [await next_event(stream) for _ in range(3)]
    assert [b.kind for b in beats] == ["heartbeat"] * 3
    assert {b.data["revision"] for b in beats} == {first.id}


async def test_a_client_that_stops_reading_is_disconnected_not_buffered(
    app: object, client: httpx.AsyncClient, container: Container, op: Headers, server: Headers
) -> None:
    container.streams.heartbeat_seconds = 3600
    container.streams.backlog = 2
    transport = StreamingASGITransport(app, max_buffered=1)  # the socket takes one frame, then blocks
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as slow,
        slow.stream("GET", STREAM, headers=server) as response,
    ):
        assert container.streams.clients(STAGING) == 1
        for i in range(6):  # never read: its frames pile up until it is cut off
            await release(client, op, f"c{i}", {"i": i})
        await wait_until(lambda: container.streams.clients(STAGING) == 0, "the slow client cut off")
        received = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert received.startswith(b"event: snapshot")  # what it had taken before it stopped reading
    assert container.metrics.stream_disconnects.labels("slow")._value.get() == 1
    await transport.aclose()


async def test_leaving_and_shutting_down_end_the_streams(
    streaming: httpx.AsyncClient, container: Container, server: Headers
) -> None:
    async with streaming.stream("GET", STREAM, headers=server) as response:
        await next_event(events(response))
        assert container.streams.clients(STAGING) == 1
    await wait_until(lambda: container.streams.clients(STAGING) == 0, "the stream to close")
    async with streaming.stream("GET", STREAM, headers=server) as response:
        stream = events(response)
        await next_event(stream)
        container.streams.shutdown()
        with anyio.fail_after(10):
            rest = [e async for e in stream]
    assert rest == []  # the response ended cleanly: the client reconnects, elsewhere
    assert container.metrics.stream_disconnects.labels("shutdown")._value.get() == 1


async def test_stream_errors_are_problems(client: httpx.AsyncClient, server: Headers) -> None:
    problem(await client.get(STREAM), 401)
    body = problem(await client.get("/api/v1/stream?environment=Nowhere", headers=server), 422)
    assert fields(body) == ["query.environment"]


# -- frames ------------------------------------------------------------------------------


def _compiled(revision: int, configs: dict[str, Any]) -> CompiledSnapshot:
    document = {"environment": "Staging", "revision": revision, "configs": configs, "segments": {}, "rollouts": []}
    return CompiledSnapshot(document)


def _config(value: Any) -> dict[str, Any]:
    return {"gameId": None, "rules": [], "type": "GameBalance", "value": value, "version": "1", "versionId": "v"}


def test_a_delta_is_sent_only_when_smaller_than_the_snapshot() -> None:
    many = {f"c{i}": _config({"n": i}) for i in range(20)}
    old = _compiled(1, many)
    one_changed = _compiled(2, {**many, "c3": _config({"n": -3})})
    frame = delta_frame(old.document, one_changed)
    assert frame is not None
    assert frame.startswith(b"event: delta\nid: 2\ndata: ")
    all_changed = _compiled(3, {f"d{i}": _config({"n": i}) for i in range(20)})
    assert delta_frame(one_changed.document, all_changed) is None


def test_a_publication_sends_the_delta_to_clients_at_its_base_and_the_snapshot_to_others() -> None:
    many = {f"c{i}": _config({"n": i}) for i in range(20)}
    old, new = _compiled(4, many), _compiled(5, {**many, "c1": _config({"n": 0})})
    delta = delta_frame(old.document, new)
    assert delta is not None
    publication = Publication(new, 4, delta)
    assert publication.frame_from(4) == delta
    assert publication.frame_from(3) == snapshot_frame(new)
    assert orjson.loads(snapshot_frame(new).split(b"data: ", 1)[1]) == new.document
